"""Log records carry the request context; JSON lines when LOG_FORMAT=json (settings.LOGGING uses these)."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from operations.context import current_context

__all__ = ["ContextFilter", "JsonFormatter", "WithoutQueryString"]

# Attributes a log call may add with `extra=` that JSON lines carry as their own fields.
EXTRA_FIELDS = (
    "method",
    "path",
    "status",
    "duration_ms",
    "user_id",
    "task",
    "task_id",
    "queue",
    "outcome",
    "worker",
)


class ContextFilter(logging.Filter):
    """Adds `correlation_id` and `tenant_id` from the current request context ("-" outside of any)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = current_context()
        if not hasattr(record, "correlation_id"):
            record.correlation_id = context.correlation_id if context is not None else "-"
        if not hasattr(record, "tenant_id"):
            tenant_id = context.current_tenant_id if context is not None else None
            record.tenant_id = tenant_id if tenant_id is not None else "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation_id, tenant_id and the known extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", "-"),
            "tenant_id": getattr(record, "tenant_id", "-"),
        }
        for name in EXTRA_FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


_QUERY = re.compile(r"\?[^\s\"]*")


class WithoutQueryString(logging.Filter):
    """Drops the query string from runserver's access lines (`django.server`): Microsoft's redirects carry codes
    there. (Our own request line never writes it.)"""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(_QUERY.sub("", arg) if isinstance(arg, str) else arg for arg in record.args)
        if isinstance(record.msg, str):
            record.msg = _QUERY.sub("", record.msg) if not record.args else record.msg
        return True
