"""What needs a tenant admin's attention, collected from every feature for the dashboard."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest
from django.utils.module_loading import import_string

# Each provider takes the request and returns items {"level": ui.choices.Severity, "text": ..., "url": ...}.
ATTENTION_PROVIDERS: list[str] = ["integrations.attention.integration_attention"]

AttentionProvider = Callable[[HttpRequest], list[dict[str, str]]]


def attention_items(request: HttpRequest) -> list[dict[str, str]]:
    if not getattr(request.user, "is_tenant_admin", False):
        return []
    items: list[dict[str, str]] = []
    for dotted in ATTENTION_PROVIDERS:
        provider: AttentionProvider = import_string(dotted)
        items.extend(provider(request))
    return items
