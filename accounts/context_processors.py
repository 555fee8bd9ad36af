from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def portal(request: HttpRequest) -> dict[str, Any]:
    tenant = getattr(request, "tenant", None)
    user = getattr(request, "user", None)
    return {
        "current_tenant": tenant,
        "is_tenant_admin": bool(user is not None and user.is_authenticated and getattr(user, "is_tenant_admin", False)),
    }
