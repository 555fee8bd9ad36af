"""The kinds of external system the portal can connect. A new kind is one module listed in BUILTIN_TYPE_MODULES.

Each module calls `system_type_register(SystemType(...))` when imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import import_module

__all__ = ["BUILTIN_TYPE_MODULES", "SystemType", "system_type", "system_type_register", "system_types"]

BUILTIN_TYPE_MODULES = ("external_systems.types.exchange_online",)


@dataclass(frozen=True)
class SystemType:
    """What the Add menu offers and what connecting a system of this kind needs."""

    key: str
    label: str
    description: str
    scopes: tuple[str, ...]
    setup_template: str  # the set-up the admin does on the other side, shown beside the form
    setup_context: Mapping[str, str] = field(default_factory=dict)  # values that template shows


_types: dict[str, SystemType] = {}


def system_type_register(system_type: SystemType) -> SystemType:
    _types[system_type.key] = system_type
    return system_type


def system_types() -> list[SystemType]:
    _load_builtin_types()
    return sorted(_types.values(), key=lambda t: t.label)


def system_type(key: str) -> SystemType | None:
    _load_builtin_types()
    return _types.get(key)


def _load_builtin_types() -> None:
    for module in BUILTIN_TYPE_MODULES:
        import_module(module)
