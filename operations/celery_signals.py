"""The request context travels with every task (a message header) and each task writes one log line.

Publishing (in a web process, a worker or beat) copies the current context into the message; the worker sets
it around the task, so the task's logs, the Microsoft calls it makes and the audit rows it writes name the
flow, the tenant, the actor and the client address of the page that started it. A task queued by beat starts
a new flow.
"""

from __future__ import annotations

import logging
import time
from contextvars import Token
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun, worker_ready
from django.conf import settings

from operations import context as request_context

logger = logging.getLogger("operations.task")

# Set in the message headers when a task is published: how long the oldest waiting task has waited.
PUBLISHED_AT_HEADER = "roger_published_at"

_running: dict[str, tuple[Token[request_context.RequestContext | None], float]] = {}


@before_task_publish.connect
def _context_into_headers(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is None:
        return
    values = request_context.context_headers()
    if values:
        headers[request_context.HEADER] = values
    headers[PUBLISHED_AT_HEADER] = time.time()


@task_prerun.connect
def _context_from_headers(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task is None or task_id is None:
        return
    values = getattr(task.request, request_context.HEADER, None)
    if values is None:
        values = (getattr(task.request, "headers", None) or {}).get(request_context.HEADER)
    current = request_context.current_context()
    # A task run in-process (eager, or called directly) keeps the flow it runs in.
    context = request_context.context_from_headers(values) if values is not None or current is None else current
    _running[task_id] = (request_context.context_enter(context), time.monotonic())


@task_postrun.connect
def _task_log_line(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    if task_id is None or task_id not in _running:
        return
    token, started = _running.pop(task_id)
    try:
        delivery = getattr(task.request, "delivery_info", None) or {}
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        queue = delivery.get("routing_key") or ""
        logger.info(
            "task %s %s in %sms (queue %s)",
            task.name,
            state,
            duration_ms,
            queue or "-",
            extra={
                "task": task.name,
                "task_id": task_id,
                "queue": queue,
                "outcome": state,
                "duration_ms": duration_ms,
                "worker": getattr(task.request, "hostname", None),
            },
        )
        if settings.METRICS_ENABLED:
            from operations.metrics import task_observe  # only with metrics on: it loads prometheus_client

            task_observe(task=task.name, queue=queue, outcome=str(state), seconds=duration_ms / 1000)
    finally:
        request_context.context_exit(token)


@worker_ready.connect
def _metrics_server(**_: Any) -> None:
    if settings.METRICS_ENABLED and settings.METRICS_WORKER_PORT:
        from operations.metrics import metrics_server_start  # only with metrics on: it loads prometheus_client

        metrics_server_start(int(settings.METRICS_WORKER_PORT))
