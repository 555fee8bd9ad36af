"""OIDC discovery, instance discovery and JWKS (protocols.md §1.1, §1.7)."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest

from m365_emulator.testing import EmulatorHandle, start_emulator
from tests.emulator.conftest import (
    CONTOSO,
    CONTOSO_MAILBOX,
    DEVICE_APP,
    SEED,
    SMTP_SEND,
    assert_aad_error,
    public_app,
)

pytestmark = pytest.mark.emulator


def discovery(emu: EmulatorHandle, tenant: str):  # type: ignore[no-untyped-def]
    return emu.session().get(f"{emu.https_url}/{tenant}/v2.0/.well-known/openid-configuration", timeout=10)


@pytest.mark.parametrize("tenant", [CONTOSO, "contoso.onmicrosoft.com", "CONTOSO.COM"])
def test_a_directory_by_guid_or_domain(emu: EmulatorHandle, tenant: str) -> None:
    response = discovery(emu, tenant)
    doc = response.json()

    assert response.headers["cache-control"] == "max-age=86400, private"
    assert doc["issuer"] == f"{emu.https_url}/{CONTOSO}/v2.0"
    assert doc["token_endpoint"] == f"{emu.https_url}/{CONTOSO}/oauth2/v2.0/token"
    assert doc["device_authorization_endpoint"] == f"{emu.https_url}/{CONTOSO}/oauth2/v2.0/devicecode"
    assert doc["jwks_uri"] == f"{emu.https_url}/{CONTOSO}/discovery/v2.0/keys"
    assert doc["authorization_endpoint"] == f"{emu.http_url}/{CONTOSO}/oauth2/v2.0/authorize"
    assert doc["end_session_endpoint"] == f"{emu.http_url}/{CONTOSO}/oauth2/v2.0/logout"
    assert doc["token_endpoint_auth_methods_supported"] == [
        "client_secret_post",
        "private_key_jwt",
        "client_secret_basic",
    ]
    assert doc["response_modes_supported"] == ["query", "fragment", "form_post"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {
        "subject_types_supported",
        "scopes_supported",
        "claims_supported",
        "tenant_region_scope",
        "cloud_instance_name",
        "cloud_graph_host_name",
        "msgraph_host",
        "rbac_url",
        "kerberos_endpoint",
        "userinfo_endpoint",
    } <= set(doc)


@pytest.mark.parametrize("tenant", ["common", "organizations", "consumers"])
def test_multi_tenant_endpoints_keep_the_tenantid_placeholder(emu: EmulatorHandle, tenant: str) -> None:
    doc = discovery(emu, tenant).json()

    assert doc["issuer"] == f"{emu.https_url}/{{tenantid}}/v2.0"
    assert doc["token_endpoint"] == f"{emu.https_url}/{tenant}/oauth2/v2.0/token"


def test_unknown_tenant(emu: EmulatorHandle) -> None:
    response = discovery(emu, "nowhere.onmicrosoft.com")

    assert response.status_code == 400
    assert_aad_error(response.json(), error="invalid_tenant", code=90002)
    assert "Tenant 'nowhere.onmicrosoft.com' not found" in response.json()["error_description"]


def test_msal_refuses_an_unknown_tenant(emu: EmulatorHandle) -> None:
    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        public_app(emu, tenant="nowhere.onmicrosoft.com")


def test_instance_discovery_versions(emu: EmulatorHandle) -> None:
    session = emu.session()
    url = f"{emu.https_url}/common/discovery/instance"
    endpoint = f"{emu.https_url}/{CONTOSO}/oauth2/v2.0/authorize"

    v11 = session.get(url, params={"api-version": "1.1", "authorization_endpoint": endpoint}).json()
    v10 = session.get(url, params={"api-version": "1.0", "authorization_endpoint": endpoint}).json()
    foreign = session.get(
        url, params={"api-version": "1.1", "authorization_endpoint": "https://elsewhere.example/x/oauth2/authorize"}
    )

    expected = f"{emu.https_url}/{CONTOSO}/v2.0/.well-known/openid-configuration"
    assert v11["tenant_discovery_endpoint"] == expected and v11["api-version"] == "1.1"
    assert "127.0.0.1" in v11["metadata"][0]["aliases"]
    assert v10 == {"tenant_discovery_endpoint": expected, "api-version": "1.0"}
    assert_aad_error(foreign.json(), error="invalid_instance", code=50049)


def test_id_token_verifies_against_the_jwks(emu: EmulatorHandle) -> None:
    app = public_app(emu)
    flow = app.initiate_device_flow(scopes=[SMTP_SEND])
    emu.control.approve_device_code(flow["user_code"], CONTOSO_MAILBOX)
    id_token = app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)["id_token"]
    jwks = emu.session().get(f"{emu.https_url}/{CONTOSO}/discovery/v2.0/keys").json()
    header = jwt.get_unverified_header(id_token)
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])

    claims = jwt.decode(
        id_token,
        jwt.PyJWK(key).key,
        algorithms=["RS256"],
        audience=DEVICE_APP,
        issuer=f"{emu.https_url}/{CONTOSO}/v2.0",
    )

    assert claims["ver"] == "2.0" and claims["preferred_username"] == CONTOSO_MAILBOX
    assert {"aud", "iss", "tid", "oid", "sub", "name", "iat", "nbf", "exp"} <= set(claims)
    assert key["issuer"] == f"{emu.https_url}/{CONTOSO}/v2.0" and key["kty"] == "RSA"


def test_ca_and_signing_key_survive_a_restart(tmp_path: Path) -> None:
    def snapshot() -> tuple[str, str]:
        with start_emulator(SEED, tmp_path) as emu:
            info = json.loads((tmp_path / "emulator.json").read_text())
            assert info["pid"] == emu.pid and info["https_url"] == emu.https_url
            kid = emu.session().get(f"{emu.https_url}/common/discovery/v2.0/keys").json()["keys"][0]["kid"]
            return emu.ca_path.read_text(), kid

    first, second = snapshot(), snapshot()

    assert first == second
    assert not (tmp_path / "emulator.json").exists()  # removed on shutdown, so scripts never read a stale one
