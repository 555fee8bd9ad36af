"""The operator's page in Django admin: the /healthz facts, each queue's length and its oldest waiting task."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse

from operations.health import health_report
from operations.models import Heartbeat
from operations.queues import queue_states


@admin.register(Heartbeat)
class HealthAndQueuesAdmin(admin.ModelAdmin):
    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "Health and queues",
            "opts": self.model._meta,
            "report": health_report(),
            "queues": queue_states(),
            "heartbeats": Heartbeat.objects.all(),
        }
        return TemplateResponse(request, "admin/operations/health_and_queues.html", context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
