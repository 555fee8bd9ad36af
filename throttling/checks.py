"""A rate that does not parse is found when the portal starts, not when somebody hits the limit."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from throttling.rates import Rate


@checks.register(checks.Tags.security)
def throttle_settings_check(**kwargs: Any) -> list[checks.CheckMessage]:
    problems: list[checks.CheckMessage] = []
    for name, text in settings.THROTTLE_RATES.items():
        try:
            Rate.parse(text)
        except ValueError as exc:
            problems.append(checks.Error(f"THROTTLE_RATES[{name!r}]: {exc}", id="throttling.E001"))
    if int(settings.TRUSTED_PROXY_COUNT) < 0:
        problems.append(checks.Error("TRUSTED_PROXY_COUNT must be 0 or more.", id="throttling.E002"))
    return problems
