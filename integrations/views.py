from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import tenant_admin_required, tenant_member_required


@tenant_admin_required
def integration_list(request: HttpRequest) -> HttpResponse:
    return render(request, "integrations/integration_list.html", {})


@tenant_admin_required
def user_sync(request: HttpRequest) -> HttpResponse:
    return render(request, "integrations/user_sync.html", {})


@tenant_member_required
def cloud_services(request: HttpRequest) -> HttpResponse:
    return render(request, "integrations/cloud_services.html", {})
