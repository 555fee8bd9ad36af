"""Device code flow with the real MSAL client (protocols.md §1.5, §3.3)."""

from __future__ import annotations

import re
import warnings

import pytest

from m365_emulator.testing import EmulatorHandle
from tests.emulator.conftest import (
    CONTOSO,
    CONTOSO_MAILBOX,
    DEVICE_APP,
    EXCHANGE_APP,
    FABRIKAM,
    NO_PUBLIC_FLOWS_APP,
    SHORT_DEVICE_APP,
    SMTP_SEND,
    assert_aad_error,
    post_token,
    public_app,
)

pytestmark = pytest.mark.emulator

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def poll_once(app, flow):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Attempted too soon": the slow_down test polls early on purpose
        return app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)


def test_initiate_returns_microsofts_shape(emu: EmulatorHandle) -> None:
    flow = public_app(emu).initiate_device_flow(scopes=[SMTP_SEND])

    assert re.fullmatch(r"[A-Z0-9]{9}", flow["user_code"])
    assert flow["verification_uri"] == f"{emu.http_url}/devicelogin"
    assert flow["expires_in"] == 900 and flow["interval"] == 1
    assert flow["user_code"] in flow["message"] and flow["verification_uri"] in flow["message"]
    sent = emu.control.requests_received("devicecode")[-1]["form"]
    assert sent["scope"] == f"{SMTP_SEND} offline_access openid profile"


def test_pending_then_approved_gives_tokens_for_the_mailbox(emu: EmulatorHandle) -> None:
    app = public_app(emu)
    flow = app.initiate_device_flow(scopes=[SMTP_SEND])

    pending = poll_once(app, flow)
    assert_aad_error(pending, error="authorization_pending", code=70016)

    emu.control.approve_device_code(flow["user_code"], CONTOSO_MAILBOX)
    result = _poll_after_interval(emu, app, flow)

    assert result["token_type"] == "Bearer"
    assert set(result["scope"].split()) >= {SMTP_SEND, "offline_access", "openid", "profile"}
    assert result["refresh_token"] and result["access_token"]
    assert result["id_token_claims"]["preferred_username"] == CONTOSO_MAILBOX
    assert result["id_token_claims"]["tid"] == CONTOSO
    account = app.get_accounts()[0]
    assert account["username"] == CONTOSO_MAILBOX
    token_request = emu.control.requests_received("token")[-1]["form"]
    assert token_request["grant_type"] == DEVICE_GRANT and "scope" not in token_request
    assert "client_secret" not in token_request
    claims = emu.control.session.post(f"{emu.https_url}/introspect", data={"token": result["access_token"]}).json()
    assert claims["active"] is True and claims["username"] == CONTOSO_MAILBOX
    assert claims["aud"] == "https://outlook.office.com" and claims["scope"] == "SMTP.Send"


def _poll_after_interval(emu: EmulatorHandle, app, flow):  # type: ignore[no-untyped-def]
    """Poll again once the emulator's interval has passed (advance its clock instead of sleeping)."""
    emu.control.advance_clock(flow["interval"])
    return poll_once(app, flow)


def test_polling_faster_than_the_interval_gets_slow_down(emu: EmulatorHandle) -> None:
    app = public_app(emu)
    flow = app.initiate_device_flow(scopes=[SMTP_SEND])
    poll_once(app, flow)
    interval_before = flow["interval"]

    result = poll_once(app, flow)

    assert_aad_error(result, error="slow_down", code=70016)
    assert flow["interval"] == interval_before + 5  # MSAL backs off by itself
    assert_aad_error(_poll_after_interval(emu, app, flow), error="authorization_pending", code=70016)


def test_declined_device_code(emu: EmulatorHandle) -> None:
    app = public_app(emu)
    flow = app.initiate_device_flow(scopes=[SMTP_SEND])
    emu.control.decline_device_code(flow["user_code"], CONTOSO_MAILBOX)

    assert_aad_error(poll_once(app, flow), error="authorization_declined", code=70000)


