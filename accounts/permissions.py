"""View guards. Object lookups go through tenant-scoped selectors, so another tenant's objects are 404."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase

View = Callable[..., HttpResponseBase]


def tenant_member_required(view: View) -> View:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if getattr(request.user, "tenant_id", None) is None:
            raise PermissionDenied("This page belongs to a Roger tenant; the operator uses Django admin.")
        return view(request, *args, **kwargs)

    return wrapper


def tenant_admin_required(view: View) -> View:
    @tenant_member_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_tenant_admin:  # type: ignore[union-attr]
            raise PermissionDenied("Only tenant admins can open this page.")
        return view(request, *args, **kwargs)

    return wrapper
