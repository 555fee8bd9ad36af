"""The demo runs on SQLite (`make run`): every page of a seeded tenant must render there too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PAGES = [
    "/",
    "/jobs/",
    "/administration/integrations/",
    "/administration/integrations/add/",
    "/administration/integrations/add/microsoft/",
    "/my-settings/cloud-services/",
    "/administration/audit/",
    "/settings/external-systems/",
    "/settings/external-systems/add/exchange_online/",
    "/settings/network/",
    "/settings/jobs/",
]
VISIT = f"""
from django.test import Client
from accounts.models import User
from external_systems.models import DeviceCodeConnection, ExternalSystem
admin = User.objects.get(email="admin@contoso.example")
for title in ("First", "Second"):
    system = ExternalSystem.objects.create(tenant=admin.tenant, system_type="exchange_online", title=title,
                                           client_id="d3e4f5a6-1111-4b2c-8d3e-00000000e0e1")
    DeviceCodeConnection.objects.create(tenant=admin.tenant, system=system, status="declined")
client = Client(HTTP_HOST="127.0.0.1")
client.force_login(admin)
for path in {PAGES!r}:
    status = client.get(path).status_code
    print(path, status)
    assert status == 200, (path, status)
"""


def _demo_env(var_dir: Path) -> dict[str, str]:
    """The environment of `make run`: DEBUG, no DATABASE_URL (SQLite under VAR_DIR), no Redis."""
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEST_DATABASE_NAME", "PYTEST_CURRENT_TEST"}
    }
    env.update({"DEBUG": "true", "VAR_DIR": str(var_dir), "REDIS_URL": "", "CELERY_TASK_ALWAYS_EAGER": "false"})
    return env


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_every_page_renders_on_the_demo_sqlite_database(tmp_path: Path) -> None:
    env = _demo_env(tmp_path)
    for step in (("migrate", "--noinput"), ("seed_demo",), ("shell", "-c", VISIT)):
        result = _manage(env, *step)
        assert result.returncode == 0, f"{step}: {result.stdout}\n{result.stderr}"


SYNC = """
from accounts.models import User
from m365_emulator.testing import handle_from_state_dir
from tests.user_sync.conftest import CONTOSO, CONTOSO_ENABLED_MEMBERS, sync, sync_feature_enabled
from user_sync.services.runs import settings_for
admin = User.objects.get(email="admin@contoso.example")
from accounts.models import GroupMembership
from tests.user_sync.conftest import ADELE, COST_CENTERS_ROOT
handle = handle_from_state_dir({state_dir!r})
feature = sync_feature_enabled(handle, admin)
connector = settings_for(feature)
connector.sync_groups, connector.alias_formats = True, "%givenName%.%surname%"
connector.card_attribute = "extensionAttribute1"
connector.cost_center_mode, connector.cost_center_root_group_id = "root_group", COST_CENTERS_ROOT
connector.save()
run = sync(connector)
print(run.status, run.created, run.linked, run.error)
# The demo's own Adele is linked by her address, the others are created.
assert (run.status, run.created + run.linked) == ("succeeded", CONTOSO_ENABLED_MEMBERS), (run.status, run.error)
assert User.objects.filter(directory_tenant_id=CONTOSO, is_active=True).count() == CONTOSO_ENABLED_MEMBERS
assert GroupMembership.objects.filter(user__directory_tenant_id=CONTOSO).exists()
handle.control.update_user(CONTOSO, ADELE, displayName="Adele Vance-Smith")
again = sync(connector)
assert (again.status, again.updated) == ("succeeded", 1), (again.status, again.updated, again.error)
assert User.objects.get(directory_tenant_id=CONTOSO, email=ADELE).full_name == "Adele Vance-Smith"
"""


def test_a_user_synchronization_runs_on_the_demo_sqlite_database(m365: Any, tmp_path: Path) -> None:
    # The sync's statements are written for PostgreSQL first (arrays, unnest, per-turn settings); the demo's
    # SQLite takes the portable forms of each.
    env = _demo_env(tmp_path) | m365.portal_env
    script = SYNC.format(state_dir=str(m365.state_dir))
    for step in (("migrate", "--noinput"), ("seed_demo",), ("shell", "-c", script)):
        result = _manage(env, *step)
        assert result.returncode == 0, f"{step}: {result.stdout}\n{result.stderr}"
