"""The token store in Django admin: state, reason and expiry shown, tokens never; "refresh now" works."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit.models import AuditEvent
from credentials.choices import CredentialKind, CredentialState
from credentials.models import MicrosoftCredential
from credentials.services import credential_refresh
from tests.conftest import wait_until
from tests.credentials.apps import WEB_APP
from tests.credentials.conftest import refresh_tokens_in

pytestmark = pytest.mark.emulator

CHANGELIST = "admin:credentials_microsoftcredential_changelist"


@pytest.fixture
def operator_client(db) -> Client:  # type: ignore[no-untyped-def]
    operator = User.objects.create_superuser("operator", "operator@roger.example", "operator-password-1")
    client = Client()
    client.force_login(operator)
    return client


def test_the_admin_shows_state_reason_and_expiry_but_never_a_token(m365, connect, operator_client):
    credential = connect(CredentialKind.DELEGATED_PUBLIC)
    MicrosoftCredential.objects.filter(pk=credential.pk).update(
        state=CredentialState.NEEDS_RECONNECT, state_reason="The sign-in was revoked. Use Reconnect."
    )
    secrets = refresh_tokens_in(credential)

    listing = operator_client.get(reverse(CHANGELIST))
    detail = operator_client.get(reverse("admin:credentials_microsoftcredential_change", args=[credential.pk]))

    for page in (listing, detail):
        assert page.status_code == 200
        text = page.content.decode()
        assert "Needs reconnect" in text and "The sign-in was revoked. Use Reconnect." in text
        assert "token_cache" not in text and not any(secret in text for secret in secrets)
        assert '"secret"' not in text and "eyJ" not in text  # no cache, no JWT
    assert "Refresh token last used" in detail.content.decode()
    assert "Access token expires" in listing.content.decode()
    assert operator_client.get(reverse("admin:credentials_microsoftcredential_add")).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_refresh_now_brings_a_credential_back_once_the_problem_is_fixed(m365, connect, operator_client, celery_worker):
    credential = connect(CredentialKind.APP_ONLY)
    m365.control.expire_secret(WEB_APP)
    assert credential_refresh(credential_id=credential.pk).state == CredentialState.NEEDS_RECONNECT
    m365.control.reset()  # a new secret was created in Azure

    response = operator_client.post(
        reverse(CHANGELIST), {"action": "refresh_now", "_selected_action": [credential.pk]}, follow=True
    )

    assert "A refresh was queued for 1 credential(s)." in response.content.decode()
    wait_until(
        lambda: MicrosoftCredential.objects.get(pk=credential.pk).state == CredentialState.ACTIVE,
        timeout=30,
        message="the worker to refresh the credential",
    )
    requested = AuditEvent.objects.get(action="credential.refresh_requested", target_id=str(credential.pk))
    assert requested.actor_label == "operator@roger.example"
    assert requested.details["from"] == CredentialState.NEEDS_RECONNECT
