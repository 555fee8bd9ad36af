"""Authorization code (PKCE, nonce), consent, admin consent, device login and logout through the HTML pages."""

from __future__ import annotations

import hashlib
import html
from typing import Any
from urllib.parse import urlencode

import msal
import pytest
import requests

from m365_emulator.testing import EmulatorHandle
from tests.emulator.browser import Browser, forms_of, redirect_params
from tests.emulator.conftest import (
    CALLBACK,
    CONTOSO,
    CONTOSO_ADMIN,
    CONTOSO_USER,
    DEVICE_APP,
    FABRIKAM,
    FABRIKAM_ADMIN,
    GRAPH_DEFAULT,
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

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended"),  # query mode is tested too
]

FILES = "https://graph.microsoft.com/Files.ReadWrite"


def sign_in(browser: Browser, page: requests.Response, credentials: tuple[str, str]) -> requests.Response:
    assert forms_of(page.text)[0].action == "/common/login", page.text[:800]
    return browser.submit(page, form_id="sign-in", login=credentials[0], passwd=credentials[1])


def signed_in_claims(
    emu: EmulatorHandle,
    account: tuple[str, str],
    *,
    client_id: str,
    secret: str,
    redirect_uri: str,
    scopes: tuple[str, ...] = ("User.Read",),
) -> dict[str, Any]:
    """The id token's claims once `account` signed in to a web app on the emulator's pages (consenting if asked)."""
    app = msal.ConfidentialClientApplication(
        client_id,
        client_credential=secret,
        authority=f"{emu.https_url}/organizations",
        instance_discovery=False,
        http_client=emu.session(),
    )
    flow = app.initiate_auth_code_flow(scopes=list(scopes), redirect_uri=redirect_uri, response_mode="form_post")
    browser = Browser(emu.http_url)
    page = sign_in(browser, browser.get(flow["auth_uri"]), account)
    if "consent" in {form.attrs.get("id") for form in forms_of(page.text)}:
        page = browser.submit(page, form_id="consent", button="idSIButton9")
    result = app.acquire_token_by_auth_code_flow(flow, forms_of(page.text)[0].fields)
    assert "id_token_claims" in result, result
    return dict(result["id_token_claims"])


def auth_code_flow(emu: EmulatorHandle, scopes: list[str], **kwargs: Any) -> tuple[Any, dict[str, Any]]:
    app = confidential_app(emu, tenant="organizations")
    return app, app.initiate_auth_code_flow(scopes=scopes, redirect_uri=CALLBACK, **kwargs)


def test_auth_code_with_pkce_nonce_consent_and_form_post(emu: EmulatorHandle) -> None:
    app, flow = auth_code_flow(emu, [FILES], response_mode="form_post")
    assert flow["auth_uri"].startswith(f"{emu.http_url}/organizations/oauth2/v2.0/authorize?")
    browser = Browser(emu.http_url)

    consent_page = sign_in(browser, browser.get(flow["auth_uri"]), CONTOSO_USER)
    assert "Permissions requested" in consent_page.text and 'data-permission="' + FILES in consent_page.text
    posted = browser.submit(consent_page, form_id="consent", button="idSIButton9")
    callback = forms_of(posted.text)[0]
    assert callback.action == CALLBACK and callback.method == "POST"
    assert {"code", "state", "session_state", "client_info"} <= set(callback.fields)

    result = app.acquire_token_by_auth_code_flow(flow, callback.fields)

    assert "access_token" in result, result
    claims = result["id_token_claims"]
    assert claims["preferred_username"] == CONTOSO_USER[0] and claims["tid"] == CONTOSO
    assert claims["nonce"] == hashlib.sha256(flow["nonce"].encode()).hexdigest()  # what MSAL put in the URL
    assert claims["iss"] == f"{emu.https_url}/{CONTOSO}/v2.0" and claims["aud"] == WEB_APP
    token_form = emu.control.requests_received("token")[-1]["form"]
    assert token_form["code_verifier"] and token_form["client_secret"] == WEB_SECRET
    consents = [c for c in emu.control.consents() if c["user"] == CONTOSO_USER[0]]
    assert consents and FILES in consents[0]["scopes"]


