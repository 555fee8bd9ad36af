"""Every template of the portal leaves styling to static/css/portal.css: no style attributes, no <style> blocks, and
no <link> outside the page's head (base.html's <head>, or a template's {% block head %})."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.template import engines

ROOT = Path(__file__).resolve().parents[2]
HEAD = re.compile(r"<head>.*?</head>|{%\s*block head\s*%}.*?{%\s*endblock", re.S | re.I)
STYLE_ATTRIBUTE = re.compile(r"""\sstyle\s*=\s*["'{]""", re.I)


def portal_templates() -> list[Path]:
    """The templates Django finds in the project's own directories (not Django's or a library's)."""
    found = set()
    for directory in engines["django"].template_dirs:
        directory = Path(directory).resolve()
        # A virtualenv inside the checkout (as `make test` creates it) holds Django's own templates: not ours.
        if ROOT in directory.parents and not {"m365_emulator", ".venv", "site-packages"} & set(directory.parts):
            found.update(directory.rglob("*.html"))
    return sorted(found)


def styling_problems(source: str) -> list[str]:
    problems = []
    if STYLE_ATTRIBUTE.search(source):
        problems.append("a style attribute")
    if re.search(r"<style[\s>]", source, re.I):
        problems.append("a <style> block")
    if re.search(r"<link[\s>]", HEAD.sub("", source), re.I):
        problems.append("a <link> outside the head")
    return problems


def test_the_scan_finds_the_templates_of_every_app() -> None:
    names = {path.relative_to(ROOT).parts[0] for path in portal_templates()}
    assert {"templates", "ui", "accounts", "integrations", "external_systems", "outgoing_mail", "mail_jobs"} <= names


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ('<p style="margin:0">x</p>', "a style attribute"),
        ("<div STYLE = 'x'>", "a style attribute"),
        ("<style>.x { }</style>", "a <style> block"),
        ('{% block content %}<link rel="stylesheet" href="x.css">{% endblock %}', "a <link> outside the head"),
    ],
)
def test_the_scan_sees_styling_in_a_template(source: str, problem: str) -> None:
    assert styling_problems(source) == [problem]


def test_links_in_the_head_and_the_word_style_in_text_are_fine() -> None:
    head = '<head><link rel="stylesheet" href="a.css"></head>'
    source = head + '{% block head %}<link rel="icon" href="i.png">{% endblock %}'
    assert styling_problems(source + "<p>The style of a mail server: data-style is fine.</p>") == []


def test_badges_come_from_the_badge_tag_only() -> None:
    written = [
        str(path.relative_to(ROOT))
        for path in portal_templates()
        if re.search(r"""class=["'][^"']*\bbadge\b|css_class""", path.read_text(encoding="utf-8"))
    ]
    assert written == []


def test_no_template_carries_styling() -> None:
    problems = {
        str(path.relative_to(ROOT)): found
        for path in portal_templates()
        if (found := styling_problems(path.read_text(encoding="utf-8")))
    }
    assert problems == {}
