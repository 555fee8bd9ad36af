"""The device code flow (Exchange Online connections) against the emulator with the real MSAL client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from microsoft import errors, identity
from tests.microsoft.conftest import (
    CONTOSO,
    CONTOSO_ADMIN,
    DEVICE_APP,
    NO_PUBLIC_FLOWS_APP,
    SMTP_SEND,
    poll_device_flow_until,
)

pytestmark = pytest.mark.emulator
State = identity.DeviceFlowState


def _start(scopes: tuple[str, ...] = (SMTP_SEND,)) -> identity.DeviceFlowStarted:
    return identity.device_flow_start(app=DEVICE_APP, tenant=CONTOSO, scopes=scopes)


def test_start_returns_code_url_and_a_persistable_flow(m365: Any) -> None:
    started = _start()

    assert started.user_code
    assert started.verification_uri == f"{m365.http_url}/devicelogin"
    assert started.user_code in started.message
    assert started.interval == 1
    assert timedelta(minutes=14) < started.expires_at - datetime.now(UTC) <= timedelta(minutes=15)
    pending = m365.control.pending_device_codes()
    assert [(c["user_code"], c["client_id"]) for c in pending] == [(started.user_code, DEVICE_APP.client_id)]


def test_first_poll_is_pending_and_says_when_to_poll_again(m365: Any) -> None:
    started = _start()
    now = datetime.now(UTC)

    poll = identity.device_flow_poll(app=DEVICE_APP, tenant=CONTOSO, flow=started.flow, now=now)

    assert poll.state is State.PENDING
    assert poll.next_poll_at == now + timedelta(seconds=1)
    assert poll.grant is None
    assert "latest_attempt_at" in poll.flow and "latest_attempt_at" not in started.flow


def test_polling_too_fast_is_slow_down_and_the_interval_grows(m365: Any) -> None:
    started = _start()
    first = identity.device_flow_poll(app=DEVICE_APP, tenant=CONTOSO, flow=started.flow)

    second = identity.device_flow_poll(app=DEVICE_APP, tenant=CONTOSO, flow=first.flow)

    assert second.state is State.SLOW_DOWN
    assert second.flow["interval"] == started.interval + 5
    assert second.next_poll_at is not None


def test_approved_code_yields_tokens_account_and_cache(m365: Any) -> None:
    started = _start()
    m365.control.approve_device_code(started.user_code, CONTOSO_ADMIN[0])

    poll = poll_device_flow_until(started.flow, {State.APPROVED})

    grant = poll.grant
    assert grant is not None
    assert grant.scopes and SMTP_SEND in grant.scopes
    assert grant.account is not None
    assert grant.account.username == CONTOSO_ADMIN[0]
    assert grant.account.tenant_id == CONTOSO
    assert grant.account.home_account_id == f"{grant.account.object_id}.{CONTOSO}"
    assert grant.refresh_token_rotated
    assert grant.expires_at > datetime.now(UTC) + timedelta(minutes=30)
    assert '"RefreshToken"' in grant.token_cache
    assert grant.id_token_claims["tid"] == CONTOSO
    assert poll.next_poll_at is None


def test_declined_code_is_declined(m365: Any) -> None:
    started = _start()
    m365.control.decline_device_code(started.user_code, CONTOSO_ADMIN[0])

    poll = poll_device_flow_until(started.flow, {State.DECLINED, State.APPROVED})

    assert poll.state is State.DECLINED
    assert poll.grant is None and poll.next_poll_at is None


def test_code_expired_at_microsoft_is_expired(m365: Any) -> None:
    started = _start()
    m365.control.expire_device_code(started.user_code)

    poll = poll_device_flow_until(started.flow, {State.EXPIRED, State.APPROVED})

    assert poll.state is State.EXPIRED


def test_code_past_its_lifetime_is_expired_without_calling_microsoft(m365: Any) -> None:
    started = _start()
    m365.control.clear_requests()

    poll = identity.device_flow_poll(
        app=DEVICE_APP, tenant=CONTOSO, flow=started.flow, now=started.expires_at + timedelta(seconds=1)
    )

    assert poll.state is State.EXPIRED
    assert m365.control.requests_received("token") == []


def test_app_without_public_client_flows_is_a_configuration_error(m365: Any) -> None:
    with pytest.raises(errors.ConfigurationError) as raised:
        started = identity.device_flow_start(app=NO_PUBLIC_FLOWS_APP, tenant=CONTOSO, scopes=[SMTP_SEND])
        m365.control.approve_device_code(started.user_code, CONTOSO_ADMIN[0])
        poll_device_flow_until(started.flow, {State.APPROVED}, app=NO_PUBLIC_FLOWS_APP)

    assert raised.value.code == 7000218
    assert "Allow public client flows" in raised.value.explanation
