"""`{% url %}` and `ui.reversing.reverse_cached` give what Django's `reverse` gives, for every URL of the portal."""

from __future__ import annotations

import pytest
from django.template import Context, RequestContext, Template
from django.test import RequestFactory
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse, set_script_prefix
from django.urls.resolvers import RoutePattern
from django.utils.html import escape

from ui.reversing import reverse_cached


def names(resolver: URLResolver | None = None, namespace: str = "") -> list[tuple[str, list[str]]]:
    """(view name, its arguments' converter names) of every named URL of the portal written with path()."""
    found = []
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found += names(entry, inner)
        elif isinstance(entry, URLPattern) and entry.name and isinstance(entry.pattern, RoutePattern):
            converters = [type(c).__name__ for c in entry.pattern.converters.values()]
            found.append((namespace + entry.name, converters))
    return found


@pytest.mark.parametrize("ids", [(1, 2, 3), (0, 40, 918273645500000101), (7, 8, 9), (123456789, 5, 77)])
def test_every_url_of_the_portal_is_reversed_as_django_does(ids):
    checked = 0
    for name, converters in names():
        if converters and set(converters) != {"IntConverter"}:
            continue
        args = ids[: len(converters)]
        assert reverse_cached(name, args) == reverse(name, args=args), name
        assert reverse_cached(name, args, escaped=True) == escape(reverse(name, args=args)), name
        checked += 1
    assert checked > 50


def test_text_arguments_and_wrong_counts_go_through_django():
    assert reverse_cached("external_systems:add", ["exchange_online"]) == reverse(
        "external_systems:add", args=["exchange_online"]
    )
    assert reverse_cached("external_systems:detail", ["12"]) == reverse("external_systems:detail", args=["12"])
    with pytest.raises(NoReverseMatch):
        reverse_cached("external_systems:detail", [-1])
    with pytest.raises(NoReverseMatch):
        reverse_cached("external_systems:detail", [])
    with pytest.raises(NoReverseMatch):
        reverse_cached("no-such-page")


def test_the_script_prefix_is_part_of_the_url():
    before = reverse_cached("external_systems:detail", [5])
    set_script_prefix("/portal/")
    try:
        assert reverse_cached("external_systems:detail", [5]) == "/portal" + before
        assert reverse_cached("dashboard") == reverse("dashboard") == "/portal/"
    finally:
        set_script_prefix("/")
    assert reverse_cached("external_systems:detail", [5]) == before


def test_the_url_tag_writes_what_djangos_wrote():
    template = Template(
        "{% url 'external_systems:detail' pk %}|{% url 'external_systems:add' key %}|{% url 'dashboard' %}|"
        "{% url 'print_jobs:document' pk=pk %}|{% url 'external_systems:list' as where %}{{ where }}|"
        "{% url 'no-such-page' as nothing %}[{{ nothing }}]|"
        "{% autoescape off %}{% url 'dashboard' %}{% endautoescape %}"
    )
    request = RequestFactory().get("/")
    html = template.render(RequestContext(request, {"pk": 31, "key": "exchange_online"}))
    assert html == "|".join(
        [
            reverse("external_systems:detail", args=[31]),
            reverse("external_systems:add", args=["exchange_online"]),
            reverse("dashboard"),
            reverse("print_jobs:document", kwargs={"pk": 31}),
            reverse("external_systems:list"),
            "[]",
            reverse("dashboard"),
        ]
    )
    assert Template("{% url 'external_systems:detail' 4 %}").render(Context()) == reverse(
        "external_systems:detail", args=[4]
    )
