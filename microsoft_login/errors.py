from __future__ import annotations

from integrations.errors import IntegrationError
from microsoft_login.choices import Refusal


class SignInRefused(IntegrationError):
    """Nobody was signed in; `message` says why in plain words and what to do. `admin_url`: where a tenant admin
    fixes it (the integration's page, to grant consent), when an admin can."""

    def __init__(self, reason: Refusal, message: str, *, admin_url: str = "") -> None:
        self.reason = reason
        self.admin_url = admin_url
        super().__init__(message)
