"""Prometheus metrics are off by default; one setting turns on request, query and Celery task metrics."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from typing import Any

import pytest
from django.test import Client

from tests.conftest import ROOT, WorkerProcess, wait_until
from throttling.tasks import throttle_windows_prune


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.django_db
def test_metrics_are_off_by_default(client: Client, settings: Any):
    assert settings.METRICS_ENABLED is False
    assert client.get("/metrics").status_code == 404
    assert "django_prometheus" not in settings.INSTALLED_APPS


@pytest.mark.django_db(transaction=True)
def test_a_worker_counts_its_tasks_per_queue_and_outcome(celery_worker_env: dict[str, str], tmp_path: Any):
    port = _free_port()
    (tmp_path / "prometheus").mkdir()
    env = {
        **celery_worker_env,
        "METRICS_ENABLED": "true",
        "METRICS_WORKER_PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
    }
    worker = WorkerProcess(env, tmp_path / "worker.log", name="metrics")
    worker.start()
    try:
        throttle_windows_prune.delay()
        line = 'roger_celery_tasks_total{outcome="SUCCESS",queue="housekeeping",task="throttling.windows_prune"} 1.0'
        wait_until(lambda: line in _scrape(port), message="the task's count")
        assert 'roger_celery_task_duration_seconds_count{outcome="SUCCESS",queue="housekeeping"' in _scrape(port)
    finally:
        worker.stop()


def _scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return str(response.read().decode())
    except OSError:
        return ""


@pytest.mark.django_db(transaction=True)
def test_with_the_setting_web_nodes_serve_request_and_query_metrics(celery_worker_env: dict[str, str]):
    script = (
        "from django.test import Client\n"
        "client = Client()\n"
        "assert client.get('/healthz', HTTP_HOST='localhost').status_code in (200, 503)\n"
        "print(client.get('/metrics', HTTP_HOST='localhost').content.decode())\n"
    )
    env = {**celery_worker_env, "METRICS_ENABLED": "true"}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'django_http_requests_latency_seconds_by_view_method_count{method="GET",view="healthz"} 1.0' in result.stdout
    assert "django_db_execute_total" in result.stdout
