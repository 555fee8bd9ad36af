"""The request context: who is acting, from which address, for which tenant, in which flow (correlation id).

Middleware sets it for each request (`operations.middleware`); `operations.celery_signals` copies it into the
headers of every task queued meanwhile and sets it again in the worker around the task, so the audit trail and
the logs of work queued by a page know the same actor, address and correlation id as the page. NetBox's
`current_request` is the model; a context variable also works under ASGI and in threads.

Services read it through `current_context()` (the audit trail: `audit.services.audit_record`); nothing threads
the actor or the address through by hand any more.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "HEADER",
    "RequestContext",
    "context_bound",
    "context_enter",
    "context_exit",
    "context_from_headers",
    "context_headers",
    "correlation_id_new",
    "current_context",
]

# The Celery message header that carries the context (a dict of plain values).
HEADER = "roger_context"
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def correlation_id_new() -> str:
    return str(uuid.uuid4())  # a GUID, the form Microsoft's client-request-id takes too


def correlation_id_valid(value: str) -> bool:
    return bool(_CORRELATION_ID.match(value))


@dataclass(frozen=True)
class RequestContext:
    """What is known about the flow this code runs in. `request` (in a web process only) answers the actor and
    tenant lazily: the user is known only once the authentication middleware ran."""

    correlation_id: str
    client_address: str | None = None
    tenant_id: int | None = None
    actor_id: int | None = None
    request: Any = field(default=None, repr=False, compare=False)

    @property
    def user(self) -> Any:
        """The signed-in user of the request, if any (None in a worker: use `actor_id`)."""
        user = getattr(self.request, "user", None)
        return user if user is not None and user.is_authenticated else None

    @property
    def current_actor_id(self) -> int | None:
        user = self.user
        return user.pk if user is not None else self.actor_id

    @property
    def current_tenant_id(self) -> int | None:
        user = self.user
        if user is not None:
            return getattr(user, "tenant_id", None)
        return self.tenant_id

    def with_tenant(self, tenant_id: int | None) -> RequestContext:
        return replace(self, tenant_id=tenant_id)


_current: ContextVar[RequestContext | None] = ContextVar("roger_request_context", default=None)


def current_context() -> RequestContext | None:
    return _current.get()


@contextmanager
def context_bound(context: RequestContext) -> Iterator[RequestContext]:
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def context_enter(context: RequestContext) -> Token[RequestContext | None]:
    """Set `context` until `context_exit` with the token (for code that cannot use `with context_bound`)."""
    return _current.set(context)


def context_exit(token: Token[RequestContext | None]) -> None:
    _current.reset(token)


def context_headers(context: RequestContext | None = None) -> dict[str, Any]:
    """The context as plain values for a Celery message header (never the request itself)."""
    context = context or current_context()
    if context is None:
        return {}
    return {
        "correlation_id": context.correlation_id,
        "client_address": context.client_address,
        "tenant_id": context.current_tenant_id,
        "actor_id": context.current_actor_id,
    }


def context_from_headers(values: Mapping[str, Any] | None) -> RequestContext:
    """The context a task runs in: the one its publisher had, or a new flow (a task queued by beat)."""
    values = values or {}
    correlation_id = str(values.get("correlation_id") or "")
    return RequestContext(
        correlation_id=correlation_id if correlation_id_valid(correlation_id) else correlation_id_new(),
        client_address=_text_or_none(values.get("client_address")),
        tenant_id=_int_or_none(values.get("tenant_id")),
        actor_id=_int_or_none(values.get("actor_id")),
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _text_or_none(value: Any) -> str | None:
    return str(value)[:64] if value else None
