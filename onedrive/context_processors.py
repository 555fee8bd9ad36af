from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from onedrive.selectors import reconnect_needed


def onedrive(request: HttpRequest) -> dict[str, Any]:
    """Whether the signed-in user's OneDrive connection needs them (the banner with Reconnect)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or getattr(user, "tenant_id", None) is None:
        return {}
    return {"onedrive_reconnect_needed": reconnect_needed(user=user)}
