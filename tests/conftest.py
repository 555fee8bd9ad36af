"""Shared fixtures: tenant isolation actors, the Microsoft 365 emulator, a real Celery worker, the browser."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client

from tests.factories import PASSWORD, AdminFactory, TenantFactory, UserFactory

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_configure(config: pytest.Config) -> None:
    if django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        pytest.exit("The suite runs on PostgreSQL: use `make test`, or set DATABASE_URL (see README).", 2)


def wait_until(
    condition: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.1, message: str = "condition"
) -> Any:
    """Poll `condition` until it returns something truthy; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


# --- tenant isolation actors: every view test uses these ------------------------------------------------


@pytest.fixture
def tenant_a(db):  # type: ignore[no-untyped-def]
    return TenantFactory(name="alpha", display_name="Alpha Print")


@pytest.fixture
def tenant_b(db):  # type: ignore[no-untyped-def]
    return TenantFactory(name="bravo", display_name="Bravo Print")


@pytest.fixture
def admin_a(tenant_a):  # type: ignore[no-untyped-def]
    return AdminFactory(tenant=tenant_a, email="admin@alpha.example")


@pytest.fixture
def admin_b(tenant_b):  # type: ignore[no-untyped-def]
    return AdminFactory(tenant=tenant_b, email="admin@bravo.example")


@pytest.fixture
def user_a(tenant_a):  # type: ignore[no-untyped-def]
    return UserFactory(tenant=tenant_a, email="user@alpha.example")


def _client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_a_client(admin_a) -> Client:  # type: ignore[no-untyped-def]
    return _client_for(admin_a)


@pytest.fixture
def admin_b_client(admin_b) -> Client:  # type: ignore[no-untyped-def]
    return _client_for(admin_b)


@pytest.fixture
def user_a_client(user_a) -> Client:  # type: ignore[no-untyped-def]
    return _client_for(user_a)


@pytest.fixture
def password() -> str:
    return PASSWORD


# --- the Microsoft 365 emulator ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def m365_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One emulator per test session on free ports, with the test seed."""
    from m365_emulator.testing import start_emulator

    state_dir = tmp_path_factory.mktemp("emulator")
    with start_emulator(ROOT / "m365_emulator" / "seeds" / "test.json", state_dir) as handle:
        yield handle


@pytest.fixture
def m365(m365_session: Any, settings: Any) -> Iterator[Any]:
    """The emulator, reset to its seed, with the portal's Microsoft settings pointed at it."""
    from m365_emulator.testing import portal_environment

    m365_session.control.reset()
    env = portal_environment(m365_session, ROOT / "m365_emulator" / "seeds" / "test.json")
    settings.MICROSOFT_AUTHORITY_HOST = env["MICROSOFT_AUTHORITY_HOST"]
    settings.MICROSOFT_GRAPH_URL = env["MICROSOFT_GRAPH_URL"]
    settings.MICROSOFT_CA_BUNDLE = env["MICROSOFT_CA_BUNDLE"]
    settings.TENANT_MAIL_ALLOWED_NETWORKS = env["TENANT_MAIL_ALLOWED_NETWORKS"].split(",")  # the emulator only
    for key in ("SMTP", "IMAP", "POP"):
        if f"MICROSOFT_{key}_HOST" in env:
            setattr(settings, f"MICROSOFT_{key}_HOST", env[f"MICROSOFT_{key}_HOST"])
            setattr(settings, f"MICROSOFT_{key}_PORT", int(env[f"MICROSOFT_{key}_PORT"]))
    settings.MICROSOFT_APPS = {
        name: {
            "client_id": env.get(f"MICROSOFT_APP_{name}_CLIENT_ID", ""),
            "client_secret": env.get(f"MICROSOFT_APP_{name}_CLIENT_SECRET", ""),
            "display_name": django_settings.MICROSOFT_APPS[name]["display_name"],
        }
        for name in django_settings.MICROSOFT_APP_NAMES
    }
    m365_session.portal_env = env
    yield m365_session


# --- a real Celery worker on the real broker ---------------------------------------------------------------


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class WorkerProcess:
    """A `celery -A config worker` child process that shares the test database and broker."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        *,
        name: str = "test",
        queues: tuple[str, ...] = (),
        concurrency: int = 2,
        include: tuple[str, ...] = (),
    ) -> None:
        self.env = env
        self.log_path = log_path
        self.name = name  # the node name is f"{name}-{pid}@host"
        self.queues = queues  # empty: every queue (config.celery.QUEUES), as `make run` does
        self.concurrency = concurrency
        self.include = include  # more task modules to load (tests' own tasks)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel=INFO",
                f"--concurrency={self.concurrency}",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"{self.name}-{os.getpid()}@%h",
                *(["-Q", ",".join(self.queues)] if self.queues else []),
                *(["--include", ",".join(self.include)] if self.include else []),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(lambda: b"ready." in self.log_path.read_bytes(), timeout=60, message="the Celery worker")

    def kill(self) -> None:
        """Kill the worker and its pool at once, as a crash would: no warm shutdown."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def celery_worker_env(transactional_db: Any, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    portal_env = request.getfixturevalue("m365").portal_env if "m365" in request.fixturenames else {}
    env = {
        **os.environ,
        **portal_env,
        "DATABASE_URL": _database_url(),
        "MEDIA_ROOT": str(django_settings.MEDIA_ROOT),
        "VAR_DIR": str(tmp_path / "worker-var"),
        "FERNET_KEYS": ",".join(django_settings.FERNET_KEYS),
        "SECRET_KEY": django_settings.SECRET_KEY,
        "DEBUG": "true",
    }
    env.pop("TEST_DATABASE_NAME", None)
    return env


@pytest.fixture
def celery_worker(celery_worker_env: dict[str, str], tmp_path: Path) -> Iterator[WorkerProcess]:
    """A real worker process; tests using it need committed data (transactional_db)."""
    if not django_settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.fail("The worker tests need Redis: set REDIS_URL (make test does).")
    from config.celery import app

    app.control.purge()  # tasks an earlier test left in the queues never run in this one
    worker = WorkerProcess(celery_worker_env, tmp_path / "worker.log")
    worker.start()
    yield worker
    worker.stop()


# --- the browser ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


# --- abuse limits ----------------------------------------------------------------------------------------------


def throttle_windows_age(seconds: float) -> None:
    """Move every counted attempt and sign-in failure `seconds` into the past, as if that time had gone by."""
    from throttling.models import ThrottleWindow

    for window in ThrottleWindow.objects.all():
        window.hits = [hit - seconds for hit in window.hits]
        window.save(update_fields=["hits"])
