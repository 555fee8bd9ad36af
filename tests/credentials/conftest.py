"""Fixtures of the token store tests: a registered test owner, real Microsoft grants from the emulator."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from credentials.choices import CredentialKind
from credentials.models import MicrosoftCredential
from credentials.registry import owner_type_register, owner_type_unregister
from credentials.services import credential_save
from microsoft.config import GRAPH_DEFAULT_SCOPE
from microsoft.identity import (
    AppCredentials,
    DeviceFlowState,
    TokenGrant,
    auth_code_finish,
    auth_code_start,
    client_credentials_acquire,
    device_flow_poll,
    device_flow_start,
)
from tests.credentials.apps import (
    CONTOSO,
    DEVICE_APP,
    TEST_OWNER,
    TEST_OWNER_TYPE,
    WEB_APP,
    WEB_APP_SECRET,
)

MAILBOX = "printing@contoso.onmicrosoft.com"
MAIL_SCOPES = ["https://outlook.office.com/SMTP.Send", "https://outlook.office.com/IMAP.AccessAsUser.All"]
WEB_USER = ("adele.vance@contoso.onmicrosoft.com", "Contoso-User-1")
WEB_SCOPES = ["User.Read"]
WEB_REDIRECT_URI = "http://127.0.0.1/callback"
_HIDDEN_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@pytest.fixture(autouse=True)
def test_owner_registered() -> Iterator[None]:
    owner_type_register(TEST_OWNER)
    yield
    owner_type_unregister(TEST_OWNER_TYPE)


@pytest.fixture
def celery_worker_env(celery_worker_env: dict[str, str]) -> dict[str, str]:
    """The shared worker, with the test owner type installed (it runs in another process)."""
    return {**celery_worker_env, "DJANGO_SETTINGS_MODULE": "tests.credentials.worker_settings"}


# --- real grants from the emulator ------------------------------------------------------------------------


def device_code_grant(m365: Any, *, client_id: str = DEVICE_APP, upn: str = MAILBOX) -> TokenGrant:
    """What an Exchange Online connection gets: the device code flow, approved by the mailbox's owner."""
    app = AppCredentials(client_id)
    started = device_flow_start(app=app, tenant=CONTOSO, scopes=MAIL_SCOPES)
    m365.control.approve_device_code(started.user_code, upn)
    poll = device_flow_poll(app=app, tenant=CONTOSO, flow=started.flow)
    assert poll.state == DeviceFlowState.APPROVED and poll.grant is not None
    return poll.grant


def auth_code_grant(m365: Any) -> TokenGrant:
    """A browser sign-in to the confidential web app, driven over HTTP: authorize, sign in, form_post back."""
    app = AppCredentials(WEB_APP, WEB_APP_SECRET)
    start = auth_code_start(app=app, tenant=CONTOSO, scopes=WEB_SCOPES, redirect_uri=WEB_REDIRECT_URI)
    browser = m365.session()
    sign_in_page = browser.get(start.auth_uri, timeout=10)
    fields = dict(_HIDDEN_INPUT.findall(sign_in_page.text))
    login, password = WEB_USER
    answer = browser.post(
        f"{m365.https_url}/common/login", data={"flow": fields["flow"], "login": login, "passwd": password}, timeout=10
    )
    callback = {name: value.replace("&amp;", "&") for name, value in _HIDDEN_INPUT.findall(answer.text)}
    assert "code" in callback, answer.text
    return auth_code_finish(
        app=app, tenant=CONTOSO, flow=start.flow, callback_params=callback, expected_tenant_id=CONTOSO
    )


def app_only_grant() -> TokenGrant:
    return client_credentials_acquire(
        app=AppCredentials(WEB_APP, WEB_APP_SECRET), tenant=CONTOSO, scope=GRAPH_DEFAULT_SCOPE
    )


@pytest.fixture
def connect(m365: Any, tenant_a: Any) -> Callable[..., MicrosoftCredential]:
    """Store a real credential of the given kind for a test owner of tenant A."""
    counter = iter(range(1, 1000))

    def _connect(
        kind: CredentialKind = CredentialKind.DELEGATED_PUBLIC, owner_id: int | None = None
    ) -> MicrosoftCredential:
        if kind == CredentialKind.DELEGATED_PUBLIC:
            grant, client_id, scopes = device_code_grant(m365), DEVICE_APP, MAIL_SCOPES
        elif kind == CredentialKind.DELEGATED_CONFIDENTIAL:
            grant, client_id, scopes = auth_code_grant(m365), WEB_APP, WEB_SCOPES
        else:
            grant, client_id, scopes = app_only_grant(), WEB_APP, [GRAPH_DEFAULT_SCOPE]
        return credential_save(
            tenant=tenant_a,
            owner_type=TEST_OWNER_TYPE,
            owner_id=owner_id or next(counter),
            kind=kind,
            directory_id=CONTOSO,
            client_id=client_id,
            scopes=scopes,
            grant=grant,
        )

    return _connect


def refresh_tokens_in(credential: MicrosoftCredential) -> set[str]:
    credential.refresh_from_db()
    return {entry["secret"] for entry in json.loads(credential.token_cache).get("RefreshToken", {}).values()}


def token_requests(m365: Any, grant_type: str | None = None) -> list[dict[str, Any]]:
    received = m365.control.requests_received("token")
    return [r for r in received if grant_type is None or r["form"].get("grant_type") == grant_type]
