"""Token endpoint: refresh rotation and its failures, client credentials, client authentication, introspection."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest

from m365_emulator.testing import EmulatorHandle
from tests.emulator.conftest import (
    CONTOSO,
    CONTOSO_MAILBOX,
    DEVICE_APP,
    EXCHANGE_APP,
    EXPIRED_SECRET_APP,
    FABRIKAM,
    GRAPH_DEFAULT,
    SHORT_DEVICE_APP,
    SINGLE_TENANT_APP,
    SINGLE_TENANT_SECRET,
    SMTP_SEND,
    WEB_APP,
    WEB_SECRET,
    assert_aad_error,
    confidential_app,
    post_token,
    public_app,
)

pytestmark = pytest.mark.emulator

MAILBOX_OID = "a1b2c3d4-0004-4000-8000-00000000c004"


def device_tokens(emu: EmulatorHandle, client_id: str = DEVICE_APP, upn: str = CONTOSO_MAILBOX) -> dict[str, Any]:
    app = public_app(emu, client_id)
    flow = app.initiate_device_flow(scopes=[SMTP_SEND])
    emu.control.approve_device_code(flow["user_code"], upn)
    result: dict[str, Any] = app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)
    assert "access_token" in result, result
    return result


def refresh(
    emu: EmulatorHandle,
    refresh_token: str,
    client_id: str = DEVICE_APP,
    scope: str = f"{SMTP_SEND} offline_access openid profile",
) -> dict[str, Any]:
    result: dict[str, Any] = post_token(
        emu,
        {
            "client_id": client_id,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "scope": scope,
            "client_info": "1",
        },
        tenant="organizations",
    ).json()
    return result


def test_refresh_rotates_and_the_old_token_keeps_working(emu: EmulatorHandle) -> None:
    first = device_tokens(emu)

    second = public_app(emu).acquire_token_by_refresh_token(first["refresh_token"], scopes=[SMTP_SEND])
    third = refresh(emu, first["refresh_token"])

    assert second["refresh_token"] not in (None, first["refresh_token"])
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])
    assert third["scope"] == f"{SMTP_SEND} offline_access openid profile"
    client_info = json.loads(base64.urlsafe_b64decode(third["client_info"] + "=="))
    assert client_info == {"uid": MAILBOX_OID, "utid": CONTOSO}


def test_msal_silent_refresh_through_the_cache(emu: EmulatorHandle) -> None:
    app = public_app(emu)
    flow = app.initiate_device_flow(scopes=[SMTP_SEND])
    emu.control.approve_device_code(flow["user_code"], CONTOSO_MAILBOX)
    app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)
    account = app.get_accounts()[0]

    cached = app.acquire_token_silent([SMTP_SEND], account=account)
    forced = app.acquire_token_silent([SMTP_SEND], account=account, force_refresh=True)

    assert cached["token_source"] == "cache"
    assert forced["token_source"] == "identity_provider"
    assert emu.control.requests_received("token")[-1]["form"]["grant_type"] == "refresh_token"


def test_revoked_grant(emu: EmulatorHandle) -> None:
    tokens = device_tokens(emu)

    assert emu.control.revoke_grant(CONTOSO_MAILBOX, DEVICE_APP) == 1

    assert_aad_error(refresh(emu, tokens["refresh_token"]), error="invalid_grant", code=50173, suberror="bad_token")


def test_refresh_token_inactive_for_90_days(emu: EmulatorHandle) -> None:
    tokens = device_tokens(emu)
    emu.control.age_refresh_tokens(91, upn=CONTOSO_MAILBOX, client_id=DEVICE_APP)

    result = refresh(emu, tokens["refresh_token"])

    assert_aad_error(result, error="invalid_grant", code=700082, suberror="bad_token")
    assert "inactive for 90.00:00:00" in result["error_description"]


def test_refresh_token_used_within_90_days_keeps_sliding(emu: EmulatorHandle) -> None:
    tokens = device_tokens(emu)
    emu.control.advance_clock(80 * 86400)
    newer = refresh(emu, tokens["refresh_token"])
    emu.control.advance_clock(80 * 86400)

    assert "access_token" in refresh(emu, newer["refresh_token"])
    assert_aad_error(refresh(emu, tokens["refresh_token"]), error="invalid_grant", code=700082, suberror="bad_token")


def test_removed_consent(emu: EmulatorHandle) -> None:
    tokens = device_tokens(emu)
    assert emu.control.remove_consent(DEVICE_APP, CONTOSO) == 1

    assert_aad_error(
        refresh(emu, tokens["refresh_token"]), error="invalid_grant", code=65001, suberror="consent_required"
    )


def test_refresh_for_a_scope_never_consented(emu: EmulatorHandle) -> None:
    tokens = device_tokens(emu)

    result = refresh(emu, tokens["refresh_token"], scope="https://outlook.office.com/POP.AccessAsUser.All")

    assert_aad_error(result, error="invalid_grant", code=65001, suberror="consent_required")


def test_refresh_token_of_another_app(emu: EmulatorHandle) -> None:
    tokens = device_tokens(emu)

    result = refresh(emu, tokens["refresh_token"], client_id=SHORT_DEVICE_APP)

    assert_aad_error(result, error="invalid_grant", code=70000, suberror="client_mismatch")


def test_scopes_of_two_resources_are_refused(emu: EmulatorHandle) -> None:
    tokens = device_tokens(emu)

    result = refresh(emu, tokens["refresh_token"], scope=f"{SMTP_SEND} https://graph.microsoft.com/User.Read")

    assert_aad_error(result, error="invalid_scope", code=28000)


def test_client_credentials_carry_the_consented_roles(emu: EmulatorHandle) -> None:
    result = confidential_app(emu).acquire_token_for_client(scopes=[GRAPH_DEFAULT])

    assert set(result) >= {"access_token", "token_type", "expires_in"}
    assert "refresh_token" not in result and "id_token" not in result
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["roles"] == ["User.Read.All"] and claims["tid"] == CONTOSO
    assert claims["aud"] == "https://graph.microsoft.com" and "scp" not in claims
    assert emu.control.requests_received("token")[-1]["form"]["client_secret"] == WEB_SECRET


def test_client_credentials_in_a_directory_without_consent(emu: EmulatorHandle) -> None:
    result = confidential_app(emu, tenant=FABRIKAM).acquire_token_for_client(scopes=[GRAPH_DEFAULT])

    assert_aad_error(result, error="unauthorized_client", code=700016)


def test_client_credentials_need_dot_default(emu: EmulatorHandle) -> None:
    response = post_token(
        emu,
        {
            "client_id": WEB_APP,
            "client_secret": WEB_SECRET,
            "grant_type": "client_credentials",
            "scope": "https://graph.microsoft.com/User.Read.All",
        },
    )

    assert_aad_error(response.json(), error="invalid_scope", code=1002012)


def test_client_credentials_with_http_basic(emu: EmulatorHandle) -> None:
    response = post_token(emu, {"grant_type": "client_credentials", "scope": GRAPH_DEFAULT}, auth=(WEB_APP, WEB_SECRET))

    assert response.status_code == 200 and response.json()["token_type"] == "Bearer"


@pytest.mark.parametrize(
    ("client_id", "secret", "status", "error", "code"),
    [
        (WEB_APP, None, 401, "invalid_client", 7000218),
        (WEB_APP, "wrong", 401, "invalid_client", 7000215),
        (EXPIRED_SECRET_APP, "old~Secret.Value.0004", 401, "invalid_client", 7000222),
        (EXCHANGE_APP, "anything", 401, "invalid_client", 700025),
        ("00000000-0000-0000-0000-00000000dead", "x", 400, "unauthorized_client", 700016),
    ],
)
def test_client_authentication_errors(
    emu: EmulatorHandle, client_id: str, secret: str | None, status: int, error: str, code: int
) -> None:
    data = {"client_id": client_id, "grant_type": "client_credentials", "scope": GRAPH_DEFAULT}
    if secret:
        data["client_secret"] = secret

    response = post_token(emu, data)

    assert response.status_code == status
    assert_aad_error(response.json(), error=error, code=code)


def test_expire_secret_through_the_control_api(emu: EmulatorHandle) -> None:
    emu.control.expire_secret(WEB_APP)

    result = confidential_app(emu).acquire_token_for_client(scopes=[GRAPH_DEFAULT])

    assert_aad_error(result, error="invalid_client", code=7000222)


def test_single_tenant_app_from_another_directory(emu: EmulatorHandle) -> None:
    app = confidential_app(emu, SINGLE_TENANT_APP, SINGLE_TENANT_SECRET, tenant=FABRIKAM)

    assert_aad_error(app.acquire_token_for_client(scopes=[GRAPH_DEFAULT]), error="unauthorized_client", code=700016)


def test_client_credentials_on_common(emu: EmulatorHandle) -> None:
    response = post_token(
        emu,
        {"client_id": WEB_APP, "client_secret": WEB_SECRET, "grant_type": "client_credentials", "scope": GRAPH_DEFAULT},
        tenant="common",
    )

    assert_aad_error(response.json(), error="invalid_request", code=50059)


def test_unsupported_grant_and_missing_parameters(emu: EmulatorHandle) -> None:
    assert_aad_error(
        post_token(emu, {"client_id": WEB_APP, "grant_type": "password"}).json(),
        error="unsupported_grant_type",
        code=70003,
    )
    assert_aad_error(post_token(emu, {"client_id": WEB_APP}).json(), error="invalid_request", code=900144)


def test_correlation_id_echoes_client_request_id(emu: EmulatorHandle) -> None:
    cid = "0a49cdbc-2e94-4089-bc6f-1162b123592c"
    response = post_token(emu, {"client_id": WEB_APP}, headers={"client-request-id": cid})

    assert response.json()["correlation_id"] == cid
    assert f"Correlation ID: {cid}" in response.json()["error_description"]


def test_access_token_expiry_follows_the_emulator_clock(emu: EmulatorHandle) -> None:
    tokens = device_tokens(emu, SHORT_DEVICE_APP)
    assert tokens["expires_in"] == 600

    def introspect() -> dict[str, Any]:
        result: dict[str, Any] = (
            emu.session().post(f"{emu.https_url}/introspect", data={"token": tokens["access_token"]}).json()
        )
        return result

    assert introspect()["active"] is True
    emu.control.advance_clock(601)
    assert introspect() == {"active": False}


def test_introspection_refuses_id_tokens_and_garbage(emu: EmulatorHandle) -> None:
    tokens = device_tokens(emu)
    session = emu.session()

    for token in (tokens["id_token"], "garbage", ""):
        assert session.post(f"{emu.http_url}/introspect", data={"token": token}).json() == {"active": False}
