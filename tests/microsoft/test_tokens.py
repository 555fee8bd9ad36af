"""Refresh (with rotation), public-client refresh, client credentials, and the errors Microsoft answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from microsoft import errors, identity
from microsoft.config import AppCredentials
from tests.microsoft.conftest import (
    CONTOSO,
    CONTOSO_ADMIN,
    DEVICE_APP,
    EXPIRED_SECRET_APP,
    FABRIKAM,
    GRAPH_DEFAULT,
    SMTP_SEND,
    WEB_APP,
    poll_device_flow_until,
)

pytestmark = pytest.mark.emulator


def _refresh_tokens(cache: str) -> set[str]:
    return {entry["secret"] for entry in json.loads(cache)["RefreshToken"].values()}


@pytest.fixture
def connected(m365: Any) -> identity.TokenGrant:
    """A mailbox connected through the device code flow, as Exchange Online connections are."""
    started = identity.device_flow_start(app=DEVICE_APP, tenant=CONTOSO, scopes=[SMTP_SEND])
    m365.control.approve_device_code(started.user_code, CONTOSO_ADMIN[0])
    grant = poll_device_flow_until(started.flow, {identity.DeviceFlowState.APPROVED}).grant
    assert grant is not None and grant.account is not None
    return grant


def _silent(
    grant: identity.TokenGrant,
    *,
    force_refresh: bool = False,
    cache: str | None = None,
    scopes: tuple[str, ...] = (SMTP_SEND,),
) -> identity.TokenGrant:
    assert grant.account is not None
    return identity.token_acquire_silent(
        app=DEVICE_APP,
        tenant=CONTOSO,
        token_cache=cache or grant.token_cache,
        home_account_id=grant.account.home_account_id,
        scopes=scopes,
        force_refresh=force_refresh,
    )


def test_silent_returns_the_cached_access_token_without_calling_microsoft(
    m365: Any, connected: identity.TokenGrant
) -> None:
    m365.control.clear_requests()

    again = _silent(connected)

    assert again.access_token == connected.access_token
    assert SMTP_SEND in again.scopes
    assert not again.refresh_token_rotated
    assert m365.control.requests_received("token") == []


def test_forced_refresh_rotates_the_refresh_token_into_the_returned_cache(
    m365: Any, connected: identity.TokenGrant
) -> None:
    m365.control.clear_requests()

    refreshed = _silent(connected, force_refresh=True)

    assert refreshed.access_token != connected.access_token
    assert refreshed.refresh_token_rotated
    assert _refresh_tokens(refreshed.token_cache) - _refresh_tokens(connected.token_cache)
    assert refreshed.account == connected.account
    [request] = m365.control.requests_received("token")
    assert request["form"]["grant_type"] == "refresh_token"
    assert request["form"]["refresh_token"] in _refresh_tokens(connected.token_cache)


def test_public_client_refresh_sends_no_client_secret(m365: Any, connected: identity.TokenGrant) -> None:
    m365.control.clear_requests()

    _silent(connected, force_refresh=True)

    [request] = m365.control.requests_received("token")
    assert "client_secret" not in request["form"]
    assert "client_assertion" not in request["form"]
    assert "authorization" not in request["headers"]


def test_the_rotated_cache_keeps_working_after_the_access_token_expires(
    m365: Any, connected: identity.TokenGrant
) -> None:
    rotated = _silent(connected, force_refresh=True)
    m365.control.advance_clock(2 * 3600)

    later = _silent(rotated, force_refresh=True)

    assert later.access_token not in (rotated.access_token, connected.access_token)


def test_revoked_grant_needs_a_new_sign_in(m365: Any, connected: identity.TokenGrant) -> None:
    m365.control.revoke_grant(CONTOSO_ADMIN[0], DEVICE_APP.client_id)

    with pytest.raises(errors.ReconsentRequired) as raised:
        _silent(connected, force_refresh=True)

    assert raised.value.code == 50173
    assert "password" in raised.value.explanation


def test_refresh_token_unused_for_90_days_needs_a_new_sign_in(m365: Any, connected: identity.TokenGrant) -> None:
    m365.control.age_refresh_tokens(91, upn=CONTOSO_ADMIN[0], client_id=DEVICE_APP.client_id)

    with pytest.raises(errors.ReconsentRequired) as raised:
        _silent(connected, force_refresh=True)

    assert raised.value.code == 700082
    assert "90 days" in raised.value.explanation


def test_removed_consent_needs_reconsent(m365: Any, connected: identity.TokenGrant) -> None:
    m365.control.remove_consent(DEVICE_APP.client_id, CONTOSO)

    with pytest.raises(errors.ReconsentRequired) as raised:
        _silent(connected, force_refresh=True)

    assert raised.value.code == 65001
    assert "Reapply Consents" in raised.value.explanation


def test_a_cache_without_the_account_needs_a_new_sign_in(m365: Any, connected: identity.TokenGrant) -> None:
    assert connected.account is not None
    with pytest.raises(errors.ReconsentRequired) as raised:
        identity.token_acquire_silent(
            app=DEVICE_APP,
            tenant=CONTOSO,
            token_cache="",
            home_account_id=connected.account.home_account_id,
            scopes=[SMTP_SEND],
        )

    assert raised.value.error == "no_account"


def test_client_credentials_always_fetch_a_fresh_app_token(m365: Any) -> None:
    first = identity.client_credentials_acquire(app=WEB_APP, tenant=CONTOSO, scope=GRAPH_DEFAULT)
    second = identity.client_credentials_acquire(app=WEB_APP, tenant=CONTOSO, scope=GRAPH_DEFAULT)

    assert first.access_token != second.access_token
    assert first.account is None
    assert '"secret"' not in json.dumps(json.loads(first.token_cache).get("RefreshToken", {}))
    assert first.expires_at > datetime.now(UTC) + timedelta(minutes=30)
    requests = m365.control.requests_received("token")
    assert [r["form"]["grant_type"] for r in requests] == ["client_credentials", "client_credentials"]


def test_client_credentials_with_a_wrong_secret(m365: Any) -> None:
    app = AppCredentials(client_id=WEB_APP.client_id, client_secret="the-secret-id-not-its-value")

    with pytest.raises(errors.ConfigurationError) as raised:
        identity.client_credentials_acquire(app=app, tenant=CONTOSO, scope=GRAPH_DEFAULT)

    assert raised.value.code == 7000215
    assert "Value (not the Secret ID)" in raised.value.explanation
    assert "the-secret-id-not-its-value" not in str(raised.value) + raised.value.description


def test_client_credentials_with_an_expired_secret(m365: Any) -> None:
    with pytest.raises(errors.ConfigurationError) as raised:
        identity.client_credentials_acquire(app=EXPIRED_SECRET_APP, tenant=CONTOSO, scope=GRAPH_DEFAULT)

    assert raised.value.code == 7000222
    assert "expired" in raised.value.explanation


def test_secret_expired_by_the_control_api(m365: Any) -> None:
    m365.control.expire_secret(WEB_APP.client_id)

    with pytest.raises(errors.ConfigurationError) as raised:
        identity.client_credentials_acquire(app=WEB_APP, tenant=CONTOSO, scope=GRAPH_DEFAULT)

    assert raised.value.code == 7000222


def test_client_credentials_in_a_directory_without_consent(m365: Any) -> None:
    with pytest.raises(errors.ConfigurationError) as raised:
        identity.client_credentials_acquire(app=WEB_APP, tenant=FABRIKAM, scope=GRAPH_DEFAULT)

    assert raised.value.code == 700016


def test_unknown_application_id(m365: Any) -> None:
    app = AppCredentials(client_id="00000000-0000-4000-8000-00000000dead", client_secret=None)

    with pytest.raises(errors.ConfigurationError) as raised:
        identity.device_flow_start(app=app, tenant=CONTOSO, scopes=[SMTP_SEND])

    assert raised.value.code == 700016
    assert "Application ID" in raised.value.explanation


def test_client_credentials_need_a_secret() -> None:
    with pytest.raises(errors.ConfigurationError):
        identity.client_credentials_acquire(app=DEVICE_APP, tenant=CONTOSO, scope=GRAPH_DEFAULT)
