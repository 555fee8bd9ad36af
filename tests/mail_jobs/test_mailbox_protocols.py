"""microsoft.mailbox against the emulator's Dovecot: XOAUTH2 over IMAP and POP3, shared mailboxes, passwords."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from m365_emulator.testing import start_emulator
from microsoft.errors import TransientError
from microsoft.mail_connection import Security
from microsoft.mailbox import (
    MailboxAuthFailed,
    MailboxConfigurationError,
    MailLogin,
    MailProtocol,
    MailServer,
    exchange_server,
    open_mailbox,
)
from tests.conftest import ROOT
from tests.mail_jobs.helpers import PDF, mail_with_attachments, outlook_token

pytestmark = pytest.mark.emulator
MB = 1024 * 1024
ADMIN = "admin@contoso.onmicrosoft.com"
ADELE = "adele.vance@contoso.onmicrosoft.com"
SHARED = "printers@contoso.onmicrosoft.com"


def _put(m365: Any, mailbox: str, subject: str) -> None:
    m365.control.put_mail(
        mailbox,
        mail_with_attachments(
            sender=ADELE, to=mailbox, subject=subject, attachments=[("a.pdf", "application/pdf", PDF)]
        ),
    )


@pytest.mark.parametrize("protocol", [MailProtocol.IMAP, MailProtocol.POP3])
def test_xoauth2_reads_fetches_and_deletes(m365: Any, protocol: MailProtocol) -> None:
    _put(m365, ADMIN, "first")
    _put(m365, ADMIN, "second")
    login = MailLogin(ADMIN, access_token=outlook_token(m365, ADMIN))
    with open_mailbox(exchange_server(protocol), login) as mailbox:
        refs = mailbox.messages()
        assert len(refs) == 2 and all(ref.size > len(PDF) for ref in refs)
        assert b"Subject: first" in mailbox.fetch(refs[0], max_bytes=MB).data
        mailbox.delete(refs[0])
    assert [m["subject"] for m in m365.control.mail_messages(ADMIN)] == ["second"]
    with open_mailbox(exchange_server(protocol), login) as mailbox:  # the keys are stable across sessions
        assert [ref.key for ref in mailbox.messages()] == [refs[1].key]


@pytest.mark.parametrize("protocol", [MailProtocol.IMAP, MailProtocol.POP3])
def test_a_deletion_sent_without_waiting_takes_effect_once_its_answers_are_read(
    m365: Any, protocol: MailProtocol
) -> None:
    for subject in ("first", "second", "third"):
        _put(m365, ADMIN, subject)
    login = MailLogin(ADMIN, access_token=outlook_token(m365, ADMIN))
    with open_mailbox(exchange_server(protocol), login) as mailbox:
        first, second, third = mailbox.messages()
        answers = mailbox.delete_many_sent([first, second])
        answers()  # the session is in step again: the next command gets its own answer
        assert b"Subject: third" in mailbox.fetch(third, max_bytes=MB).data
    assert [m["subject"] for m in m365.control.mail_messages(ADMIN)] == ["third"]


def test_imap_keys_carry_uidvalidity_and_fetch_leaves_messages_unread(m365: Any) -> None:
    _put(m365, ADMIN, "peek")
    login = MailLogin(ADMIN, access_token=outlook_token(m365, ADMIN))
    server = exchange_server(MailProtocol.IMAP)
    with open_mailbox(server, login) as mailbox:
        [ref] = mailbox.messages()
        uidvalidity, uid = ref.key.split(":")
        assert int(uidvalidity) > 0 and uid == "1"
        assert ref.url == (
            f"imap://admin%40contoso.onmicrosoft.com@{server.host}:{server.port}/INBOX;UIDVALIDITY={uidvalidity}/;UID=1"
        )
        fetched = mailbox.fetch(ref, max_bytes=MB)
        assert fetched.complete and len(fetched.data) == ref.size
    assert "\\Seen" not in m365.control.mail_messages(ADMIN)[0]["flags"]


@pytest.mark.parametrize("protocol", [MailProtocol.IMAP, MailProtocol.POP3])
def test_a_message_is_read_whole_up_to_the_limit_and_cut_beyond_it(m365: Any, protocol: MailProtocol) -> None:
    """Lines longer than poplib allows (2 KB) and lines starting with a dot (doubled by POP3) arrive intact."""
    body = b"." + b"x" * 5000 + b"\r\n..two dots\r\n.\r\nend\r\n"
    raw = b"From: adele.vance@contoso.onmicrosoft.com\r\nSubject: lines\r\n\r\n" + body
    m365.control.put_mail(ADMIN, raw)
    with open_mailbox(exchange_server(protocol), MailLogin(ADMIN, access_token=outlook_token(m365, ADMIN))) as box:
        [ref] = box.messages()
        whole = box.fetch(ref, max_bytes=ref.size)
        cut = box.fetch(ref, max_bytes=ref.size - 1)
        header = box.fetch_headers(ref)
    assert whole.complete and whole.data.endswith(body)
    assert not cut.complete and cut.data == whole.data[:-1]
    assert header.startswith(b"From:") and b"Subject: lines" in header and b"xxx" not in header


def test_imap_moves_and_marks_read(m365: Any) -> None:
    _put(m365, ADMIN, "move me")
    _put(m365, ADMIN, "read me")
    m365.control.create_mail_folder(ADMIN, "Printed")
    login = MailLogin(ADMIN, access_token=outlook_token(m365, ADMIN))
    with open_mailbox(exchange_server(MailProtocol.IMAP), login) as mailbox:
        assert mailbox.folder_exists("Printed") and not mailbox.folder_exists("Nope")
        first, second = mailbox.messages()
        mailbox.move(first, "Printed")
        mailbox.mark_read(second)
        with pytest.raises(MailboxConfigurationError, match="Nope"):
            mailbox.move(second, "Nope")
    where = {m["subject"]: (m["folder"], m["flags"]) for m in m365.control.mail_messages(ADMIN)}
    assert where["move me"][0] == "Printed"
    assert where["read me"][0] == "INBOX" and "\\Seen" in where["read me"][1]


def test_a_missing_folder_is_a_configuration_error(m365: Any) -> None:
    login = MailLogin(ADMIN, access_token=outlook_token(m365, ADMIN))
    with (
        pytest.raises(MailboxConfigurationError, match="does not exist"),
        open_mailbox(exchange_server(MailProtocol.IMAP), login, folder="Missing") as mailbox,
    ):
        mailbox.messages()


@pytest.mark.parametrize("protocol", [MailProtocol.IMAP, MailProtocol.POP3])
def test_a_member_opens_a_shared_mailbox_with_their_own_token(m365: Any, protocol: MailProtocol) -> None:
    _put(m365, SHARED, "shared")
    with open_mailbox(exchange_server(protocol), MailLogin(SHARED, access_token=outlook_token(m365, ADMIN))) as box:
        assert len(box.messages()) == 1
    with (
        pytest.raises(MailboxAuthFailed, match="Full Access"),
        open_mailbox(exchange_server(protocol), MailLogin(SHARED, access_token=outlook_token(m365, ADELE))),
    ):
        pass


@pytest.mark.parametrize("protocol", [MailProtocol.IMAP, MailProtocol.POP3])
def test_tokens_exchange_would_refuse_are_refused(m365: Any, protocol: MailProtocol) -> None:
    server = exchange_server(protocol)
    cases = {
        "another user's mailbox": MailLogin(ADELE, access_token=outlook_token(m365, ADMIN)),
        "a Graph token": MailLogin(ADMIN, access_token=outlook_token(m365, ADMIN, ["User.Read"])),
        "a garbage token": MailLogin(ADMIN, access_token="not-a-token"),
    }
    for case, login in cases.items():
        with pytest.raises(MailboxAuthFailed), open_mailbox(server, login):
            pytest.fail(f"{case} was accepted")


def test_pop3_needs_the_pop_scope(m365: Any) -> None:
    imap_only = outlook_token(m365, ADMIN, ["https://outlook.office.com/IMAP.AccessAsUser.All"])
    with open_mailbox(exchange_server(MailProtocol.IMAP), MailLogin(ADMIN, access_token=imap_only)):
        pass
    with (
        pytest.raises(MailboxAuthFailed, match="POP"),
        open_mailbox(exchange_server(MailProtocol.POP3), MailLogin(ADMIN, access_token=imap_only)),
    ):
        pass


@pytest.mark.parametrize(
    ("protocol", "security", "port_key"),
    [
        (MailProtocol.IMAP, Security.SSL, "imaps_port"),
        (MailProtocol.IMAP, Security.STARTTLS, "imap_port"),
        (MailProtocol.IMAP, Security.NONE, "imap_port"),
        (MailProtocol.POP3, Security.SSL, "pop3s_port"),
        (MailProtocol.POP3, Security.STARTTLS, "pop3_port"),
        (MailProtocol.POP3, Security.NONE, "pop3_port"),
    ],
)
def test_custom_server_with_a_password(
    m365: Any, settings: Any, protocol: MailProtocol, security: Security, port_key: str
) -> None:
    # Without TLS only where the operator allows it (tests/security: refused otherwise, before the password goes).
    settings.TENANT_MAIL_ALLOW_PLAINTEXT_PASSWORDS = security == Security.NONE
    m365.control.set_mail_password("jobs@custom.test", "s3cret-pass")
    _put(m365, "jobs@custom.test", "custom")
    server = MailServer(protocol, m365.mail["mail_host"], m365.mail[port_key], security, str(m365.ca_path), 10)
    with open_mailbox(server, MailLogin("jobs@custom.test", password="s3cret-pass")) as mailbox:
        assert len(mailbox.messages()) == 1
    with (
        pytest.raises(MailboxAuthFailed, match="password"),
        open_mailbox(server, MailLogin("jobs@custom.test", password="wrong")),
    ):
        pass


def test_untrusted_certificate_and_unreachable_server(m365: Any) -> None:
    untrusted = MailServer(MailProtocol.IMAP, "127.0.0.1", m365.mail["imaps_port"], Security.SSL, None, 5)
    with (
        pytest.raises(MailboxConfigurationError, match="not trusted"),
        open_mailbox(untrusted, MailLogin("x", password="y")),
    ):
        pass
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with (
        pytest.raises(TransientError),
        open_mailbox(
            MailServer(MailProtocol.POP3, "127.0.0.1", closed_port, Security.SSL, None, 5),
            MailLogin("x", password="y"),
        ),
    ):
        pass


def test_dovecot_stops_with_the_emulator(tmp_path: Any) -> None:
    with start_emulator(ROOT / "m365_emulator" / "seeds" / "test.json", tmp_path / "emu") as emulator:
        ports = [emulator.mail[key] for key in ("imaps_port", "pop3s_port", "imap_port", "pop3_port")]
        socket.create_connection(("127.0.0.1", ports[0]), timeout=5).close()
    for port in ports:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