def test_second_authorize_reuses_the_session_and_prompt_login_forces_the_form(emu: EmulatorHandle) -> None:
    browser = Browser(emu.http_url)
    _, first = auth_code_flow(emu, ["User.Read"])
    assert "code" in redirect_params(sign_in(browser, browser.get(first["auth_uri"]), CONTOSO_USER))

    _, second = auth_code_flow(emu, ["User.Read"])
    assert "code" in redirect_params(browser.get(second["auth_uri"]))

    _, forced = auth_code_flow(emu, ["User.Read"], prompt="login")
    assert forms_of(browser.get(forced["auth_uri"]).text)[0].attrs["id"] == "sign-in"


def test_the_requests_login_hint_fills_the_form_before_the_account_signed_in_here(emu: EmulatorHandle) -> None:
    browser = Browser(emu.http_url)
    _, first = auth_code_flow(emu, ["User.Read"])
    sign_in(browser, browser.get(first["auth_uri"]), CONTOSO_ADMIN)

    _, hinted = auth_code_flow(emu, ["User.Read"], prompt="select_account", login_hint=CONTOSO_USER[0])
    assert forms_of(browser.get(hinted["auth_uri"]).text)[0].fields["login"] == CONTOSO_USER[0]
    _, unhinted = auth_code_flow(emu, ["User.Read"], prompt="select_account")
    assert forms_of(browser.get(unhinted["auth_uri"]).text)[0].fields["login"] == CONTOSO_ADMIN[0]


def _code(emu: EmulatorHandle, **extra: str) -> tuple[str, dict[str, str]]:
    params = {
        "client_id": WEB_APP,
        "response_type": "code",
        "redirect_uri": CALLBACK,
        "scope": "User.Read offline_access openid profile",
        "state": "s1",
        "code_challenge_method": "S256",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        **extra,
    }
    browser = Browser(emu.http_url)
    page = browser.get(f"/organizations/oauth2/v2.0/authorize?{urlencode(params)}")
    answer = redirect_params(sign_in(browser, page, CONTOSO_USER))
    assert answer["state"] == "s1"
    return answer["code"], params


def _redeem(
    emu: EmulatorHandle,
    code: str,
    verifier: str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    redirect_uri: str = CALLBACK,
) -> requests.Response:
    return post_token(
        emu,
        {
            "client_id": WEB_APP,
            "client_secret": WEB_SECRET,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "scope": "User.Read offline_access openid profile",
        },
        tenant="organizations",
    )


def test_code_is_single_use(emu: EmulatorHandle) -> None:
    code, _ = _code(emu)
    assert _redeem(emu, code).status_code == 200

    assert_aad_error(_redeem(emu, code).json(), error="invalid_grant", code=54005)


def test_wrong_code_verifier(emu: EmulatorHandle) -> None:
    code, _ = _code(emu)

    assert_aad_error(_redeem(emu, code, verifier="not-the-verifier").json(), error="invalid_grant", code=501481)


def test_plain_pkce(emu: EmulatorHandle) -> None:
    code, _ = _code(emu, code_challenge_method="plain", code_challenge="plain-verifier-plain-verifier-plain-verifier")

    assert _redeem(emu, code, verifier="plain-verifier-plain-verifier-plain-verifier").status_code == 200


def test_redirect_uri_must_match_at_the_token_endpoint(emu: EmulatorHandle) -> None:
    code, _ = _code(emu)

    result = _redeem(emu, code, redirect_uri="http://localhost/callback").json()

    assert_aad_error(result, error="invalid_grant", code=500117)


def test_code_expires_after_ten_minutes(emu: EmulatorHandle) -> None:
    code, _ = _code(emu)
    emu.control.advance_clock(601)

    assert_aad_error(_redeem(emu, code).json(), error="invalid_grant", code=70008)


