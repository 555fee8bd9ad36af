"""A processed message's identity: the server, account and folder as well as UIDVALIDITY+UID or UIDL."""

from __future__ import annotations

from mail_jobs.models import ProcessedMessage
from microsoft.mailbox import MailProtocol, MessageRef, mailbox_url, message_url


def test_a_message_url_names_server_account_and_folder() -> None:
    inbox = mailbox_url(MailProtocol.IMAP, "Outlook.Office365.com", 993, "printers@contoso.com", "inbox")
    assert inbox == "imap://printers%40contoso.com@outlook.office365.com:993/INBOX"
    other = mailbox_url(MailProtocol.IMAP, "outlook.office365.com", 993, "printers@contoso.com", "Print; jobs/2025")
    assert other == "imap://printers%40contoso.com@outlook.office365.com:993/Print%3B%20jobs/2025"
    ref = MessageRef(key="4242:17", size=1, uid="17", mailbox=inbox)
    assert ref.url == f"{inbox};UIDVALIDITY=4242/;UID=17"
    pop = mailbox_url(MailProtocol.POP3, "pop.example.com", 995, "jobs")
    assert message_url(pop, "a/b;c", imap=False) == "pop://jobs@pop.example.com:995/;UIDL=a%2Fb%3Bc"


def test_the_longest_settings_still_fit_where_the_key_is_stored() -> None:
    longest = mailbox_url(MailProtocol.IMAP, "h" * 255, 65535, "u@" * 160, "f" * 200)
    assert longest.startswith("imap://sha256,") and len(longest) < 100
    uidl = "".join(chr(c) for c in range(0x21, 0x21 + 70))  # RFC 1939: up to 70 characters 0x21 to 0x7E
    just_fitting = mailbox_url(MailProtocol.POP3, "h" * 240, 65535, "u" * 447)
    assert len(just_fitting) == 700  # the longest kept readable
    limit = ProcessedMessage._meta.get_field("message_key").max_length
    assert len(message_url(just_fitting, uidl, imap=False)) <= limit
