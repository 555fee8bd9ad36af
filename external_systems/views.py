from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import tenant_admin_required


@tenant_admin_required
def system_list(request: HttpRequest) -> HttpResponse:
    return render(request, "external_systems/system_list.html", {})


@tenant_admin_required
def network_settings(request: HttpRequest) -> HttpResponse:
    return render(request, "external_systems/network.html", {})


@tenant_admin_required
def jobs_settings(request: HttpRequest) -> HttpResponse:
    return render(request, "external_systems/jobs_settings.html", {})
