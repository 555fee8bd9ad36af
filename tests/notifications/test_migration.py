"""Admin notifications moved from accounts to notifications: the rows the previous release stored are kept (with
whether they were sent), and "once per problem" still holds on them. Written with the models as they were
(MigrationExecutor) on PostgreSQL, then migrated as an upgrade does."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from notifications.models import AdminNotification
from notifications.services import admins_notify

pytestmark = pytest.mark.django_db(transaction=True)  # schema changes between rows: each step commits

BEFORE = [("notifications", None), ("accounts", "0004_users_cards_groups_aliases_cost_centers")]


def _migrate(targets: list[tuple[str, str | None]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


def _latest() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def test_notifications_keep_their_rows_across_the_move(admin_a: Any) -> None:
    sent_at = timezone.now()
    try:
        old = _migrate(BEFORE)
        old_notifications = old.get_model("accounts", "AdminNotification").objects
        old_notifications.create(
            tenant_id=admin_a.tenant_id, key="credentials:1:needs_consent", subject="Told", body="B", sent_at=sent_at
        )
        old_notifications.create(
            tenant_id=admin_a.tenant_id, key="credentials:2:needs_consent", subject="Lost", body="B"
        )
    finally:
        _migrate(_latest())

    kept = {n.key: n for n in AdminNotification.objects.filter(tenant=admin_a.tenant)}
    assert set(kept) == {"credentials:1:needs_consent", "credentials:2:needs_consent"}
    assert (kept["credentials:1:needs_consent"].subject, kept["credentials:1:needs_consent"].sent_at) == (
        "Told",
        sent_at,
    )
    assert AdminNotification._meta.db_table == "notifications_adminnotification"

    # Told before the upgrade: not told again. Never sent (lost with the broker): sent now.
    assert not admins_notify(tenant=admin_a.tenant, key="credentials:1:needs_consent", subject="Again", body="B")
    assert admins_notify(tenant=admin_a.tenant, key="credentials:2:needs_consent", subject="L", body="B")
    with pytest.raises(IntegrityError), transaction.atomic():
        AdminNotification.objects.create(tenant=admin_a.tenant, key="credentials:1:needs_consent", subject="x", body="")
