"""The dashboard's "Needs attention" items from Universal Print (see accounts.attention)."""

from __future__ import annotations

from typing import cast

from django.http import HttpRequest
from django.urls import reverse

from accounts.models import User
from universal_print.selectors import universal_print_attention_items


def universal_print_attention(request: HttpRequest) -> list[dict[str, str]]:
    user = cast(User, request.user)
    if user.tenant is None:
        return []
    url = reverse("universal_print:page")
    return [
        {"level": item.level, "text": item.text, "url": url}
        for item in universal_print_attention_items(tenant=user.tenant)
    ]
