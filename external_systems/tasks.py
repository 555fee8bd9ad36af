"""Celery tasks of external systems: thin, they take ids and call a service."""

from __future__ import annotations

from celery import shared_task

from external_systems.services import connection_advance


@shared_task(name="external_systems.connection_advance", ignore_result=True)
def connection_advance_task(connection_id: int, sequence: int | None = None) -> None:
    """One short step of a device code connection: start it, or poll Microsoft once; the next step is queued.

    (`sequence` comes only with tasks queued by an older release: the claim has replaced it.)
    """
    connection_advance(connection_id=connection_id)
