"""/healthz and the operator's Health and queues page: database, broker, a worker per queue, beat."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.models import User
from config.celery import LONG, QUEUES, app
from operations.heartbeats import BEAT, heartbeat_record, queue_heartbeat_name
from operations.models import Heartbeat
from operations.tasks import heartbeat_task
from tests.background.conftest import broker_unavailable
from tests.conftest import ROOT, wait_until

pytestmark = pytest.mark.django_db
HEALTHZ = "/healthz"


def _all_alive(age: timedelta = timedelta(0)) -> None:
    for queue in QUEUES:
        heartbeat_record(queue_heartbeat_name(queue), host="worker-1", at=timezone.now() - age)
    heartbeat_record(BEAT, host="beat", at=timezone.now() - age)


def _secrets() -> list[str]:
    return [settings.SECRET_KEY, *settings.FERNET_KEYS, settings.CELERY_BROKER_URL]


def test_healthy_is_200_without_signing_in(client: Client):
    _all_alive()
    response = client.get(HEALTHZ)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["failing"] == []
    assert set(body["checks"]) == {"database", "broker", "beat", *(f"worker:{queue}" for queue in QUEUES)}
    assert response["Cache-Control"].startswith("max-age=0")


def test_a_queue_no_worker_serves_and_a_stopped_beat_are_503_named(client: Client):
    _all_alive()
    Heartbeat.objects.filter(name=queue_heartbeat_name(LONG)).update(seen_at=timezone.now() - timedelta(minutes=10))
    Heartbeat.objects.filter(name=BEAT).delete()

    response = client.get(HEALTHZ)

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == [f"worker:{LONG}", "beat"]
    assert "for 600 s" in body["checks"][f"worker:{LONG}"]["detail"]
    assert body["checks"]["beat"]["detail"] == "never seen: beat has not ticked"


def test_with_the_broker_stopped_it_is_503_and_names_no_secret(client: Client):
    _all_alive()
    with broker_unavailable():
        response = client.get(HEALTHZ)
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker"]
    assert body["checks"]["broker"]["detail"].startswith("does not answer (")
    text = response.content.decode()
    assert not [secret for secret in _secrets() if secret and secret in text]
    assert "redis://" not in text


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_and_beat_make_it_healthy(celery_worker, celery_worker_env, tmp_path: Path, client: Client):
    assert client.get(HEALTHZ).json()["failing"] == ["beat"]  # the worker counted for its queues as it started
    log = (tmp_path / "beat.log").open("ab")
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "beat", "--schedule", str(tmp_path / "beat-schedule")],
        cwd=ROOT,
        env=celery_worker_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(lambda: client.get(HEALTHZ).status_code == 200, timeout=60, message="beat's heartbeat")
    finally:
        os.killpg(beat.pid, signal.SIGTERM)
        beat.wait(timeout=20)
    assert Heartbeat.objects.get(name=BEAT).host == "beat"


@pytest.fixture
def operator_client() -> Client:
    operator = User.objects.create_superuser("operator", "operator@roger.example", "operator-password-1")
    client = Client()
    client.force_login(operator)
    return client


def test_the_operator_sees_queue_lengths_and_the_oldest_waiting_task(operator_client: Client):
    _all_alive()
    app.control.purge()
    try:
        heartbeat_task.apply_async((LONG,), queue=LONG)  # no worker runs here: it waits
        heartbeat_task.apply_async((LONG,), queue=LONG)
        page = operator_client.get("/operator/operations/heartbeat/")
    finally:
        app.control.purge()
    assert page.status_code == 200
    text = page.content.decode()
    assert "Health and queues" in text and "Health: ok" in text
    row = text.split(f"<td>{LONG}</td>", 1)[1].split("</tr>", 1)[0]
    assert "<td>2</td>" in row
    assert " s</td>" in row  # how long the oldest has waited


def test_the_page_is_the_operators_only(admin_a_client: Client, client: Client):
    assert admin_a_client.get("/operator/operations/heartbeat/").status_code == 302
    assert client.get("/operator/operations/heartbeat/").status_code == 302


def test_the_demos_filesystem_broker_shows_its_lengths_and_oldest_task_too(tmp_path: Path):
    from kombu import Connection, Exchange, Queue

    from operations.queues import PUBLISHED_AT_HEADER, _state

    folder = str(tmp_path)
    options = {"data_folder_in": folder, "data_folder_out": folder, "control_folder": str(tmp_path / "control")}
    published = timezone.now().timestamp() - 90
    with Connection("filesystem://", transport_options=options) as connection:
        queue = Queue(LONG, Exchange(LONG), routing_key=LONG)
        producer = connection.Producer()
        for at in (published, published + 60):
            producer.publish(
                {}, exchange=queue.exchange, routing_key=LONG, declare=[queue], headers={PUBLISHED_AT_HEADER: at}
            )
        state = _state(connection.default_channel, LONG)
    assert state.length == 2
    assert state.oldest_published_at is not None and abs(state.oldest_published_at.timestamp() - published) < 0.01
    assert state.oldest_wait_seconds is not None and state.oldest_wait_seconds >= 90
