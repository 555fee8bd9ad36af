"""The one way to write the audit trail."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from django.contrib.auth import get_user_model
from django.db import models

from audit.models import AuditEvent
from operations.context import current_context

if TYPE_CHECKING:
    from accounts.models import Tenant, User

logger = logging.getLogger(__name__)


class _FromContext:
    def __repr__(self) -> str:
        return "FROM_CONTEXT"


FROM_CONTEXT: Any = _FromContext()


class _FromTarget:
    def __repr__(self) -> str:
        return "FROM_TARGET"


FROM_TARGET: Any = _FromTarget()


def audit_record(
    *,
    tenant: Tenant | None = FROM_TARGET,
    actor: User | None = FROM_CONTEXT,
    action: str,
    target: models.Model | None = None,
    details: dict[str, Any] | None = None,
    ip_address: str | None = None,
) -> AuditEvent:
    """Record that `actor` (None: the system) did `action` to `target`. Never pass secrets in `details`.

    The tenant defaults to the target's own (`target.tenant`). The actor and the client address default to the
    request context (operations.context): the signed-in user and address of the page, also in the Celery tasks it
    queued.
    """
    if tenant is FROM_TARGET:
        if target is None:
            raise TypeError("audit_record needs a tenant when it has no target")
        tenant = cast(Any, target).tenant
    if actor is FROM_CONTEXT:
        actor = _context_actor()
    if ip_address is None:
        context = current_context()
        ip_address = context.client_address if context is not None else None
    event = AuditEvent.objects.create(
        tenant=tenant,
        actor=actor if actor is not None and actor.pk else None,
        actor_label=actor.email if actor is not None else "system",
        action=action,
        target_type=target._meta.label if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=str(target)[:300] if target is not None else "",
        details=details or {},
        ip_address=ip_address,
    )
    logger.info("audit %s by %s on %s:%s", action, event.actor_label, event.target_type, event.target_id)
    return event


def audit_record_many(
    *,
    tenant: Tenant | None,
    actor: User | None,
    action: str,
    targets: Iterable[models.Model],
    details: dict[str, Any] | None = None,
) -> int:
    """`audit_record` for many targets at once (one event each, written in one statement): bulk changes such as a
    synchronization deactivating a page of users. Returns how many events were written."""
    events = [
        AuditEvent(
            tenant=tenant,
            actor=actor if actor is not None and actor.pk else None,
            actor_label=actor.email if actor is not None else "system",
            action=action,
            target_type=target._meta.label,
            target_id=str(target.pk),
            target_label=str(target)[:300],
            details=details or {},
        )
        for target in targets
    ]
    AuditEvent.objects.bulk_create(events, batch_size=500)
    logger.info("audit %s by %s on %d objects", action, events[0].actor_label if events else "-", len(events))
    return len(events)


def _context_actor() -> User | None:
    context = current_context()
    if context is None:
        return None
    if context.user is not None:
        return context.user
    if context.actor_id is None:
        return None
    return get_user_model().objects.filter(pk=context.actor_id).first()
