"""The setup from before integrations: the operator's two legacy apps."""

from __future__ import annotations

from typing import Any

import pytest

LEGACY_APP = "6e1c0a05-7d2b-4c3e-9f10-000000000a05"
LEGACY_USER_SYNC_APP = "6e1c0a06-7d2b-4c3e-9f10-000000000a06"


@pytest.fixture
def legacy_apps(settings: Any) -> dict[str, str]:
    """The operator's two legacy apps, configured (tests without the emulator use fixed ids)."""
    ids = {"LEGACY": LEGACY_APP, "LEGACY_USER_SYNC": LEGACY_USER_SYNC_APP}
    settings.MICROSOFT_APPS = {
        name: {**app, "client_id": ids.get(name, app["client_id"]), "client_secret": app["client_secret"] or "s"}
        for name, app in settings.MICROSOFT_APPS.items()
    }
    return ids
