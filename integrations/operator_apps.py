"""The operator's own Entra apps, configured in settings.MICROSOFT_APPS by name: the split apps (LOGIN, USER_SYNC,
UNIVERSAL_PRINT, ONEDRIVE) and the two legacy apps (LEGACY, LEGACY_USER_SYNC). Their secrets stay in settings,
never in the database."""

from __future__ import annotations

from django.conf import settings

from microsoft.config import AppCredentials


def operator_app_credentials(name: str) -> AppCredentials:
    app = settings.MICROSOFT_APPS[name]
    return AppCredentials(client_id=str(app["client_id"]), client_secret=str(app["client_secret"]) or None)


def operator_app_name(name: str) -> str:
    """The name the app shows on Microsoft's sign-in and consent pages."""
    return str(settings.MICROSOFT_APPS[name]["display_name"])
