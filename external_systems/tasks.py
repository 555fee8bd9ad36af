"""Celery tasks of external systems: thin, they take ids and call a service."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_ready

logger = logging.getLogger(__name__)


@shared_task(name="external_systems.connection_advance", ignore_result=True)
def connection_advance_task(connection_id: int, sequence: int) -> None:
    """One short step of a device code connection: start it, or poll Microsoft once; the next step is queued."""
    from external_systems.services import connection_advance

    connection_advance(connection_id=connection_id, sequence=sequence)


@shared_task(name="external_systems.connections_sweep", ignore_result=True)
def connections_sweep_task(grace_seconds: int | None = None) -> int:
    from external_systems.services import connections_sweep
    from external_systems.services.connections import SWEEP_GRACE_SECONDS

    return connections_sweep(grace_seconds=SWEEP_GRACE_SECONDS if grace_seconds is None else grace_seconds)


@shared_task(
    name="external_systems.connection_code_send",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=10,
    max_retries=5,
)
def connection_code_send_task(connection_id: int, recipient: str) -> None:
    from external_systems.services import connection_code_send

    connection_code_send(connection_id=connection_id, recipient=recipient)


@worker_ready.connect
def _resume_connections(**_: Any) -> None:
    # Polls queued with an ETA wait unacknowledged in the worker that took them; when that worker dies they
    # come back only after the broker's visibility timeout (an hour). A worker that starts resumes them now.
    connections_sweep_task.delay(grace_seconds=0)
