"""The demo runs on SQLite (`make run`): every page of a seeded tenant must render there too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def test_every_page_renders_on_the_demo_sqlite_database(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEST_DATABASE_NAME", "PYTEST_CURRENT_TEST"}
    }
    env.update({"DEBUG": "true", "VAR_DIR": str(tmp_path), "REDIS_URL": "", "CELERY_TASK_ALWAYS_EAGER": "false"})

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )

    for step in (("migrate", "--noinput"), ("seed_demo",), ("shell", "-c", VISIT)):
        result = manage(*step)
        assert result.returncode == 0, f"{step}: {result.stdout}\n{result.stderr}"
