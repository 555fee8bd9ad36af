"""Injected faults (429 + Retry-After, 5xx, latency, dropped connections) and the request log."""

from __future__ import annotations

import time

import pytest
import requests
from msal.exceptions import MsalServiceError

from m365_emulator.testing import EmulatorHandle
from tests.emulator.conftest import (
    CONTOSO,
    GRAPH_DEFAULT,
    SMTP_SEND,
    WEB_APP,
    WEB_SECRET,
    assert_aad_error,
    confidential_app,
    post_token,
    public_app,
)

pytestmark = pytest.mark.emulator

CLIENT_CREDENTIALS = {
    "client_id": WEB_APP,
    "client_secret": WEB_SECRET,
    "grant_type": "client_credentials",
    "scope": GRAPH_DEFAULT,
}


def test_429_with_retry_after_then_back_to_normal(emu: EmulatorHandle) -> None:
    emu.control.inject_fault("token", status=429, retry_after=7, count=2)

    throttled = [post_token(emu, CLIENT_CREDENTIALS) for _ in range(2)]
    recovered = post_token(emu, CLIENT_CREDENTIALS)

    for response in throttled:
        assert response.status_code == 429 and response.headers["retry-after"] == "7"
        assert_aad_error(response.json(), error="temporarily_unavailable", code=90055)
    assert recovered.status_code == 200


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_make_msal_raise(emu: EmulatorHandle, status: int) -> None:
    emu.control.inject_fault("discovery", status=status)

    with pytest.raises(MsalServiceError, match=f"HTTP Error: {status}"):
        confidential_app(emu)

    assert "access_token" in confidential_app(emu).acquire_token_for_client(scopes=[GRAPH_DEFAULT])


def test_503_on_the_token_endpoint(emu: EmulatorHandle) -> None:
    emu.control.inject_fault("token", status=503, retry_after=3)

    response = post_token(emu, CLIENT_CREDENTIALS)

    assert response.status_code == 503 and response.headers["retry-after"] == "3"
    assert_aad_error(response.json(), error="temporarily_unavailable", code=50000)


def test_dropped_connection(emu: EmulatorHandle) -> None:
    emu.control.inject_fault("devicecode", drop=True)
    app = public_app(emu)

    with pytest.raises(requests.ConnectionError):
        app.initiate_device_flow(scopes=[SMTP_SEND])

    assert "user_code" in app.initiate_device_flow(scopes=[SMTP_SEND])
    assert [r["status"] for r in emu.control.requests_received("devicecode")] == [0, 200]


def test_a_fault_can_skip_requests_first(emu: EmulatorHandle) -> None:
    emu.control.inject_fault("token", status=503, retry_after=1, skip=2)

    statuses = [post_token(emu, CLIENT_CREDENTIALS).status_code for _ in range(4)]

    assert statuses == [200, 200, 503, 200]


def test_a_lost_response_took_effect(emu: EmulatorHandle) -> None:
    emu.control.inject_fault("devicecode", lose_response=True)
    app = public_app(emu)

    with pytest.raises(requests.ConnectionError):
        app.initiate_device_flow(scopes=[SMTP_SEND])

    # The device code was issued even though its answer never arrived.
    assert len(emu.control.pending_device_codes()) == 1
    assert [r["status"] for r in emu.control.requests_received("devicecode")] == [200]


def test_latency(emu: EmulatorHandle) -> None:
    emu.control.inject_fault("token", latency_ms=600)

    started = time.monotonic()
    response = post_token(emu, CLIENT_CREDENTIALS)

    assert response.status_code == 200 and time.monotonic() - started >= 0.6


def test_requests_are_recorded_with_their_form_fields(emu: EmulatorHandle) -> None:
    post_token(emu, CLIENT_CREDENTIALS, headers={"client-request-id": "abc"})

    [record] = emu.control.requests_received("token")

    assert record["method"] == "POST" and record["path"] == f"/{CONTOSO}/oauth2/v2.0/token"
    assert record["form"] == CLIENT_CREDENTIALS and record["headers"]["client-request-id"] == "abc"
    assert record["scheme"] == "https" and record["status"] == 200
    emu.control.clear_requests()
    assert emu.control.requests_received() == []


def test_faults_are_cleared_by_reset(emu: EmulatorHandle) -> None:
    emu.control.inject_fault("token", status=500, count=5)
    emu.control.reset()

    assert post_token(emu, CLIENT_CREDENTIALS).status_code == 200


def test_smtp_auth_flag_per_directory(emu: EmulatorHandle) -> None:
    emu.control.set_smtp_auth(CONTOSO, False)

    directories = emu.control.session.get(f"{emu.https_url}/_control/directories").json()

    assert next(d for d in directories if d["tenant_id"] == CONTOSO)["smtp_auth_enabled"] is False
