"""Other ways to sign in that apps above accounts offer on a tenancy's sign-in page (Login with Microsoft), and what
they offer at sign-out, without accounts importing them: they register here in their AppConfig.ready().

    sign_in_option_register(SignInOption(template_name="app/partials/button.html", context_for=...))
    sign_out_offer_register(lambda request: ("Sign out of Microsoft too", url) or None)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest


@dataclass(frozen=True)
class SignInOption:
    """Rendered inside the tenancy's sign-in form (buttons with their own `formaction`). `context_for(tenancy)`:
    the template's context, or None when the tenancy does not offer it."""

    template_name: str
    context_for: Callable[[str], dict[str, Any] | None]


@dataclass(frozen=True)
class RenderedOption:
    template_name: str
    context: dict[str, Any]


# Read before the portal's session ends: (label, url) of a further sign-out, or None.
SignOutOffer = Callable[[HttpRequest], tuple[str, str] | None]

_options: list[SignInOption] = []
_sign_out_offers: list[SignOutOffer] = []


def sign_in_option_register(option: SignInOption) -> None:
    _options.append(option)


def sign_in_options_for(tenancy: str) -> list[RenderedOption]:
    rendered = []
    for option in _options:
        context = option.context_for(tenancy)
        if context is not None:
            rendered.append(RenderedOption(option.template_name, context))
    return rendered


def sign_out_offer_register(offer: SignOutOffer) -> None:
    _sign_out_offers.append(offer)


def sign_out_offers(request: HttpRequest) -> list[tuple[str, str]]:
    return [offered for offer in _sign_out_offers if (offered := offer(request)) is not None]
