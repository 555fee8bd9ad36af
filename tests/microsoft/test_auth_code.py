"""Browser sign-in (authorization code + PKCE + nonce) with our id token checks, and admin consent."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from microsoft import errors, identity
from microsoft.config import AppCredentials
from microsoft.http import session_create
from tests.microsoft.conftest import (
    CONTOSO,
    CONTOSO_USER,
    FABRIKAM,
    FABRIKAM_USER,
    GRAPH_DEFAULT,
    REDIRECT_URI,
    USER_READ,
    WEB_APP,
    Browser,
)

pytestmark = pytest.mark.emulator
FABRIKAM_ADMIN = ("admin@fabrikam.onmicrosoft.com", "Fabrikam-Admin-1")


def _start(**kwargs: Any) -> identity.AuthCodeStart:
    return identity.auth_code_start(
        app=WEB_APP, tenant="organizations", scopes=[USER_READ], redirect_uri=REDIRECT_URI, **kwargs
    )


def _finish(started: identity.AuthCodeStart, callback: dict[str, str], **kwargs: Any) -> identity.TokenGrant:
    options: dict[str, Any] = {"expected_tenant_id": CONTOSO, **kwargs}
    return identity.auth_code_finish(
        app=WEB_APP, tenant="organizations", flow=started.flow, callback_params=callback, **options
    )


def test_sign_in_redeems_the_code_with_pkce_and_validates_the_id_token(m365: Any, person: Browser) -> None:
    started = _start(login_hint=CONTOSO_USER[0])
    query = parse_qs(urlsplit(started.auth_uri).query)
    assert started.auth_uri.startswith(m365.http_url)
    assert query["response_mode"] == ["form_post"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["nonce"] and query["state"] == [started.flow["state"]]
    json.dumps(started.flow)  # persistable as is

    callback = person.sign_in(started.auth_uri, *CONTOSO_USER)
    m365.control.clear_requests()
    grant = _finish(started, callback)

    assert grant.account is not None
    assert grant.account.username == CONTOSO_USER[0]
    assert grant.account.tenant_id == CONTOSO
    assert grant.id_token_claims["tid"] == CONTOSO
    assert grant.id_token_claims["aud"] == WEB_APP.client_id
    assert USER_READ in grant.scopes
    [request] = m365.control.requests_received("token")
    assert request["form"]["grant_type"] == "authorization_code"
    assert request["form"]["code_verifier"] == started.flow["code_verifier"]
    assert request["form"]["client_secret"] == WEB_APP.client_secret


def test_tampered_state_is_refused_before_redeeming(m365: Any, person: Browser) -> None:
    started = _start()
    callback = person.sign_in(started.auth_uri, *CONTOSO_USER)
    m365.control.clear_requests()

    with pytest.raises(errors.StateMismatch):
        _finish(started, {**callback, "state": "forged"})

    assert m365.control.requests_received("token") == []


def test_id_token_with_another_nonce_is_refused(m365: Any, person: Browser) -> None:
    started = _start()
    callback = person.sign_in(started.auth_uri, *CONTOSO_USER)
    replayed = identity.AuthCodeStart(auth_uri=started.auth_uri, flow={**started.flow, "nonce": "another-nonce"})

    with pytest.raises(errors.IdTokenRejected) as raised:
        _finish(replayed, callback)

    assert "nonce" in raised.value.explanation


def test_account_from_another_directory_is_refused(m365: Any, person: Browser) -> None:
    started = _start()
    callback = person.sign_in(started.auth_uri, *FABRIKAM_USER)

    with pytest.raises(errors.IdTokenRejected) as raised:
        _finish(started, callback, expected_tenant_id=CONTOSO)

    assert raised.value.code == 50020
    assert "another Microsoft 365 directory" in raised.value.explanation


def test_any_directory_is_accepted_when_none_is_expected(m365: Any, person: Browser) -> None:
    started = _start()
    callback = person.sign_in(started.auth_uri, *FABRIKAM_USER)

    grant = _finish(started, callback, expected_tenant_id=None)

    assert grant.id_token_claims["tid"] == FABRIKAM


def test_expired_id_token_is_refused(m365: Any, person: Browser) -> None:
    started = _start()
    callback = person.sign_in(started.auth_uri, *CONTOSO_USER)

    with pytest.raises(errors.IdTokenRejected) as raised:
        _finish(started, callback, now=datetime.now(UTC) + timedelta(hours=3))

    assert "expired" in raised.value.explanation


def test_id_token_from_a_clock_in_the_future_is_refused(m365: Any, person: Browser) -> None:
    m365.control.advance_clock(2 * 3600)
    started = _start()
    callback = person.sign_in(started.auth_uri, *CONTOSO_USER)

    with pytest.raises(errors.IdTokenRejected) as raised:
        _finish(started, callback)

    assert "not valid yet" in raised.value.explanation


def test_declined_consent_needs_reconsent(m365: Any, person: Browser) -> None:
    started = _start()
    callback = person.sign_in(started.auth_uri, *FABRIKAM_USER, accept=False)

    with pytest.raises(errors.ReconsentRequired) as raised:
        _finish(started, callback)

    assert raised.value.code == 65004
    assert "declined" in raised.value.explanation


def test_code_redeemed_twice(m365: Any, person: Browser) -> None:
    started = _start()
    callback = person.sign_in(started.auth_uri, *CONTOSO_USER)
    _finish(started, callback)

    with pytest.raises(errors.ReconsentRequired) as raised:
        _finish(started, callback)

    assert raised.value.code == 54005


def test_admin_consent_url_uses_the_discovered_browser_host(m365: Any) -> None:
    url = identity.admin_consent_url(
        client_id=WEB_APP.client_id, tenant="organizations", redirect_uri=REDIRECT_URI, state="s-1"
    )

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == m365.http_url
    assert parts.path == "/organizations/v2.0/adminconsent"
    assert parse_qs(parts.query) == {
        "client_id": [WEB_APP.client_id],
        "scope": [GRAPH_DEFAULT],
        "redirect_uri": [REDIRECT_URI],
        "state": ["s-1"],
    }


def test_admin_consent_grants_app_permissions_in_the_directory(m365: Any, person: Browser) -> None:
    url = identity.admin_consent_url(
        client_id=WEB_APP.client_id, tenant="organizations", redirect_uri=REDIRECT_URI, state="s-2"
    )
    params = person.admin_consent(url, *FABRIKAM_ADMIN)

    result = identity.admin_consent_parse(params=params, expected_state="s-2")

    assert result.tenant_id == FABRIKAM
    grant = identity.client_credentials_acquire(app=WEB_APP, tenant=result.tenant_id, scope=GRAPH_DEFAULT)
    assert "User.Read.All" in (identity.app_token_roles(grant.access_token) or ()), "granted roles show in the token"


def test_an_opaque_app_token_has_no_readable_roles(m365: Any) -> None:
    m365.control.set_opaque_tokens(WEB_APP.client_id)

    grant = identity.client_credentials_acquire(app=WEB_APP, tenant=CONTOSO, scope=GRAPH_DEFAULT)

    assert grant.access_token and identity.app_token_roles(grant.access_token) is None


def test_declined_admin_consent(m365: Any, person: Browser) -> None:
    url = identity.admin_consent_url(
        client_id=WEB_APP.client_id, tenant="organizations", redirect_uri=REDIRECT_URI, state="s-3"
    )
    params = person.admin_consent(url, *FABRIKAM_ADMIN, accept=False)

    with pytest.raises(errors.ReconsentRequired) as raised:
        identity.admin_consent_parse(params=params, expected_state="s-3")

    assert raised.value.code == 65004


def test_admin_consent_with_a_forged_state(m365: Any) -> None:
    params = {"admin_consent": "True", "tenant": FABRIKAM, "scope": "x", "state": "forged"}

    with pytest.raises(errors.StateMismatch):
        identity.admin_consent_parse(params=params, expected_state="s-4")


def test_admin_consent_cancelled_without_a_code() -> None:
    params = {"error": "access_denied", "error_description": "The admin canceled the request", "state": "s-5"}

    with pytest.raises(errors.ReconsentRequired) as raised:
        identity.admin_consent_parse(params=params, expected_state="s-5")

    assert "declined" in raised.value.explanation


def _signed_in_id_token(person: Browser) -> str:
    started = _start()
    grant = _finish(started, person.sign_in(started.auth_uri, *CONTOSO_USER))
    [entry] = json.loads(grant.token_cache)["IdToken"].values()
    return str(entry["secret"])


def _check(id_token: str, **overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "app": WEB_APP,
        "tenant": "organizations",
        "session": session_create(),
        "expected_tenant_id": CONTOSO,
        "allow_personal_accounts": False,
        "now": datetime.now(UTC),
        **overrides,
    }
    return identity._validated_id_token_claims(id_token, **options)


def test_id_token_with_an_altered_payload_fails_the_signature_check(m365: Any, person: Browser) -> None:
    id_token = _signed_in_id_token(person)
    header, payload, signature = id_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "oid": "someone-else"}).encode()).rstrip(b"=").decode()

    assert _check(id_token)["oid"] == claims["oid"]
    with pytest.raises(errors.IdTokenRejected) as raised:
        _check(f"{header}.{forged}.{signature}")

    assert "signature" in raised.value.explanation


def test_id_token_for_another_app_is_refused(m365: Any, person: Browser) -> None:
    id_token = _signed_in_id_token(person)
    other_app = AppCredentials(client_id="7e570005-0000-4000-8000-000000000005", client_secret="x")

    with pytest.raises(errors.IdTokenRejected) as raised:
        _check(id_token, app=other_app)

    assert "another app" in raised.value.explanation


def test_id_token_checked_against_another_issuer_is_refused(m365: Any, person: Browser) -> None:
    id_token = _signed_in_id_token(person)

    with pytest.raises(errors.IdTokenRejected) as raised:
        _check(id_token, tenant=FABRIKAM, expected_tenant_id=None)

    assert "issuer" in raised.value.explanation


def test_personal_account_is_refused_where_a_work_account_is_required(m365: Any, person: Browser) -> None:
    started = identity.auth_code_start(app=WEB_APP, tenant="common", scopes=[USER_READ], redirect_uri=REDIRECT_URI)
    callback = person.sign_in(started.auth_uri, "someone@outlook.test", "Personal-1")

    with pytest.raises(errors.IdTokenRejected) as raised:
        identity.auth_code_finish(
            app=WEB_APP, tenant="common", flow=started.flow, callback_params=callback, expected_tenant_id=None
        )

    assert "personal" in raised.value.explanation.lower()
