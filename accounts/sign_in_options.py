"""Other ways to sign in that apps above accounts offer on a tenancy's sign-in page (Login with Microsoft), and what
they offer at sign-out, without accounts importing them: they register here in their AppConfig.ready().

    SIGN_IN_OPTIONS.register("app", "app/partials/button.html", context_for)
    sign_out_offer_register(lambda request: ("Sign out of Microsoft too", url) or None)
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest

from ui.slots import Slot

# Rendered inside the tenancy's sign-in form (buttons with their own `formaction`); given the tenancy's name.
SIGN_IN_OPTIONS: Slot[str] = Slot()

# Read before the portal's session ends: (label, url) of a further sign-out, or None.
SignOutOffer = Callable[[HttpRequest], tuple[str, str] | None]

_sign_out_offers: list[SignOutOffer] = []


def sign_out_offer_register(offer: SignOutOffer) -> None:
    _sign_out_offers.append(offer)


def sign_out_offers(request: HttpRequest) -> list[tuple[str, str]]:
    return [offered for offer in _sign_out_offers if (offered := offer(request)) is not None]