def test_unregistered_redirect_uri_is_an_error_page_never_a_redirect(emu: EmulatorHandle) -> None:
    params = {
        "client_id": WEB_APP,
        "response_type": "code",
        "redirect_uri": "http://127.0.0.1/callback/",
        "scope": "User.Read",
    }

    page = Browser(emu.http_url).get(f"/organizations/oauth2/v2.0/authorize?{urlencode(params)}")

    assert page.status_code == 400 and "location" not in page.headers
    assert "AADSTS50011" in page.text


def test_wrong_password(emu: EmulatorHandle) -> None:
    _, flow = auth_code_flow(emu, ["User.Read"])
    browser = Browser(emu.http_url)

    page = sign_in(browser, browser.get(flow["auth_uri"]), (CONTOSO_USER[0], "wrong"))

    assert page.status_code == 400 and "AADSTS50126" in page.text
    assert forms_of(page.text)[0].attrs["id"] == "sign-in"


def test_consent_cancel_redirects_with_access_denied(emu: EmulatorHandle) -> None:
    _, flow = auth_code_flow(emu, [FILES])
    browser = Browser(emu.http_url)
    consent_page = sign_in(browser, browser.get(flow["auth_uri"]), CONTOSO_USER)

    answer = redirect_params(browser.submit(consent_page, form_id="consent", button="idBtn_Back"))

    assert answer["error"] == "access_denied" and answer["error_subcode"] == "cancel"
    assert answer["error_description"].startswith("AADSTS65004: ")
    assert answer["state"] == flow["state"]


def test_single_tenant_app_refuses_a_user_of_another_directory(emu: EmulatorHandle) -> None:
    app = confidential_app(emu, SINGLE_TENANT_APP, SINGLE_TENANT_SECRET, tenant=CONTOSO)
    flow = app.initiate_auth_code_flow(scopes=["User.Read"], redirect_uri=CALLBACK)
    browser = Browser(emu.http_url)

    page = sign_in(browser, browser.get(flow["auth_uri"]), FABRIKAM_ADMIN)

    assert "AADSTS50020" in page.text and "location" not in page.headers


def test_organizations_refuses_personal_accounts(emu: EmulatorHandle) -> None:
    _, flow = auth_code_flow(emu, ["User.Read"])
    browser = Browser(emu.http_url)

    page = sign_in(browser, browser.get(flow["auth_uri"]), ("someone@outlook.test", "Personal-1"))

    assert "AADSTS50020" in page.text


def test_prompt_none_without_a_session(emu: EmulatorHandle) -> None:
    _, flow = auth_code_flow(emu, ["User.Read"], prompt="none")

    answer = redirect_params(Browser(emu.http_url).get(flow["auth_uri"]))

    assert answer["error"] == "login_required" and answer["error_description"].startswith("AADSTS50058: ")


def test_directory_without_user_consent_needs_an_admin(emu: EmulatorHandle) -> None:
    _, flow = auth_code_flow(emu, [FILES])
    browser = Browser(emu.http_url)

    page = sign_in(browser, browser.get(flow["auth_uri"]), ("nancy@northwind.onmicrosoft.com", "Northwind-User-1"))

    assert "Need admin approval" in page.text and "AADSTS90094" in page.text


def admin_consent_url(tenant: str, state: str = "st-1") -> str:
    query = urlencode({"client_id": WEB_APP, "scope": GRAPH_DEFAULT, "redirect_uri": CALLBACK, "state": state})
    return f"/{tenant}/v2.0/adminconsent?{query}"


def test_admin_consent_grants_roles_for_client_credentials(emu: EmulatorHandle) -> None:
    before = confidential_app(emu, tenant=FABRIKAM).acquire_token_for_client(scopes=[GRAPH_DEFAULT])
    assert_aad_error(before, error="unauthorized_client", code=700016)
    browser = Browser(emu.http_url)
    consent_page = sign_in(browser, browser.get(admin_consent_url(FABRIKAM)), FABRIKAM_ADMIN)
    assert "Accept for your organization" in consent_page.text

    answer = redirect_params(browser.submit(consent_page, form_id="consent", button="idSIButton9"))

    assert answer["admin_consent"] == "True" and answer["tenant"] == FABRIKAM and answer["state"] == "st-1"
    assert answer["scope"] == GRAPH_DEFAULT, "the request's scope is echoed, not what was granted"
    after = confidential_app(emu, tenant=FABRIKAM).acquire_token_for_client(scopes=[GRAPH_DEFAULT])
    assert "access_token" in after, after
    assert any(c["tenant_id"] == FABRIKAM and c["admin_consent"] for c in emu.control.consents())


