"""What the benchmarks that need PostgreSQL, Redis or Celery workers share.

`bash scripts/bench.sh NAME [SIZE...]` finds or starts PostgreSQL and Redis (as `make test` does) and runs
`bench/NAME.py`. Each run gets its own database (created here, dropped at the end) and its own broker prefix, so
it never touches a developer's data or another run. Figures are printed, then one `RESULT` line per figure.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "m365_emulator" / "seeds" / "test.json"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def result(name: str, value: float | int, unit: str, target: float | int | str) -> str:
    """The one machine-readable line of a figure: `RESULT <name> <value> <unit> target <target>`."""
    shown = f"{value:.3g}" if isinstance(value, float) and abs(value) < 100 else f"{value:.0f}"
    line = f"RESULT {name} {shown} {unit} target {target}"
    print(line, flush=True)
    return line


def database_create(prefix: str) -> str:
    """A new empty database on the server of DATABASE_URL (default the local PostgreSQL); dropped at exit."""
    import psycopg

    server = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    if not server.startswith("postgres"):
        raise SystemExit("The benchmarks need PostgreSQL: run them with `bash scripts/bench.sh NAME`.")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    # A benchmark stopped with SIGTERM still drops its database and stops its emulator and workers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parts = urlsplit(server)
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    atexit.register(drop)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def django_start(work: Path, prefix: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Point Django at a new database (migrated) and a private broker prefix; returns the environment that worker
    processes need to share them."""
    env = {
        "DEBUG": "true",
        "VAR_DIR": str(work),
        "MEDIA_ROOT": str(work / "media"),
        "DATABASE_URL": database_create(prefix),
        "CELERY_KEY_PREFIX": f"{prefix}-{uuid.uuid4().hex[:8]}:",
        **(extra or {}),
    }
    env.pop("TEST_DATABASE_NAME", None)
    os.environ.update(env)
    os.environ.pop("TEST_DATABASE_NAME", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    logging.disable(logging.INFO)  # the benchmark's own set-up (audit lines) is not what it measures
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    # Workers must decrypt what this process encrypted and sign what it signs.
    os.environ["FERNET_KEYS"] = ",".join(settings.FERNET_KEYS)
    os.environ["SECRET_KEY"] = settings.SECRET_KEY
    return {**os.environ}


def django_start_sqlite(work: Path, extra: dict[str, str] | None = None, *, migrate: bool = True) -> None:
    """Point Django at a throwaway SQLite database in `work`: for a benchmark that runs in this one process (no
    worker shares its database), so it needs neither PostgreSQL nor Redis."""
    os.environ.update(
        {"DEBUG": "true", "VAR_DIR": str(work), "DATABASE_URL": f"sqlite:///{work}/bench.db", **(extra or {})}
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its waited-for children, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / CLOCK_TICKS


def group_cpu_seconds(pgid: int) -> float:
    """CPU of every live process in a process group (a Celery worker and its pool)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) == pgid:
                total += cpu_seconds(int(entry.name))
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
    return total


@contextmanager
def celery_workers(count: int, env: dict[str, str], work: Path, *, concurrency: int = 1) -> Iterator[list[int]]:
    """`count` Celery worker processes (each its own process group), ready when the block starts; yields their
    process group ids. Each counts its tasks' queries into work/queries (bench.worker_queries)."""
    (work / "queries").mkdir(exist_ok=True)
    env = {**env, "BENCH_QUERY_DIR": str(work / "queries")}
    if not env.get("REDIS_URL"):
        raise SystemExit("The worker benchmarks need Redis: run them with `bash scripts/bench.sh NAME`.")
    processes = []
    logs = []
    for n in range(count):
        log_path = work / f"worker-{n}.log"
        logs.append(log_path)
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO"]
        command += [f"--concurrency={concurrency}", "--without-heartbeat", "--without-gossip", "--without-mingle"]
        command += ["-n", f"bench{n}-{os.getpid()}@%h", "--include", "bench.worker_queries"]
        with log_path.open("ab") as log:
            processes.append(
                subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
    try:
        wait_for(lambda: all(b"ready." in p.read_bytes() for p in logs), timeout=90, what="the Celery workers")
        yield [p.pid for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def wait_for(condition: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(interval)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]
