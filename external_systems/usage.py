"""What uses an external system, so the admin sees it before deleting or re-pointing the system.

Apps that build on external systems (outgoing mail, Jobs via Email) register a provider in their
AppConfig.ready(): `usage_provider_register(lambda system: ["Outgoing SMTP server (Settings > Network)"])`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from external_systems.models import ExternalSystem

__all__ = ["UsageProvider", "system_usages", "usage_provider_register"]

logger = logging.getLogger(__name__)

UsageProvider = Callable[["ExternalSystem"], list[str]]

_providers: list[UsageProvider] = []


def usage_provider_register(provider: UsageProvider) -> UsageProvider:
    """Add a provider returning human descriptions of what uses a system (empty list: nothing)."""
    if provider not in _providers:
        _providers.append(provider)
    return provider


def usage_provider_unregister(provider: UsageProvider) -> None:
    if provider in _providers:
        _providers.remove(provider)


def system_usages(system: ExternalSystem) -> list[str]:
    usages: list[str] = []
    for provider in _providers:
        usages.extend(provider(system))
    return usages
