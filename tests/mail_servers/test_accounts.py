"""Saving a mail server account: what is kept, where a saved password may still go, and its status."""

from __future__ import annotations

from typing import Any

import pytest

from mail_servers.choices import ServerStatus
from mail_servers.services import MailServerValues, mail_server_save, mail_server_status_record
from tests.factories import ExternalSystemFactory, MailServerAccountFactory

pytestmark = pytest.mark.django_db

SECRET = "Top-Secret-1"


def values(account: Any, **changes: Any) -> MailServerValues:
    saved = dict(
        kind=account.kind,
        protocol=account.protocol,
        exchange_system=account.exchange_system,
        shared_mailbox=account.shared_mailbox,
        host=account.host,
        port=account.port,
        security=account.security,
        username=account.username,
    )
    return MailServerValues(**{**saved, **changes})


def test_a_new_password_is_saved_and_reported_only_as_changed() -> None:
    account = MailServerAccountFactory(password="")
    saved = mail_server_save(account=account, values=values(account, password=SECRET))

    account.refresh_from_db()
    assert account.password == SECRET and saved.changed == {"password": "(changed)"}


def test_no_new_password_keeps_the_saved_one_on_the_same_server_and_user() -> None:
    account = MailServerAccountFactory(password=SECRET)
    saved = mail_server_save(account=account, values=values(account, security="starttls"))

    account.refresh_from_db()
    assert account.password == SECRET and saved.changed == {"security": "starttls"}


@pytest.mark.parametrize(
    "change", [{"host": "imap.other.example"}, {"port": 1993}, {"username": "someone.else@alpha.example"}]
)
def test_the_saved_password_is_dropped_when_it_would_go_to_another_server_or_user(change: dict[str, Any]) -> None:
    account = MailServerAccountFactory(password=SECRET)
    saved = mail_server_save(account=account, values=values(account, **change))

    account.refresh_from_db()
    assert account.password == "" and saved.changed["password"] == "(removed: the server or user name changed)"


def test_the_host_compares_as_the_check_reads_it() -> None:
    account = MailServerAccountFactory(host="imap.alpha.example", password=SECRET)
    mail_server_save(account=account, values=values(account, host="IMAP.Alpha.Example."))

    account.refresh_from_db()
    assert account.password == SECRET


def test_a_password_without_a_user_name_is_dropped() -> None:
    account = MailServerAccountFactory(password=SECRET)
    saved = mail_server_save(account=account, values=values(account, username="", password=SECRET))

    account.refresh_from_db()
    assert account.password == "" and saved.changed["password"] == "(removed: no user name)"


def test_a_changed_server_has_not_been_checked_yet() -> None:
    account = MailServerAccountFactory()
    mail_server_status_record(account_id=account.pk, status=ServerStatus.FAILED, reason="It timed out.")
    account.refresh_from_db()
    assert account.status == ServerStatus.FAILED and account.status_since is not None

    mail_server_save(account=account, values=values(account))  # nothing changed
    account.refresh_from_db()
    assert account.status == ServerStatus.FAILED

    mail_server_save(account=account, values=values(account, host="imap.other.example"))
    account.refresh_from_db()
    assert (account.status, account.status_reason, account.status_since) == (ServerStatus.NEVER, "", None)


def test_another_tenants_exchange_system_is_refused() -> None:
    account = MailServerAccountFactory()
    other = ExternalSystemFactory(connected=True)
    with pytest.raises(ValueError, match="another tenant"):
        mail_server_save(account=account, values=values(account, kind="exchange", exchange_system=other))
    account.refresh_from_db()
    assert account.kind == "custom" and account.exchange_system is None
