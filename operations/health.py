"""The portal's health for /healthz and the operator's page: database, broker, a worker per queue, beat.

No secret ever: names, times and exception class names only (a broker URL can hold a password).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from operations.heartbeats import BEAT, queue_heartbeat_name
from operations.models import Heartbeat
from operations.queues import queue_names

__all__ = ["Check", "HealthReport", "health_report"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""
    last_seen: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"ok": self.ok}
        if self.detail:
            data["detail"] = self.detail
        if self.last_seen is not None:
            data["last_seen"] = self.last_seen.isoformat()
        return data


@dataclass(frozen=True)
class HealthReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failing(self) -> list[str]:
        return [check.name for check in self.checks if not check.ok]

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "failing",
            "failing": self.failing,
            "checks": {check.name: check.as_json() for check in self.checks},
        }


def health_report() -> HealthReport:
    database = _database()
    checks = [database, _broker()]
    if database.ok:
        checks += _heartbeats()
    else:
        checks += [Check(name, ok=False, detail="unknown: the database is unavailable") for name in _heartbeat_names()]
    return HealthReport(checks)


def _database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        logger.warning("Health: the database does not answer (%s)", type(exc).__name__)
        return Check("database", ok=False, detail=f"does not answer ({type(exc).__name__})")
    return Check("database", ok=True)


def _broker() -> Check:
    try:
        with current_app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, timeout=float(settings.HEALTH_BROKER_TIMEOUT_SECONDS))
    except Exception as exc:  # any failure to reach it is the finding
        logger.warning("Health: the broker does not answer (%s)", type(exc).__name__)
        return Check("broker", ok=False, detail=f"does not answer ({type(exc).__name__})")
    return Check("broker", ok=True)


def _heartbeat_names() -> list[str]:
    return [f"worker:{queue}" for queue in queue_names()] + ["beat"]


def _heartbeats() -> list[Check]:
    now = timezone.now()
    seen = {row.name: row.seen_at for row in Heartbeat.objects.all()}
    worker_age = timedelta(seconds=int(settings.HEALTH_WORKER_MAX_AGE_SECONDS))
    beat_age = timedelta(seconds=int(settings.HEALTH_BEAT_MAX_AGE_SECONDS))
    checks = [
        _fresh(
            f"worker:{queue}", seen.get(queue_heartbeat_name(queue)), now, worker_age, "no worker took its heartbeat"
        )
        for queue in queue_names()
    ]
    checks.append(_fresh("beat", seen.get(BEAT), now, beat_age, "beat has not ticked"))
    return checks


def _fresh(name: str, seen_at: datetime | None, now: datetime, max_age: timedelta, what: str) -> Check:
    if seen_at is None:
        return Check(name, ok=False, detail=f"never seen: {what}")
    if now - seen_at > max_age:
        return Check(name, ok=False, detail=f"{what} for {int((now - seen_at).total_seconds())} s", last_seen=seen_at)
    return Check(name, ok=True, last_seen=seen_at)
