"""Directory roles in tokens (`wids`), who may grant Graph app roles, and app roles that lag their consent."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from m365_emulator.testing import EmulatorHandle
from tests.emulator.browser import Browser, redirect_params
from tests.emulator.conftest import (
    CONTOSO,
    CONTOSO_ADMIN,
    CONTOSO_USER,
    FABRIKAM,
    FABRIKAM_ADMIN,
    GRAPH_DEFAULT,
    NORTHWIND,
    WEB_APP,
    confidential_app,
)
from tests.emulator.test_browser_flows import admin_consent_url, sign_in, signed_in_claims

pytestmark = pytest.mark.emulator

LOGIN_APP = "6e1c0a01-7d2b-4c3e-9f10-000000000a01"  # registered with groupMembershipClaims "DirectoryRole"
LOGIN_SECRET = "login~Secret.Value.0001"
LOGIN_CALLBACK = "http://127.0.0.1:8000/integrations/callback/"
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
CLOUD_APPLICATION_ADMINISTRATOR = "158c047a-c907-4556-b7ef-446551a6b5f7"
MEMBER = "b79fbf4d-3ef9-4689-8143-76b194e85509"
CLOUD_ADMIN = ("cloud.admin@northwind.onmicrosoft.com", "Northwind-Cloud-1")
PIM_ADMIN = ("pim.admin@northwind.onmicrosoft.com", "Northwind-Pim-1")


def _login_claims(emu: EmulatorHandle, account: tuple[str, str]) -> dict[str, Any]:
    return signed_in_claims(emu, account, client_id=LOGIN_APP, secret=LOGIN_SECRET, redirect_uri=LOGIN_CALLBACK)


def test_an_app_asking_for_directory_roles_gets_the_admins_roles_in_wids(emu: EmulatorHandle) -> None:
    admin = _login_claims(emu, CONTOSO_ADMIN)
    user = _login_claims(emu, CONTOSO_USER)
    cloud_admin = _login_claims(emu, CLOUD_ADMIN)

    assert admin["tid"] == CONTOSO and set(admin["wids"]) == {GLOBAL_ADMINISTRATOR, MEMBER}
    assert user["wids"] == [MEMBER]
    assert cloud_admin["tid"] == NORTHWIND and set(cloud_admin["wids"]) == {CLOUD_APPLICATION_ADMINISTRATOR, MEMBER}


def test_a_role_only_eligible_in_pim_is_not_in_wids(emu: EmulatorHandle) -> None:
    assert _login_claims(emu, PIM_ADMIN)["wids"] == [MEMBER]


def test_an_app_without_role_claims_gets_no_wids(emu: EmulatorHandle) -> None:
    claims = signed_in_claims(
        emu, CONTOSO_ADMIN, client_id=WEB_APP, secret="web~Secret.Value.0003", redirect_uri="http://127.0.0.1/callback"
    )
    assert "wids" not in claims


def test_a_cloud_application_administrator_cannot_grant_graph_application_permissions(emu: EmulatorHandle) -> None:
    browser = Browser(emu.http_url)

    page = sign_in(browser, browser.get(admin_consent_url(NORTHWIND)), CLOUD_ADMIN)

    assert "Need admin approval" in page.text
    assert not any(c["tenant_id"] == NORTHWIND and c["client_id"] == WEB_APP for c in emu.control.consents())


def test_roles_appear_in_app_tokens_only_after_the_lag(emu: EmulatorHandle) -> None:
    emu.control.set_role_lag(120)
    browser = Browser(emu.http_url)
    consent_page = sign_in(browser, browser.get(admin_consent_url(FABRIKAM)), FABRIKAM_ADMIN)
    assert redirect_params(browser.submit(consent_page, form_id="consent", button="idSIButton9"))["tenant"] == FABRIKAM

    early = confidential_app(emu, tenant=FABRIKAM).acquire_token_for_client(scopes=[GRAPH_DEFAULT])
    emu.control.advance_clock(121)
    later = confidential_app(emu, tenant=FABRIKAM).acquire_token_for_client(scopes=[GRAPH_DEFAULT])

    assert "roles" not in jwt.decode(early["access_token"], options={"verify_signature": False})
    assert "User.Read.All" in jwt.decode(later["access_token"], options={"verify_signature": False})["roles"]
    seeded = confidential_app(emu).acquire_token_for_client(scopes=[GRAPH_DEFAULT])  # consented long ago
    assert jwt.decode(seeded["access_token"], options={"verify_signature": False})["roles"] == ["User.Read.All"]


def test_opaque_app_tokens_are_no_jwt_but_still_valid(emu: EmulatorHandle) -> None:
    emu.control.set_opaque_tokens(WEB_APP)

    token = confidential_app(emu).acquire_token_for_client(scopes=[GRAPH_DEFAULT])["access_token"]

    with pytest.raises(jwt.DecodeError):
        jwt.decode(token, options={"verify_signature": False})
    introspected = emu.session().post(f"{emu.https_url}/introspect", data={"token": token}, timeout=10).json()
    assert introspected["active"] is True and introspected["tid"] == CONTOSO
