"""What waits in each Celery queue: its length and how long its oldest task has waited (the operator's page).

Read from the broker itself: Redis lists (kombu pushes on the left and takes from the right, so the oldest
task is the last element), or the files of the demo's filesystem broker. A task's publish time is the
`roger_published_at` header every publisher adds (operations.celery_signals).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from celery import current_app

__all__ = ["QueueState", "queue_names", "queue_states"]

logger = logging.getLogger(__name__)
PUBLISHED_AT_HEADER = "roger_published_at"


@dataclass(frozen=True)
class QueueState:
    name: str
    length: int | None  # None: the broker could not be read
    oldest_published_at: datetime | None = None

    @property
    def oldest_wait_seconds(self) -> float | None:
        if self.oldest_published_at is None:
            return None
        return max(0.0, (datetime.now(tz=UTC) - self.oldest_published_at).total_seconds())


def queue_names() -> list[str]:
    """The queues of the Celery app (config.celery.QUEUES), read from the app so this layer imports no config."""
    return [queue.name for queue in current_app.conf.task_queues or []]


def queue_states() -> list[QueueState]:
    names = queue_names()
    try:
        with current_app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, timeout=3)
            channel = connection.default_channel
            return [_state(channel, name) for name in names]
    except Exception as exc:  # the page says the broker could not be read; the cause goes to the log
        logger.warning("Could not read the queues from the broker (%s)", type(exc).__name__)
        return [QueueState(name=name, length=None) for name in names]


def _state(channel: Any, name: str) -> QueueState:
    length = int(channel._size(name))
    oldest = _oldest_message(channel, name) if length else None
    published = (oldest or {}).get("headers", {}).get(PUBLISHED_AT_HEADER) if isinstance(oldest, dict) else None
    when = datetime.fromtimestamp(float(published), tz=UTC) if isinstance(published, int | float) else None
    return QueueState(name=name, length=length, oldest_published_at=when)


def _oldest_message(channel: Any, name: str) -> Any:
    try:
        if hasattr(channel, "_q_for_pri") and hasattr(channel, "conn_or_acquire"):  # Redis
            # kombu prefixes only the commands it uses itself (not LINDEX): the key prefix is added here.
            key = (getattr(channel, "global_keyprefix", "") or "") + channel._q_for_pri(name, 0)
            with channel.conn_or_acquire() as client:
                raw = client.lindex(key, -1)
            return json.loads(raw) if raw else None
        folder = getattr(channel, "data_folder_in", None)
        if folder:  # the filesystem broker: files named <milliseconds>_<uuid>.<queue>.msg
            files = [f for f in os.listdir(folder) if f.partition(".")[2] == f"{name}.msg"]
            if files:
                # Files written within one millisecond share the prefix: the oldest of those by its header.
                first = min(int(f.split("_", 1)[0]) for f in files)
                candidates = [_read_json(os.path.join(folder, f)) for f in files if int(f.split("_", 1)[0]) == first]
                return min(candidates, key=_published_at_of)
    except (OSError, ValueError):
        return None
    return None


def _read_json(path: str) -> Any:
    with open(path, "rb") as handle:
        return json.loads(handle.read())


def _published_at_of(message: Any) -> float:
    published = message.get("headers", {}).get(PUBLISHED_AT_HEADER) if isinstance(message, dict) else None
    return float(published) if isinstance(published, int | float) else float("inf")
