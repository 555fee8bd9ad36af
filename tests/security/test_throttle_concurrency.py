"""Parallel requests cannot slip past a limit: on PostgreSQL (threads, each with its own connection) and on the demo's
SQLite with several processes. A limit kept per process, or counted before it is locked, lets a burst through."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connection

from throttling.models import ThrottleWindow
from throttling.rates import Rate
from throttling.services import Limit, Throttled, throttle_take

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 5
ATTEMPTS = 16


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_parallel_requests_gets_exactly_the_limit_on_postgresql():
    limits = [Limit("race:client:203.0.113.9", Rate(LIMIT, 3600)), Limit("race:tenant:alpha", Rate(100, 3600))]
    throttle_take(limits=limits)  # the windows exist, as they do for a client that is already counted
    start = threading.Barrier(ATTEMPTS)
    admitted: list[int] = []
    refused: list[int] = []
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            start.wait()
            throttle_take(limits=limits)
            admitted.append(1)
        except Throttled:
            refused.append(1)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert (len(admitted), len(refused)) == (LIMIT - 1, ATTEMPTS - LIMIT + 1)
    assert len(ThrottleWindow.objects.get(key="race:tenant:alpha").hits) == LIMIT  # refused ones counted nowhere


FIRST = """
from throttling.rates import Rate
from throttling.services import Limit, throttle_take
throttle_take(limits=[Limit("race:client:203.0.113.9", Rate(%(limit)d, 3600))])
"""
WORKER = """
import sys, time
from pathlib import Path
from throttling.rates import Rate
from throttling.services import Limit, Throttled, throttle_take

ready, count, attempts = Path(sys.argv[-3]), int(sys.argv[-2]), int(sys.argv[-1])
ready.joinpath(str(os.getpid())).touch()
while len(list(ready.iterdir())) < count:
    time.sleep(0.01)
admitted = 0
for _ in range(attempts):
    try:
        throttle_take(limits=[Limit("race:client:203.0.113.9", Rate(%(limit)d, 3600))])
        admitted += 1
    except Throttled:
        pass
print("ADMITTED", admitted)
"""


def test_several_processes_on_the_demo_sqlite_database_get_exactly_the_limit_together(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in {"TEST_DATABASE_NAME", "PYTEST_CURRENT_TEST"}}
    env.update({"DEBUG": "true", "VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}"})
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr
    first = subprocess.run(  # the window exists, as it does for a client that is already counted
        [sys.executable, "-c", _django(FIRST % {"limit": LIMIT})], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    ready = tmp_path / "ready"
    ready.mkdir()
    processes, per_process = 4, 6
    script = "import os\n" + WORKER % {"limit": LIMIT}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _django(script), str(ready), str(processes), str(per_process)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    outputs = [worker.communicate(timeout=120) for worker in workers]

    assert [worker.returncode for worker in workers] == [0] * processes, [err for _, err in outputs]
    admitted = sum(
        int(line.split()[1]) for out, _ in outputs for line in out.splitlines() if line.startswith("ADMITTED")
    )
    assert admitted == LIMIT - 1


def _django(script: str) -> str:
    return (
        "import django, os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings')\ndjango.setup()\n"
        + script
    )


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_parallel_password_guesses_gets_only_the_lockouts_number_of_checks(admin_a):
    from django.test import Client
    from django.urls import reverse

    start = threading.Barrier(ATTEMPTS)
    answers: list[str] = []

    def guess(n: int) -> None:
        try:
            start.wait()
            response = Client().post(
                reverse("accounts:login"),
                {"tenancy_name": "alpha", "email": "admin@alpha.example", "password": f"guess {n}"},
                REMOTE_ADDR=f"10.0.1.{n}",
            )
            answers.append(response.content.decode())
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    checked = [answer for answer in answers if "The tenancy name, email or password is not right" in answer]
    locked = [answer for answer in answers if "Too many failed sign-ins" in answer]
    assert (len(checked), len(locked)) == (5, ATTEMPTS - 5)
