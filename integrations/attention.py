"""The dashboard's "Needs attention" from Microsoft integrations (see health.attention)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from health import Health
from integrations.selectors import integration_problems

if TYPE_CHECKING:
    from accounts.models import Tenant


def integration_attention(tenant: Tenant) -> Iterable[Health]:
    return [problem.health for problem in integration_problems(tenant=tenant)]
