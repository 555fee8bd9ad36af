from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render

from accounts.permissions import tenant_admin_required
from accounts.requests import TenantRequest
from integrations.legacy import selectors


@tenant_admin_required
def legacy_switch(request: TenantRequest, pk: int, switch_pk: int) -> HttpResponse:
    """What leaving the legacy app deleted, and who must reconnect (and who did)."""
    tenant = request.tenant
    switch = selectors.legacy_switch_get(tenant=tenant, integration_pk=pk, pk=switch_pk)
    users = selectors.legacy_switch_users(switch)
    return render(request, "integrations/legacy_switch.html", {"switch": switch, "users": users})
