"""Live fragments (ui.live): 204 when the client shows the current version, 286 with the fragment once the state is
final, the fragment with its new version when it changed; polling attributes only while the state is pending."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory

from ui.live import Live, live_response

FRAGMENT = "tests/fragment.html"


@pytest.fixture(autouse=True)
def fragment_template(settings: Any) -> None:
    engine = {**settings.TEMPLATES[0], "APP_DIRS": False}
    engine["OPTIONS"] = {
        **engine["OPTIONS"],
        "loaders": [
            ("django.template.loaders.locmem.Loader", {FRAGMENT: "<p>The job is {{ state }}.</p>"}),
            "django.template.loaders.filesystem.Loader",
            "django.template.loaders.app_directories.Loader",
        ],
    }
    settings.TEMPLATES = [engine]


def live(version: str, *, final: bool = False) -> Live:
    return Live(element_id="job", template=FRAGMENT, url="/jobs/7/status/", version=version, final=final)


def answer(live: Live, state: str, **query: str) -> Any:
    return live_response(RequestFactory().get("/jobs/7/status/", query), live, {"state": state})


def test_the_first_render_polls_with_the_version_it_shows() -> None:
    response = answer(live("queued:0"), "queued")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.startswith('<div id="job" hx-get="/jobs/7/status/?v=queued%3A0" hx-trigger="every 2s"')
    assert "<p>The job is queued.</p>" in html


def test_a_poll_of_an_unchanged_state_is_answered_204_without_a_body() -> None:
    response = answer(live("queued:0"), "queued", v="queued:0")
    assert response.status_code == 204 and response.content == b""


def test_a_poll_of_a_changed_pending_state_gets_the_fragment_with_its_new_version() -> None:
    response = answer(live("sending:1"), "sending", v="queued:0")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'hx-get="/jobs/7/status/?v=sending%3A1"' in html and "<p>The job is sending.</p>" in html


def test_a_poll_that_finds_the_state_final_gets_286_and_a_fragment_that_polls_no_more() -> None:
    response = answer(live("sent:1", final=True), "sent", v="sending:1")
    html = response.content.decode()
    assert response.status_code == 286  # htmx swaps it in and stops polling
    assert html.startswith('<div id="job">') and "hx-get" not in html and "<p>The job is sent.</p>" in html


def test_a_final_state_rendered_without_a_poll_is_a_plain_200() -> None:
    response = answer(live("sent:1", final=True), "sent")
    assert response.status_code == 200 and "hx-trigger" not in response.content.decode()
