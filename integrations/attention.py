"""The dashboard's "Needs attention" items from Microsoft integrations (see accounts.attention)."""

from __future__ import annotations

from typing import cast

from django.http import HttpRequest

from accounts.models import User
from integrations.selectors import integration_problems


def integration_attention(request: HttpRequest) -> list[dict[str, str]]:
    user = cast(User, request.user)
    if user.tenant is None:
        return []
    return [
        {"level": problem.level, "text": f"{problem.text} {problem.fix}", "url": problem.url}
        for problem in integration_problems(tenant=user.tenant)
    ]
