from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import tenant_admin_required


@tenant_admin_required
def network_settings(request: HttpRequest) -> HttpResponse:
    return render(request, "outgoing_mail/network.html", {})
