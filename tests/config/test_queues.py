"""Work is routed by urgency: each queue has its workers, and a busy long-work worker never delays a person."""

from __future__ import annotations

import uuid
from fnmatch import fnmatch
from typing import Any

import pytest
import redis
from django.conf import settings

from config.celery import HOUSEKEEPING, INTERACTIVE, LONG, MAIL, QUEUES, TASK_ROUTES, app
from external_systems.choices import ConnectionStatus
from external_systems.models import DeviceCodeConnection
from tests.conftest import WorkerProcess, wait_until
from tests.external_systems.conftest import make_system, start

POLL = "external_systems.connection_advance"


def _queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


def test_every_task_of_the_portal_is_routed_by_the_table():
    app.loader.import_default_modules()
    names = [name for name in app.tasks if not name.startswith(("celery.", "tests."))]
    assert names
    unrouted = [name for name in names if not any(fnmatch(name, pattern) for pattern in TASK_ROUTES)]
    assert unrouted == []
    assert set(TASK_ROUTES.values()) <= set(QUEUES)


@pytest.mark.parametrize(
    ("task_name", "queue"),
    [
        (POLL, INTERACTIVE),
        ("mail_servers.connection_test", INTERACTIVE),
        ("outgoing_mail.test_email_send", INTERACTIVE),
        ("outgoing_mail.outbound_email_send", MAIL),
        ("mail_jobs.poll_source", MAIL),
        ("onedrive.print_work", LONG),
        ("universal_print.take_job", LONG),
        ("user_sync.run", LONG),  # a feature's tasks are routed by its name before it lands
        ("background.sweep", HOUSEKEEPING),
        ("integrations.attention_check", HOUSEKEEPING),
        ("somebody.new_task", LONG),  # unknown work is never treated as urgent
    ],
)
def test_tasks_go_to_the_queue_of_their_urgency(task_name, queue):
    assert _queue_of(task_name) == queue


def test_a_worker_without_queues_serves_all_of_them():
    assert [queue.name for queue in app.conf.task_queues] == list(QUEUES)


def _worker(env: dict[str, str], tmp_path: Any, name: str, queues: tuple[str, ...]) -> WorkerProcess:
    return WorkerProcess(
        env,
        tmp_path / f"{name}.log",
        name=name,
        queues=queues,
        concurrency=1,
        include=("tests.config.worker_tasks",),
    )


@pytest.mark.emulator
@pytest.mark.django_db(transaction=True)
def test_a_device_code_poll_runs_on_the_interactive_worker_while_the_long_worker_is_busy(
    m365, celery_worker_env, tmp_path, tenant_a, admin_a
):
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.fail("The worker tests need Redis: set REDIS_URL (make test does).")
    from tests.config.worker_tasks import hold

    client = redis.Redis.from_url(settings.REDIS_URL)
    key = f"{settings.CELERY_BROKER_TRANSPORT_OPTIONS['global_keyprefix']}hold:{uuid.uuid4().hex}"
    long_worker = _worker(celery_worker_env, tmp_path, "long", (LONG,))
    interactive_worker = _worker(celery_worker_env, tmp_path, "interactive", (INTERACTIVE,))
    long_worker.start()
    interactive_worker.start()
    try:
        held = hold.apply_async((key,), queue=LONG)
        wait_until(lambda: client.get(f"{key}:started"), message="the long worker to be held busy")

        connection = start(make_system(tenant_a, admin_a), admin_a)
        wait_until(lambda: _status(connection) == ConnectionStatus.PENDING, message="the code from Microsoft")

        assert client.get(f"{key}:finished") is None  # the long worker was busy the whole time
        assert f"Task {POLL}[" in interactive_worker.log()
        assert f"Task {POLL}[" not in long_worker.log()
        assert f"Task tests.hold[{held.id}]" not in interactive_worker.log()
    finally:
        client.rpush(f"{key}:release", "1")
        wait_until(lambda: client.get(f"{key}:finished"), message="the held task to finish")
        interactive_worker.stop()
        long_worker.stop()
        app.control.purge()  # the sweeps these workers queued when they started: nobody here serves housekeeping


def _status(connection: DeviceCodeConnection) -> str:
    connection.refresh_from_db()
    return connection.status
