"""The token store against the emulator over HTTPS: refresh of each kind, rotation, failures, ownership."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from credentials.choices import CredentialKind, CredentialState
from credentials.errors import CredentialMismatch, CredentialMissing, CredentialUnavailable
from credentials.models import MicrosoftCredential
from credentials.services import credential_access_token, credential_refresh
from microsoft.errors import TransientError
from notifications.models import AdminNotification
from tests.conftest import wait_until
from tests.credentials.apps import CONTOSO, DEVICE_APP, TEST_OWNER_TYPE, WEB_APP, WEB_APP_SECRET
from tests.credentials.conftest import MAILBOX, refresh_tokens_in, token_requests

pytestmark = pytest.mark.emulator

FABRIKAM = "9e8d7c6b-5a49-4382-a716-f5e4d3c2b1a0"


def access_token(credential: MicrosoftCredential, **overrides: Any) -> str:
    arguments = {
        "tenant": credential.tenant,
        "owner_type": credential.owner_type,
        "owner_id": credential.owner_id,
        "directory_id": credential.directory_id,
        **overrides,
    }
    return credential_access_token(**arguments)


def backdate_access_token(credential: MicrosoftCredential, *, expires_in: timedelta) -> None:
    MicrosoftCredential.objects.filter(pk=credential.pk).update(access_token_expires_at=timezone.now() + expires_in)


# --- each kind refreshed the right way -------------------------------------------------------------------


def test_a_valid_access_token_is_handed_out_silently_without_calling_microsoft(m365, connect):
    credential = connect(CredentialKind.DELEGATED_PUBLIC)
    m365.control.clear_requests()

    token = access_token(credential)

    assert token.count(".") == 2  # a JWT from the emulator
    assert token_requests(m365) == []


def test_a_token_about_to_expire_is_refreshed_at_use_and_the_rotated_refresh_token_saved(m365, connect):
    credential = connect(CredentialKind.DELEGATED_PUBLIC)
    old_token = access_token(credential)
    old_refresh_tokens = refresh_tokens_in(credential)
    backdate_access_token(credential, expires_in=timedelta(minutes=2))
    m365.control.clear_requests()

    new_token = access_token(credential)

    assert new_token != old_token
    refreshes = token_requests(m365, "refresh_token")
    assert [r["form"]["refresh_token"] in old_refresh_tokens for r in refreshes] == [True]
    credential.refresh_from_db()
    assert credential.state == CredentialState.ACTIVE
    assert credential.access_token_expires_at > timezone.now() + timedelta(minutes=50)
    assert refresh_tokens_in(credential).isdisjoint(old_refresh_tokens), "the rotated refresh token was not saved"


def test_each_refresh_presents_the_refresh_token_the_previous_one_saved(m365, connect):
    credential = connect(CredentialKind.DELEGATED_PUBLIC)
    m365.control.clear_requests()

    credential_refresh(credential_id=credential.pk)
    after_first = refresh_tokens_in(credential)
    credential_refresh(credential_id=credential.pk)

    first, second = token_requests(m365, "refresh_token")
    assert first["form"]["refresh_token"] != second["form"]["refresh_token"]
    assert {second["form"]["refresh_token"]} == after_first
    credential.refresh_from_db()
    assert credential.refresh_token_used_at > timezone.now() - timedelta(minutes=1)


def test_a_public_client_refresh_sends_no_secret_even_if_the_owner_holds_one(m365, connect):
    credential = connect(CredentialKind.DELEGATED_PUBLIC)
    m365.control.clear_requests()

    refreshed = credential_refresh(credential_id=credential.pk)

    assert refreshed.state == CredentialState.ACTIVE, refreshed.state_reason
    (request,) = token_requests(m365, "refresh_token")
    assert request["form"]["client_id"] == DEVICE_APP
    assert "client_secret" not in request["form"]
    assert "authorization" not in request["headers"]
    assert request["status"] == 200


def test_a_confidential_delegated_refresh_proves_itself_with_the_apps_secret(m365, connect):
    credential = connect(CredentialKind.DELEGATED_CONFIDENTIAL)
    m365.control.clear_requests()

    refreshed = credential_refresh(credential_id=credential.pk)

    assert refreshed.state == CredentialState.ACTIVE, refreshed.state_reason
    (request,) = token_requests(m365, "refresh_token")
    assert request["form"].get("client_secret") == WEB_APP_SECRET
    assert request["status"] == 200


def test_an_app_only_token_is_acquired_again_with_client_credentials(m365, connect):
    credential = connect(CredentialKind.APP_ONLY)
    assert credential.account_home_id == "" and credential.refresh_token_used_at is None
    first = access_token(credential)
    backdate_access_token(credential, expires_in=timedelta(minutes=1))
    m365.control.clear_requests()

    second = access_token(credential)

    assert second != first
    requests = token_requests(m365)
    assert [r["form"]["grant_type"] for r in requests] == ["client_credentials"]
    assert requests[0]["form"]["client_secret"] == WEB_APP_SECRET
    credential.refresh_from_db()
    assert credential.access_token_expires_at > timezone.now() + timedelta(minutes=50)


# --- failures ---------------------------------------------------------------------------------------------


def test_429_retries_after_retry_after_without_losing_the_token(m365, connect):
    credential = connect(CredentialKind.DELEGATED_PUBLIC)
    refresh_tokens = refresh_tokens_in(credential)
    cache_before = credential.token_cache
    m365.control.inject_fault("token", status=429, retry_after=2)

    limited = credential_refresh(credential_id=credential.pk)

    assert limited.state == CredentialState.RETRYING
    assert "limiting" in limited.state_reason
    assert limited.token_cache == cache_before, "a passing failure must never touch the stored token"
    assert timedelta(seconds=1) < limited.next_attempt_at - timezone.now() <= timedelta(seconds=2)
    # Still usable while it retries: the access token has not expired.
    assert access_token(credential)
    # Retry-After is honoured: asking again early makes no call.
    assert credential_refresh(credential_id=credential.pk, force=False).state == CredentialState.RETRYING
    assert len(token_requests(m365, "refresh_token")) == 1

    recovered = wait_until(
        lambda: (
            (c := credential_refresh(credential_id=credential.pk, force=False)).state == CredentialState.ACTIVE and c
        ),
        timeout=10,
        message="the retry after Retry-After",
    )

    assert [r["status"] for r in token_requests(m365, "refresh_token")] == [429, 200]
    assert recovered.state_reason == "" and recovered.attempts == 0
    assert recovered.next_attempt_at > timezone.now() + timedelta(days=6), "next: the weekly idle refresh"
    assert refresh_tokens_in(credential).isdisjoint(refresh_tokens)
    transitions = list(
        AuditEvent.objects.filter(action="credential.state_changed", target_id=str(credential.pk))
        .order_by("occurred_at", "id")
        .values_list("details__from", "details__to")
    )
    assert transitions == [("active", "retrying"), ("retrying", "active")]


def test_a_transient_failure_at_use_with_an_expired_token_raises_transient_and_keeps_the_credential(m365, connect):
    credential = connect(CredentialKind.DELEGATED_PUBLIC)
    backdate_access_token(credential, expires_in=-timedelta(minutes=1))
    m365.control.inject_fault("token", status=503)

    with pytest.raises(TransientError):
        access_token(credential)

    credential.refresh_from_db()
    assert credential.state == CredentialState.RETRYING and credential.token_cache
    assert not AdminNotification.objects.exists(), "a passing failure does not alarm the admins"


def _revoke(m365: Any, credential: MicrosoftCredential) -> None:
    m365.control.revoke_grant(MAILBOX, DEVICE_APP)


def _ninety_idle_days(m365: Any, credential: MicrosoftCredential) -> None:
    m365.control.age_refresh_tokens(91)


def _remove_consent(m365: Any, credential: MicrosoftCredential) -> None:
    m365.control.remove_consent(credential.client_id, CONTOSO)


def _expire_secret(m365: Any, credential: MicrosoftCredential) -> None:
    m365.control.expire_secret(WEB_APP)


@pytest.mark.parametrize(
    ("kind", "break_it", "code", "state", "words"),
    [
        (CredentialKind.DELEGATED_PUBLIC, _revoke, 50173, CredentialState.NEEDS_RECONNECT, "revoked"),
        (CredentialKind.DELEGATED_PUBLIC, _ninety_idle_days, 700082, CredentialState.NEEDS_RECONNECT, "90 days"),
        (CredentialKind.DELEGATED_PUBLIC, _remove_consent, 65001, CredentialState.NEEDS_CONSENT, "consent"),
        (CredentialKind.DELEGATED_CONFIDENTIAL, _expire_secret, 7000222, CredentialState.NEEDS_RECONNECT, "expired"),
        (CredentialKind.APP_ONLY, _expire_secret, 7000222, CredentialState.NEEDS_RECONNECT, "expired"),
    ],
    ids=["50173-revoked", "700082-idle", "65001-consent-removed", "7000222-delegated", "7000222-app-only"],
)
def test_terminal_failures_need_a_person_with_the_reason_and_tell_the_admins_once(
    m365, connect, admin_a, kind, break_it, code, state, words
):
    credential = connect(kind)
    break_it(m365, credential)

    failed = credential_refresh(credential_id=credential.pk)
    credential_refresh(credential_id=credential.pk)  # asked again: no second email, no second call

    assert failed.state == state
    assert failed.last_error_code == code
    assert words in failed.state_reason
    assert failed.token_cache, "the stored sign-in is kept (a new secret makes it work again)"
    assert len([r for r in token_requests(m365) if r["status"] != 200]) == 1
    (notification,) = AdminNotification.objects.filter(tenant=credential.tenant)
    assert f"Test owner #{credential.owner_id}" in notification.subject
    assert failed.state_reason in notification.body and "/test-owners/" in notification.body
    assert AuditEvent.objects.filter(
        action="credential.state_changed", target_id=str(credential.pk), details__to=state, details__code=code
    ).exists()
    with pytest.raises(CredentialUnavailable) as unavailable:
        access_token(credential)
    assert unavailable.value.state == state
    assert unavailable.value.reason == failed.state_reason
    assert unavailable.value.fix_url == f"/test-owners/{credential.owner_id}/reconnect/"


def test_a_healthy_refresh_clears_the_admins_notification_so_a_recurrence_is_told_again(m365, connect):
    credential = connect(CredentialKind.APP_ONLY)
    m365.control.expire_secret(WEB_APP)
    assert credential_refresh(credential_id=credential.pk).state == CredentialState.NEEDS_RECONNECT
    assert AdminNotification.objects.count() == 1
    m365.control.reset()  # the secret was renewed in Azure

    # Terminal states wait for a person: the sweep leaves them alone, "refresh now" (REFRESHING) retries.
    MicrosoftCredential.objects.filter(pk=credential.pk).update(state=CredentialState.REFRESHING)
    assert credential_refresh(credential_id=credential.pk).state == CredentialState.ACTIVE
    assert AdminNotification.objects.count() == 0


# --- ownership ----------------------------------------------------------------------------------------------


def test_a_token_is_only_handed_to_its_own_owner_tenant_and_directory(m365, connect, tenant_b, admin_b, user_a):
    credential = connect(CredentialKind.DELEGATED_PUBLIC)

    with pytest.raises(CredentialMismatch):
        access_token(credential, tenant=tenant_b)  # another Roger tenant naming this owner
    with pytest.raises(CredentialMismatch):
        access_token(credential, directory_id=FABRIKAM)  # the owner asking for another directory
    with pytest.raises(CredentialMismatch):
        access_token(credential, tenant=tenant_b, user=user_a)  # a user of another tenant
    with pytest.raises(CredentialMissing):
        access_token(credential, owner_id=credential.owner_id + 1)
    with pytest.raises(CredentialMissing):
        access_token(credential, user=user_a)  # the owner's own token is not this user's
    assert access_token(credential, directory_id=CONTOSO.upper())


def test_a_sign_in_to_another_directory_is_not_stored(m365, connect, tenant_a):
    from credentials.services import credential_save
    from tests.credentials.conftest import MAIL_SCOPES, device_code_grant

    grant = device_code_grant(m365)
    with pytest.raises(CredentialMismatch):
        credential_save(
            tenant=tenant_a,
            owner_type=TEST_OWNER_TYPE,
            owner_id=99,
            kind=CredentialKind.DELEGATED_PUBLIC,
            directory_id=FABRIKAM,
            client_id=DEVICE_APP,
            scopes=MAIL_SCOPES,
            grant=grant,
        )
    assert not MicrosoftCredential.objects.exists()


def test_reconnecting_replaces_the_credential_and_writes_the_audit_trail(m365, connect):
    first = connect(CredentialKind.DELEGATED_PUBLIC, owner_id=7)
    MicrosoftCredential.objects.filter(pk=first.pk).update(
        state=CredentialState.NEEDS_RECONNECT, state_reason="revoked", last_error_code=50173
    )

    second = connect(CredentialKind.DELEGATED_PUBLIC, owner_id=7)

    assert second.pk == first.pk and MicrosoftCredential.objects.count() == 1
    assert second.state == CredentialState.ACTIVE and second.last_error_code is None
    actions = list(AuditEvent.objects.filter(target_id=str(first.pk)).values_list("action", flat=True))
    assert sorted(actions) == ["credential.connected", "credential.reconnected"]
    trail = str(list(AuditEvent.objects.values_list("details", "target_label")))
    assert not any(secret in trail for secret in refresh_tokens_in(second)), "no token in the audit trail"
