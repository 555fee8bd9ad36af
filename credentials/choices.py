from django.db import models

from ui.choices import BadgeChoices, Colour


class CredentialKind(models.TextChoices):
    """How a credential is refreshed."""

    DELEGATED_CONFIDENTIAL = "delegated_confidential", "Delegated (app with a secret)"
    DELEGATED_PUBLIC = "delegated_public", "Delegated (public client, no secret)"
    APP_ONLY = "app_only", "App-only (client credentials)"


class CredentialState(BadgeChoices):
    ACTIVE = "active", "Connected", Colour.OK
    REFRESHING = "refreshing", "Refreshing", Colour.INFO
    RETRYING = "retrying", "Retrying", Colour.WARN
    NEEDS_CONSENT = "needs_consent", "Needs consent", Colour.ERROR
    NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect", Colour.ERROR

    @classmethod
    def terminal(cls) -> frozenset[str]:
        """States only a person can leave (consent again, reconnect, fix the app, then refresh)."""
        return frozenset({cls.NEEDS_CONSENT, cls.NEEDS_RECONNECT})
