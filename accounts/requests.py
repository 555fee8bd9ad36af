"""Typed requests for views: what the portal's middleware puts on a request, so views need no `type: ignore`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails

    from accounts.models import Tenant, User

__all__ = ["TenantRequest"]


class TenantRequest(HttpRequest):
    """A request that passed `tenant_member_required` (or `tenant_admin_required`): a signed-in user of a Roger
    tenant, that tenant (accounts.middleware.CurrentTenantMiddleware) and htmx's details (django-htmx).

    Typing only: annotate a view's `request` with it; the request context (operations.context) holds the actor
    and the client address for the audit trail.
    """

    user: User  # narrower than HttpRequest's: the guard lets only tenant users in
    tenant: Tenant
    htmx: HtmxDetails
