from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import tenant_admin_required
from audit.selectors import audit_event_list


@tenant_admin_required
def audit_log(request: HttpRequest) -> HttpResponse:
    page = Paginator(audit_event_list(tenant=request.tenant), 50).get_page(request.GET.get("page"))  # type: ignore[attr-defined]
    return render(request, "audit/audit_log.html", {"page": page})
