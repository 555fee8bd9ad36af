"""What a background refresh costs the database: the same few queries whatever the kind (bench/token_refresh.py
measures it across thousands; issue: at most 5 per refresh)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from credentials.choices import CredentialKind, CredentialState
from credentials.models import MicrosoftCredential
from credentials.services import credential_refresh_due
from notifications.models import AdminNotification

# Committed data and no surrounding test transaction: queries counted as a worker makes them (no savepoints).
pytestmark = [pytest.mark.emulator, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    "kind", [CredentialKind.APP_ONLY, CredentialKind.DELEGATED_CONFIDENTIAL, CredentialKind.DELEGATED_PUBLIC]
)
def test_a_due_refresh_makes_at_most_five_queries(m365, connect, kind, django_assert_max_num_queries):
    credential = connect(kind)
    MicrosoftCredential.objects.filter(pk=credential.pk).update(next_attempt_at=timezone.now() - timedelta(hours=1))

    # The claim; then BEGIN, the lock, the save (releasing the claim), COMMIT.
    with django_assert_max_num_queries(5):
        refreshed = credential_refresh_due(credential_id=credential.pk)

    assert refreshed is not None and refreshed.state == CredentialState.ACTIVE
    stored = MicrosoftCredential.objects.get(pk=credential.pk)
    assert stored.lease_until is None and stored.lease_token == "", "the claim was let go with the save"
    assert stored.refreshed_at is not None and stored.refreshed_at > timezone.now() - timedelta(minutes=1)


def test_a_successful_retry_clears_every_notification_of_the_credential_at_once(m365, connect):
    credential = connect(CredentialKind.DELEGATED_PUBLIC)
    MicrosoftCredential.objects.filter(pk=credential.pk).update(state=CredentialState.RETRYING)
    for state in ("retrying", "needs_consent", "needs_reconnect"):
        AdminNotification.objects.create(
            tenant=credential.tenant, key=f"credentials:{credential.pk}:{state}", subject="s", body="b"
        )
    AdminNotification.objects.create(tenant=credential.tenant, key="credentials:999999:retrying", subject="s", body="b")
    MicrosoftCredential.objects.filter(pk=credential.pk).update(next_attempt_at=timezone.now() - timedelta(hours=1))

    refreshed = credential_refresh_due(credential_id=credential.pk)

    assert refreshed is not None and refreshed.state == CredentialState.ACTIVE
    assert list(AdminNotification.objects.values_list("key", flat=True)) == ["credentials:999999:retrying"]
