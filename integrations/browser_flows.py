"""Sending a browser to Microsoft for a flow (a sign-in, a consent, a connection), from any app's view: the
integrations' pages and the feature apps' buttons (Login with Microsoft, the Printer Administrator's sign-in)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from integrations import binding
from integrations.errors import IntegrationError
from integrations.services.flows import FLOW_LIFETIME


def flow_redirect(start: binding.FlowStart) -> HttpResponse:
    """Send the browser to Microsoft with the key that binds the flow to it (a cookie of its own)."""
    return binding.browser_cookie_set(HttpResponseRedirect(start.url), start, FLOW_LIFETIME)


def flow_started(request: HttpRequest, start: Callable[[], binding.FlowStart], *, back: HttpResponse) -> HttpResponse:
    """To Microsoft for the flow `start` begins, or `back` with the reason it cannot begin."""
    try:
        started = start()
    except IntegrationError as exc:
        messages.error(request, exc.message)
        return back
    return flow_redirect(started)
