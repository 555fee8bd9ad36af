from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import tenant_member_required
from health.attention import attention_for

if TYPE_CHECKING:
    from accounts.models import User


@tenant_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The dashboard: for a tenant admin, what needs attention across every feature."""
    user = cast("User", request.user)
    attention = attention_for(tenant=user.tenant) if user.is_tenant_admin and user.tenant else []
    return render(request, "health/dashboard.html", {"attention": attention})
