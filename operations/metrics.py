"""Prometheus metrics (METRICS_ENABLED): django-prometheus for requests and queries, and Celery task counts and
durations per task, queue and outcome, which each worker serves on METRICS_WORKER_PORT.

Workers run tasks in child processes, so with PROMETHEUS_MULTIPROC_DIR set (docs/operations.md) the children's
figures are added up by the worker's server, as django-prometheus does for several web processes.
"""

from __future__ import annotations

import logging
import os

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess, start_http_server

__all__ = ["metrics_server_start", "task_observe"]

logger = logging.getLogger(__name__)

TASKS = Counter("roger_celery_tasks", "Celery tasks run, by task, queue and outcome.", ["task", "queue", "outcome"])
TASK_SECONDS = Histogram(
    "roger_celery_task_duration_seconds",
    "How long Celery tasks ran, by task, queue and outcome.",
    ["task", "queue", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)


def task_observe(*, task: str, queue: str, outcome: str, seconds: float) -> None:
    TASKS.labels(task=task, queue=queue or "-", outcome=outcome).inc()
    TASK_SECONDS.labels(task=task, queue=queue or "-", outcome=outcome).observe(seconds)


def metrics_server_start(port: int) -> None:
    """Serve /metrics of this worker (all its processes when PROMETHEUS_MULTIPROC_DIR is set) on `port`."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, registry=registry)
    logger.info("Worker metrics on port %s", port)
