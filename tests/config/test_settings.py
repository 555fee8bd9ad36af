"""Production settings refuse to start without their secrets, and pass Django's deployment checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 60 + "productionsecret",
    "ALLOWED_HOSTS": "portal.example",
    "FERNET_KEYS": "c3VwZXItc2VjcmV0LWtleS1mb3ItdGVzdHMtb25seQ==",
    "DATABASE_URL": "sqlite:////tmp/x.db",
}


def run_manage(env_overrides: dict[str, str], *args: str, drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTEST_CURRENT_TEST", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(env_overrides)
    for key in drop:
        env.pop(key, None)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_refuses_to_start_without_fernet_keys(tmp_path):
    result = run_manage({**PRODUCTION, "VAR_DIR": str(tmp_path)}, "check", drop=("FERNET_KEYS",))
    assert result.returncode != 0 and "FERNET_KEYS is not set" in result.stderr


def test_production_refuses_to_start_without_secret_key(tmp_path):
    result = run_manage({**PRODUCTION, "VAR_DIR": str(tmp_path)}, "check", drop=("SECRET_KEY",))
    assert result.returncode != 0 and "SECRET_KEY is not set" in result.stderr


def test_deploy_check_is_clean_and_no_migration_is_missing(tmp_path):
    env = {**PRODUCTION, "VAR_DIR": str(tmp_path)}
    deploy = run_manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    migrations = run_manage(env, "makemigrations", "--check", "--dry-run")
    assert migrations.returncode == 0, migrations.stdout + migrations.stderr
