from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class CurrentTenantMiddleware:
    """Puts the signed-in user's Roger tenant on `request.tenant` (None for the operator and anonymous)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        request.tenant = getattr(user, "tenant", None) if user is not None and user.is_authenticated else None  # type: ignore[attr-defined]
        return self.get_response(request)