def test_device_code_expires_after_expires_in_on_the_emulator_clock(emu: EmulatorHandle) -> None:
    app = public_app(emu, SHORT_DEVICE_APP)
    flow = app.initiate_device_flow(scopes=[SMTP_SEND])
    assert flow["expires_in"] == 30
    assert [d["user_code"] for d in emu.control.pending_device_codes()] == [flow["user_code"]]

    emu.control.advance_clock(31)

    assert_aad_error(poll_once(app, flow), error="expired_token", code=70020)
    assert emu.control.pending_device_codes() == []


def test_expire_device_code_through_the_control_api(emu: EmulatorHandle) -> None:
    app = public_app(emu)
    flow = app.initiate_device_flow(scopes=[SMTP_SEND])
    emu.control.expire_device_code(flow["user_code"])

    assert_aad_error(poll_once(app, flow), error="expired_token", code=70020)


def test_a_device_code_is_redeemed_once(emu: EmulatorHandle) -> None:
    app = public_app(emu)
    flow = app.initiate_device_flow(scopes=[SMTP_SEND])
    emu.control.approve_device_code(flow["user_code"], CONTOSO_MAILBOX)
    assert "access_token" in poll_once(app, flow)

    again = post_token(
        emu,
        {"client_id": DEVICE_APP, "grant_type": DEVICE_GRANT, "device_code": flow["device_code"]},
        tenant="organizations",
    ).json()

    assert_aad_error(again, error="invalid_grant", code=54005)


def test_unknown_device_code(emu: EmulatorHandle) -> None:
    response = post_token(
        emu, {"client_id": DEVICE_APP, "grant_type": DEVICE_GRANT, "device_code": "nope"}, tenant="organizations"
    )

    assert response.status_code == 400
    assert_aad_error(response.json(), error="bad_verification_code", code=70000)


def test_app_without_public_client_flows_is_refused_at_the_token_endpoint(emu: EmulatorHandle) -> None:
    app = public_app(emu, NO_PUBLIC_FLOWS_APP, tenant=CONTOSO)
    flow = app.initiate_device_flow(scopes=[SMTP_SEND])
    assert "user_code" in flow  # Entra hands out the code and refuses at redemption

    response = post_token(
        emu, {"client_id": NO_PUBLIC_FLOWS_APP, "grant_type": DEVICE_GRANT, "device_code": flow["device_code"]}
    )

    assert response.status_code == 401
    assert_aad_error(response.json(), error="invalid_client", code=7000218)


def test_unknown_client_id(emu: EmulatorHandle) -> None:
    flow = public_app(emu, "00000000-0000-0000-0000-00000000dead", tenant=CONTOSO).initiate_device_flow(
        scopes=[SMTP_SEND]
    )

    assert "user_code" not in flow
    assert_aad_error(flow, error="unauthorized_client", code=700016)
    assert "'Contoso'" in flow["error_description"]


def test_single_tenant_app_from_another_directory(emu: EmulatorHandle) -> None:
    flow = public_app(emu, EXCHANGE_APP, tenant=FABRIKAM).initiate_device_flow(scopes=[SMTP_SEND])

    assert_aad_error(flow, error="unauthorized_client", code=700016)


def test_single_tenant_app_on_common_is_refused(emu: EmulatorHandle) -> None:
    flow = public_app(emu, EXCHANGE_APP, tenant="common").initiate_device_flow(scopes=[SMTP_SEND])

    assert_aad_error(flow, error="invalid_request", code=50194)


def test_approving_as_a_user_of_another_directory_fails(emu: EmulatorHandle) -> None:
    app = public_app(emu, EXCHANGE_APP, tenant=CONTOSO)
    flow = app.initiate_device_flow(scopes=[SMTP_SEND])

    with pytest.raises(Exception, match="AADSTS50020"):
        emu.control.approve_device_code(flow["user_code"], "admin@fabrikam.onmicrosoft.com")
    assert_aad_error(poll_once(app, flow), error="authorization_pending", code=70016)


def test_unknown_tenant_at_devicecode(emu: EmulatorHandle) -> None:
    response = emu.session().post(
        f"{emu.https_url}/nowhere.example/oauth2/v2.0/devicecode", data={"client_id": DEVICE_APP, "scope": SMTP_SEND}
    )

    assert response.status_code == 400
    assert_aad_error(response.json(), error="invalid_request", code=90002)
