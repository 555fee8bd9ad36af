"""Binding a round trip through Microsoft to the browser that started it.

A sign-in or consent link is otherwise a bearer link: whoever finishes it binds their Microsoft account or
directory to the flow. So each flow gets a random key, kept in a cookie of the browser that starts it (HttpOnly,
SameSite=Lax, Secure in production) and stored only as a hash on the flow row; the answer is accepted only when
that browser presents the key again. Microsoft's answer comes as a cross-site form_post, which carries no Lax
cookie, so the callback only records it and sends the browser to a same-site GET finish step, which does carry
it: the key is checked there, in constant time, before any code is redeemed or anything saved.

The browser that delivered the answer also gets a one-time answer key (in the finish URL), so the starter of a
flow cannot collect someone else's answer by polling the finish step.

Nothing here needs a signed-in user: an anonymous start (Login with Microsoft) binds the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse

COOKIE_PREFIX = "roger_flow_"


@dataclass(frozen=True)
class FlowStart:
    """Where to send the browser, and the key its cookie must carry for this flow (`state`)."""

    url: str
    state: str
    browser_key: str = field(repr=False)


def key_new() -> tuple[str, str]:
    """A fresh random key and the hash to store."""
    key = secrets.token_urlsafe(32)
    return key, key_hash(key)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_matches(presented: str, stored_hash: str) -> bool:
    """Constant-time comparison; an empty key or hash never matches."""
    if not presented or not stored_hash:
        return False
    return hmac.compare_digest(key_hash(presented), stored_hash)


def cookie_name(state: str) -> str:
    # One cookie per flow: two flows started in two tabs do not overwrite each other's key.
    return COOKIE_PREFIX + hashlib.sha256(state.encode()).hexdigest()[:16]


def browser_cookie_set(response: HttpResponse, start: FlowStart, lifetime: timedelta) -> HttpResponse:
    response.set_cookie(
        cookie_name(start.state),
        start.browser_key,
        max_age=int(lifetime.total_seconds()),
        path="/",
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


def browser_key_of(request: HttpRequest, state: str) -> str:
    return request.COOKIES.get(cookie_name(state), "") if state else ""


def browser_cookie_delete(response: HttpResponse, state: str) -> HttpResponse:
    if state:
        response.delete_cookie(cookie_name(state), path="/", samesite="Lax")
    return response
