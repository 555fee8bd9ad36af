"""The dashboard's "Needs attention": what needs a tenant admin, collected from every feature as `Health`.

Each feature registers, in its AppConfig.ready(), a provider that gives the health of its things in a Roger
tenant (with `Health.about(...)` saying what each is); the dashboard lists those that need attention (a
person must act, or it has been retrying for a day), errors first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from health import Health
from ui.choices import Severity

if TYPE_CHECKING:
    from accounts.models import Tenant

__all__ = ["AttentionProvider", "attention_for", "attention_provider_register"]

AttentionProvider = Callable[["Tenant"], Iterable[Health]]

_providers: dict[str, AttentionProvider] = {}


def attention_provider_register(name: str, provider: AttentionProvider) -> None:
    """Register (or replace, e.g. on autoreload) the provider of that name."""
    _providers[name] = provider


def attention_for(*, tenant: Tenant) -> list[Health]:
    """What needs the tenant's admins, errors first."""
    items = [health for _, provider in sorted(_providers.items()) for health in provider(tenant)]
    wanted = [health for health in items if health.needs_attention()]
    return sorted(wanted, key=lambda health: health.level != Severity.ERROR)
