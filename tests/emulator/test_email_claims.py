"""The id token's `email` and `xms_edov`: an administrator may set a user's mail to any address, and Entra says in
`xms_edov` (an optional claim the app's manifest asks for, sent only with `email`) whether its domain is verified by
the user's own directory."""

from __future__ import annotations

from typing import Any

import pytest

from m365_emulator.testing import EmulatorHandle
from tests.emulator.conftest import CONTOSO, CONTOSO_USER, WEB_APP, WEB_SECRET
from tests.emulator.test_browser_flows import signed_in_claims

pytestmark = pytest.mark.emulator

LOGIN_APP = "6e1c0a01-7d2b-4c3e-9f10-000000000a01"  # its manifest asks for email and xms_edov
LOGIN_SECRET = "login~Secret.Value.0001"
LOGIN_CALLBACK = "http://127.0.0.1:8000/integrations/callback/"


def _claims(
    emu: EmulatorHandle,
    account: tuple[str, str],
    *,
    scopes: tuple[str, ...] = ("User.Read", "email"),
    client_id: str = LOGIN_APP,
    secret: str = LOGIN_SECRET,
    redirect_uri: str = LOGIN_CALLBACK,
) -> dict[str, Any]:
    return signed_in_claims(emu, account, client_id=client_id, secret=secret, redirect_uri=redirect_uri, scopes=scopes)


def test_a_mail_on_a_domain_of_the_users_directory_is_verified(emu: EmulatorHandle) -> None:
    emu.control.add_user(CONTOSO, "kim@contoso.onmicrosoft.com", mail="kim.akers@contoso.com", password="Kim-1")
    seeded = _claims(emu, CONTOSO_USER)
    other_verified_domain = _claims(emu, ("kim@contoso.onmicrosoft.com", "Kim-1"))

    assert seeded["email"] == CONTOSO_USER[0] and seeded["xms_edov"] is True
    assert other_verified_domain["email"] == "kim.akers@contoso.com" and other_verified_domain["xms_edov"] is True


def test_a_mail_an_administrator_set_on_a_foreign_domain_is_sent_but_not_verified(emu: EmulatorHandle) -> None:
    emu.control.add_user(CONTOSO, "spoof@contoso.onmicrosoft.com", mail="victim@alpha.example", password="Spoof-1")
    claims = _claims(emu, ("spoof@contoso.onmicrosoft.com", "Spoof-1"))
    assert claims["email"] == "victim@alpha.example" and claims["xms_edov"] is False

    emu.control.update_user(CONTOSO, "adele.vance@contoso.onmicrosoft.com", mail="boss@fabrikam.onmicrosoft.com")
    changed = _claims(emu, CONTOSO_USER)  # another directory's domain is as foreign
    assert changed["email"] == "boss@fabrikam.onmicrosoft.com" and changed["xms_edov"] is False


def test_xms_edov_only_for_an_app_that_asks_and_only_with_email(emu: EmulatorHandle) -> None:
    not_asked = _claims(
        emu, CONTOSO_USER, client_id=WEB_APP, secret=WEB_SECRET, redirect_uri="http://127.0.0.1/callback"
    )
    optional_email = _claims(emu, CONTOSO_USER, scopes=("User.Read",))  # the manifest asks for email too
    emu.control.set_id_token_optional_claims(LOGIN_APP, ["xms_edov"])
    without_email = _claims(emu, CONTOSO_USER, scopes=("User.Read",))

    assert not_asked["email"] == CONTOSO_USER[0] and "xms_edov" not in not_asked
    assert optional_email["email"] == CONTOSO_USER[0] and optional_email["xms_edov"] is True
    assert "email" not in without_email and "xms_edov" not in without_email


def test_a_test_can_take_the_optional_claim_off_the_apps_manifest_until_a_reset(emu: EmulatorHandle) -> None:
    emu.control.set_id_token_optional_claims(LOGIN_APP, [])
    assert "xms_edov" not in _claims(emu, CONTOSO_USER)
    emu.control.reset()
    assert _claims(emu, CONTOSO_USER)["xms_edov"] is True
