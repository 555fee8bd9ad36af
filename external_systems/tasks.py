"""Celery tasks of external systems: thin, they take ids and call a service."""

from __future__ import annotations

from celery import shared_task

from external_systems.services import connection_advance


@shared_task(name="external_systems.connection_advance", ignore_result=True)
def connection_advance_task(connection_id: int, sequence: int | None = None) -> None:
    """A round of device code connection steps: the due ones (this connection's among them) are started or
    polled once, side by side; the rounds for the next steps are queued.

    (`sequence` comes only with tasks queued by an older release: the claim has replaced it.)
    """
    connection_advance(connection_id=connection_id)
