"""What the integration page says of each permission: seen in a token, appearing, checked on first use, missing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from integrations.choices import ConsentState
from integrations.selectors import PermissionStatus, feature_missing_permissions, feature_permissions
from integrations.services.permissions import feature_permission_refused
from tests.integrations.conftest import consented, feature_of, manual_integration

pytestmark = pytest.mark.django_db


def _statuses(feature: Any, now: Any = None) -> dict[str, str]:
    return {row.name: row.status for row in feature_permissions(feature, now=now)}


def test_without_consent_every_permission_is_only_needed(admin_a: Any) -> None:
    user_sync = feature_of(manual_integration(admin_a), "user_sync")

    assert set(_statuses(user_sync).values()) == {PermissionStatus.NEEDED}


def test_application_permissions_follow_the_fresh_tokens_roles_and_their_wait(admin_a: Any) -> None:
    user_sync = feature_of(manual_integration(admin_a), "user_sync")
    now = timezone.now()
    user_sync.consent_state = ConsentState.GRANTED
    user_sync.granted_application = ["User.Read.All"]
    user_sync.roles_checked_at, user_sync.roles_recheck_until = now, now + timedelta(minutes=15)
    user_sync.save()

    assert _statuses(user_sync, now) == {"User.Read.All": "granted", "Group.Read.All": "appearing"}
    assert _statuses(user_sync, now + timedelta(minutes=16))["Group.Read.All"] == "missing"
    user_sync.roles_unreadable = True
    assert _statuses(user_sync, now + timedelta(minutes=16))["Group.Read.All"] == "first_use"


def test_delegated_permissions_not_seen_yet_are_checked_on_first_use(admin_a: Any) -> None:
    onedrive = feature_of(manual_integration(admin_a), "onedrive")
    onedrive.consent_state, onedrive.granted_delegated = ConsentState.GRANTED, ["User.Read"]
    onedrive.save()

    assert _statuses(onedrive) == {"User.Read": "granted", "Files.ReadWrite": "first_use"}
    assert feature_missing_permissions(onedrive) == []


def test_a_403_on_use_is_the_final_word(admin_a: Any) -> None:
    user_sync = consented(feature_of(manual_integration(admin_a), "user_sync"))

    feature_permission_refused(feature=user_sync, permissions=["https://graph.microsoft.com/Group.Read.All"])
    feature_permission_refused(feature=user_sync, permissions=["Group.Read.All"])  # told once

    assert _statuses(user_sync)["Group.Read.All"] == "missing"
    assert [row.name for row in feature_missing_permissions(user_sync)] == ["Group.Read.All"]
    assert AuditEvent.objects.filter(action="integration.permission_refused").count() == 1