def test_admin_consent_declined(emu: EmulatorHandle) -> None:
    browser = Browser(emu.http_url)
    consent_page = sign_in(browser, browser.get(admin_consent_url("organizations", "st-2")), FABRIKAM_ADMIN)

    answer = redirect_params(browser.submit(consent_page, form_id="consent", button="idBtn_Back"))

    assert answer["error"] == "access_denied" and answer["state"] == "st-2"
    assert answer["error_description"].startswith("AADSTS65004: ")
    assert not any(c["tenant_id"] == FABRIKAM for c in emu.control.consents())


def test_admin_consent_by_a_non_admin(emu: EmulatorHandle) -> None:
    browser = Browser(emu.http_url)

    page = sign_in(browser, browser.get(admin_consent_url(CONTOSO)), CONTOSO_USER)

    assert "Need admin approval" in page.text and "AADSTS90094" in page.text


def test_device_login_pages(emu: EmulatorHandle) -> None:
    app = public_app(emu)
    flow = app.initiate_device_flow(scopes=[SMTP_SEND])
    browser = Browser(emu.http_url)
    entry = browser.get("/devicelogin")

    page = sign_in(browser, browser.submit(entry, form_id="device-code", otc=flow["user_code"].lower()), CONTOSO_ADMIN)
    assert "Are you trying to sign in to Test Device App?" in page.text and SMTP_SEND in page.text
    outcome = browser.submit(page, form_id="consent", button="idSIButton9")

    assert "You have signed in to the Test Device App application" in outcome.text
    result = app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)
    assert result["id_token_claims"]["preferred_username"] == CONTOSO_ADMIN[0]


def test_device_login_cancel_declines(emu: EmulatorHandle) -> None:
    app = public_app(emu)
    flow = app.initiate_device_flow(scopes=[SMTP_SEND])
    browser = Browser(emu.http_url)
    entry = browser.get("/devicelogin")
    page = sign_in(browser, browser.submit(entry, form_id="device-code", otc=flow["user_code"]), CONTOSO_ADMIN)

    browser.submit(page, form_id="consent", button="idBtn_Back")

    assert_aad_error(
        app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True),
        error="authorization_declined",
        code=70000,
    )


def test_device_login_with_a_wrong_code(emu: EmulatorHandle) -> None:
    browser = Browser(emu.http_url)

    page = browser.submit(browser.get("/devicelogin"), form_id="device-code", otc="WRONGCODE")

    assert page.status_code == 400 and "That code didn't work" in html.unescape(page.text)


def test_logout_clears_the_session_and_redirects(emu: EmulatorHandle) -> None:
    browser = Browser(emu.http_url)
    _, flow = auth_code_flow(emu, ["User.Read"])
    redirect_params(sign_in(browser, browser.get(flow["auth_uri"]), CONTOSO_USER))

    out = browser.get(f"/organizations/oauth2/v2.0/logout?post_logout_redirect_uri={CALLBACK}")
    assert out.status_code == 302 and out.headers["location"] == CALLBACK

    _, again = auth_code_flow(emu, ["User.Read"])
    assert forms_of(browser.get(again["auth_uri"]).text)[0].attrs["id"] == "sign-in"


def test_public_client_device_app_does_not_send_a_secret(emu: EmulatorHandle) -> None:
    app = public_app(emu, DEVICE_APP)
    flow = app.initiate_device_flow(scopes=[SMTP_SEND])
    emu.control.approve_device_code(flow["user_code"], CONTOSO_ADMIN[0])
    app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)

    assert all("client_secret" not in r["form"] for r in emu.control.requests_received("token"))
