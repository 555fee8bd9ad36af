"""/healthz: for load balancers and monitoring; no sign-in, no secrets, 200 when healthy and 503 otherwise."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from operations.health import health_report


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    report = health_report()
    return JsonResponse(report.as_json(), status=200 if report.ok else 503)
