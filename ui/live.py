"""Live fragments: a part of a page that follows a state kept in the database while that state is pending.

The fragment is rendered inside `ui/live.html`, which polls its own URL (with the version it shows, `?v=...`)
only while the state is not final. Each poll is answered by `live_response`:

- 204 when the version did not change: htmx keeps the fragment (and whatever the person is typing in it);
- 286 with the fragment when the state is final: htmx swaps it in and stops polling;
- 200 with the fragment otherwise.

Requests other than polls (the first render, a form posted from inside the fragment) are answered with the
fragment and 200. The version is a short string that changes whenever the fragment would look different.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_htmx.http import HTMX_STOP_POLLING

LIVE_TEMPLATE = "ui/live.html"
VERSION_PARAMETER = "v"


@dataclass(frozen=True)
class Live:
    """How one fragment stays current: `{% include "ui/live.html" with live=... %}` renders it."""

    element_id: str  # the fragment's id: forms inside it target it
    template: str  # what the fragment shows, rendered with the page's (or the response's) context
    url: str  # where it polls: a view answering with `live_response`
    version: str
    # The state will not change by itself any more: no polling. Decide it from the rows the fragment shows, not
    # from a query of its own: a worker may commit between the two, and a fragment showing work under way that is
    # final shows it until the page is reloaded.
    final: bool
    every_seconds: int = 2

    @property
    def poll_url(self) -> str:
        return f"{self.url}?{urlencode({VERSION_PARAMETER: self.version})}"


def version_of(*shown: object) -> str:
    """A version for a fragment made of several rows: a digest of what the fragment shows of them."""
    return hashlib.sha256(repr(shown).encode()).hexdigest()[:16]


def live_response(
    request: HttpRequest, live: Live, context: Mapping[str, Any] | None = None, *, status: int = 200
) -> HttpResponse:
    """Answer a request for a live fragment (a poll or not); see the module's docstring."""
    shown = request.GET.get(VERSION_PARAMETER)
    if shown is not None and shown == live.version:
        return HttpResponse(status=204)
    response = render(request, LIVE_TEMPLATE, {**(context or {}), "live": live}, status=status)
    if shown is not None and live.final:
        response.status_code = HTMX_STOP_POLLING
    return response
