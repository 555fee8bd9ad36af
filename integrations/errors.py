"""Errors the integration services raise, each with a message an admin can act on."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from integrations.models import Feature


class IntegrationError(Exception):
    """Something the admin must fix; `message` says what and how. Nothing was saved."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        self.message = message
        self.code = code  # the AADSTS code when Microsoft refused, to point at the field to fix
        super().__init__(message)


class RuleViolation(IntegrationError):
    """Another integration of this Roger tenant already has this feature enabled for the directory."""


class ConsentMissing(IntegrationError):
    """The feature needs admin consent before it can be enabled."""

    def __init__(self, feature: Feature) -> None:
        self.feature = feature
        super().__init__(f"{feature.spec.label} needs consent in the Microsoft directory before it can be enabled.")


class FlowRefused(IntegrationError):
    """A callback whose state is unknown, used, expired or another admin's: nothing was changed."""


class ForeignBrowser(FlowRefused):
    """Microsoft's answer reached a browser that did not start its flow: refused, and the flow is spent."""

    def __init__(self) -> None:
        super().__init__(
            "Microsoft's answer reached a different browser from the one that started this request, so Roger "
            "ignored it: nothing was changed or connected, and the request cannot be used again."
        )


class SignInRequired(FlowRefused):
    """The browser that started the flow is back, but not signed in to the portal any more."""

    def __init__(self) -> None:
        super().__init__("Sign in to Roger to finish what you started.")
