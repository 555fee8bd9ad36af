"""What User Synchronization asks of `accounts` about a person: deactivate and reactivate through its services
(sessions end, waiting jobs are held, OneDrive stops; history stays), and whether a deactivation was the sync's
(only those are undone when the person is back in the directory)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from accounts import services as accounts_services
from accounts.selectors import users_by_ids, users_synced

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from accounts.models import Tenant, User

SYNC_REASON_PREFIX = "User Synchronization: "


def synced_users(*, tenant: Tenant, directory_id: str) -> QuerySet[User]:
    """The users this directory's sync created or linked: never local users, never another directory's."""
    return users_synced(tenant=tenant, directory_id=directory_id)


def deactivated_by_sync(user: User) -> bool:
    return not user.is_active and user.deactivation_reason.startswith(SYNC_REASON_PREFIX)


def users_deactivate(*, users: Sequence[User], reasons: dict[int, str], actor: User | None = None) -> int:
    """Deactivate synced users, each with the sync's reason; the number deactivated (a tenant's last active admin
    is never deactivated)."""
    by_reason: dict[str, list[int]] = defaultdict(list)
    for user in users:
        by_reason[reasons.get(user.pk, "no longer in the directory")].append(user.pk)
    done = 0
    for reason, ids in sorted(by_reason.items()):
        changed = accounts_services.users_deactivate(
            users_by_ids(ids=ids), actor=actor, reason=f"{SYNC_REASON_PREFIX}{reason}"
        )
        done += len(changed.user_ids)
    return done


def users_reactivate(*, users: Sequence[User]) -> int:
    changed = accounts_services.users_reactivate(users_by_ids(ids=[u.pk for u in users]), actor=None)
    return len(changed.user_ids)
