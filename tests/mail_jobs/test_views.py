"""Settings > Jobs: the page, saving, the background test's status, and tenant isolation for every view."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

import pytest
from django.test import Client

from audit.models import AuditEvent
from external_systems.models import ExternalSystem
from mail_jobs.choices import Outcome
from mail_jobs.models import MailJobSource, ProcessedMessage
from mail_servers.choices import ConnectionTestStatus
from mail_servers.models import MailServerAccount
from tests.factories import ExternalSystemFactory, MailJobSourceFactory

URLS = ["/settings/jobs/", "/settings/jobs/email/test/status/"]
POST_URLS = ["/settings/jobs/email/test/", "/settings/jobs/email/poll/"]

CUSTOM = {
    "enabled": "on",
    "protocol": "imap",
    "server_kind": "custom",
    "custom_host": "imap.alpha.example",
    "custom_port": "993",
    "custom_security": "ssl",
    "custom_username": "print@alpha.example",
    "custom_password": "Top-Secret-1",
    "folder": "INBOX",
    "poll_interval_minutes": "5",
    "after_processing": "delete",
    "move_to_folder": "Printed",
    "max_message_size_mb": "25",
    "document_types": ["pdf", "image"],
    "unknown_senders": "reject",
    "reply_on_rejection": "on",
}


def _system(tenant: Any, title: str, mailbox: str) -> ExternalSystem:
    return ExternalSystemFactory(tenant=tenant, title=title, connected=True, mailbox=mailbox)


def test_the_page_shows_the_settings_and_the_status(admin_a_client: Client) -> None:
    page = admin_a_client.get("/settings/jobs/").content.decode()
    assert "Jobs via Email" in page and "Test connection" in page and "No Exchange Online system is connected" in page


def test_the_last_check_before_the_settings_changed_is_not_shown_as_never_checked(
    admin_a_client: Client, tenant_a: Any
) -> None:
    """A check happened, then the settings changed (the server is not checked with them yet): the page says both,
    not a time above "Not checked yet"."""
    from django.utils import timezone

    from mail_servers.choices import ServerStatus

    assert admin_a_client.post("/settings/jobs/", CUSTOM).status_code == 302
    source = MailJobSource.objects.get(tenant=tenant_a)
    MailJobSource.objects.filter(pk=source.pk).update(last_poll_at=timezone.now())
    MailServerAccount.objects.filter(pk=source.mail_server_id).update(status=ServerStatus.NEVER)
    stats = re.search(
        r'<div class="stats" id="mail-stats">.*?</div>', admin_a_client.get("/settings/jobs/").content.decode(), re.S
    )
    assert stats is not None
    assert "before the settings changed; not checked with them yet" in stats.group(0)
    assert "Not checked yet" not in stats.group(0)

    MailServerAccount.objects.filter(pk=source.mail_server_id).update(status=ServerStatus.OK)
    stats = re.search(
        r'<div class="stats" id="mail-stats">.*?</div>', admin_a_client.get("/settings/jobs/").content.decode(), re.S
    )
    assert stats is not None and "OK, " in stats.group(0) and "settings changed" not in stats.group(0)


def test_saving_a_custom_server_keeps_the_password_write_only_and_audits(admin_a_client: Client, tenant_a: Any) -> None:
    response = admin_a_client.post("/settings/jobs/", CUSTOM)
    assert response.status_code == 302
    source = MailJobSource.objects.get(tenant=tenant_a)
    assert source.mail_server.password == "Top-Secret-1" and source.document_types == ["pdf", "image"]
    page = admin_a_client.get("/settings/jobs/").content.decode()
    assert "Top-Secret-1" not in page and "Password saved" in page
    event = AuditEvent.objects.get(action="mail_jobs.settings_changed")
    assert event.details["changed"]["password"] == "(changed)" and "Top-Secret-1" not in str(event.details)
    admin_a_client.post("/settings/jobs/", {**CUSTOM, "custom_password": ""})  # blank keeps the saved password
    source.refresh_from_db()
    assert source.mail_server.password == "Top-Secret-1"


@pytest.mark.parametrize(
    ("change", "field_error"),
    [
        ({"protocol": "pop3", "after_processing": "move"}, "POP3 can only delete"),
        ({"after_processing": "move", "move_to_folder": "inbox"}, "other than the one that is read"),
        ({"custom_host": ""}, "Required for another mail server"),
        ({"document_types": []}, "Allow at least one document type"),
        ({"max_message_size_mb": "500"}, "from 1 to 150 MB"),
    ],
)
def test_invalid_settings_are_explained(admin_a_client: Client, change: dict[str, Any], field_error: str) -> None:
    response = admin_a_client.post("/settings/jobs/", {**CUSTOM, **change})
    assert response.status_code == 400 and field_error in response.content.decode()


def test_only_the_tenants_own_connected_systems_can_be_chosen(
    admin_a_client: Client, tenant_a: Any, tenant_b: Any
) -> None:
    own = _system(tenant_a, "Alpha mail", "print@alpha.example")
    other = _system(tenant_b, "Bravo mail", "print@bravo.example")
    page = admin_a_client.get("/settings/jobs/").content.decode()
    assert "Alpha mail" in page and "Bravo mail" not in page
    exchange = {**CUSTOM, "server_kind": "exchange", "exchange_system": str(other.pk)}
    response = admin_a_client.post("/settings/jobs/", exchange)
    assert response.status_code == 400 and "Choose one of the connected" in response.content.decode()
    assert admin_a_client.post("/settings/jobs/", {**exchange, "exchange_system": str(own.pk)}).status_code == 302
    assert MailJobSource.objects.get(tenant=tenant_a).mail_server.exchange_system == own


def test_accepting_only_mail_that_exchange_authenticated_is_off_until_chosen_and_explained(
    admin_a_client: Client, tenant_a: Any
) -> None:
    own = _system(tenant_a, "Alpha mail", "print@alpha.example")
    page = admin_a_client.get("/settings/jobs/").content.decode()
    assert "Accept only mail that Exchange Online authenticated" in page and "the sender may be forged" in page
    exchange = {**CUSTOM, "server_kind": "exchange", "exchange_system": str(own.pk)}
    assert admin_a_client.post("/settings/jobs/", exchange).status_code == 302
    assert not MailJobSource.objects.get(tenant=tenant_a).exchange_authenticated_only
    assert admin_a_client.post("/settings/jobs/", {**exchange, "exchange_authenticated_only": "on"}).status_code == 302
    source = MailJobSource.objects.get(tenant=tenant_a)
    assert source.exchange_authenticated_only and source.requires_exchange_authentication
    assert AuditEvent.objects.filter(details__changed__exchange_authenticated_only=True).exists()


def test_the_page_shows_counts_and_recent_rejections_of_its_own_tenant_only(
    admin_a_client: Client, admin_b_client: Client, tenant_a: Any, tenant_b: Any
) -> None:
    source_a = MailJobSourceFactory(tenant=tenant_a, enabled=True)
    ProcessedMessage.objects.create(
        tenant=tenant_a,
        source=source_a,
        message_key="imap:1:1:1",
        sender="x@a.example",
        subject="Alpha secret",
        outcome=Outcome.REJECTED,
        reasons=["tool.exe is not a document type that is printed here."],
    )
    page_a = admin_a_client.get("/settings/jobs/").content.decode()
    assert "Alpha secret" in page_a and "tool.exe is not a document type" in page_a
    page_b = admin_b_client.get("/settings/jobs/").content.decode()
    assert "Alpha secret" not in page_b and "Nothing was rejected" in page_b


def test_the_test_status_is_the_tenants_own(admin_a_client: Client, admin_b_client: Client, tenant_a: Any) -> None:
    MailJobSourceFactory(
        tenant=tenant_a,
        mail_server__test_status=ConnectionTestStatus.FAILED,
        mail_server__test_steps=[{"name": "Sign-in", "ok": False, "detail": "Alpha's reason"}],
    )
    assert "Alpha&#x27;s reason" in admin_a_client.get("/settings/jobs/email/test/status/").content.decode()
    assert "Alpha" not in admin_b_client.get("/settings/jobs/email/test/status/").content.decode()


def test_starting_a_test_marks_it_running(
    admin_a_client: Client, tenant_a: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from unittest import mock

    with (
        mock.patch("mail_servers.tasks.mail_server_test_task.apply_async") as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = admin_a_client.post("/settings/jobs/email/test/", HTTP_HX_REQUEST="true")
    account = MailJobSource.objects.get(tenant=tenant_a).mail_server
    assert "Testing the connection" in response.content.decode() and account.test_status == ConnectionTestStatus.RUNNING
    assert queued.call_args.args[0] == (account.pk,) and account.test_folders == ["INBOX"]
    polls = r'hx-get="/settings/jobs/email/test/status/\?v=([^"]+)" hx-trigger="every 1s"'
    version = re.search(polls, response.content.decode())
    assert version is not None
    shown = unquote(version.group(1))
    unchanged = admin_a_client.get("/settings/jobs/email/test/status/", {"v": shown}, HTTP_HX_REQUEST="true")
    assert unchanged.status_code == 204 and unchanged.content == b""
    MailServerAccount.objects.filter(pk=account.pk).update(
        test_status=ConnectionTestStatus.OK, test_steps=[{"name": "Sign-in", "ok": True, "detail": "Signed in."}]
    )
    finished = admin_a_client.get("/settings/jobs/email/test/status/", {"v": shown}, HTTP_HX_REQUEST="true")
    assert finished.status_code == 286 and "The connection works" in finished.content.decode()
    assert "hx-trigger" not in finished.content.decode()


@pytest.mark.parametrize("url", URLS + POST_URLS)
def test_users_who_are_not_tenant_admins_are_refused(user_a_client: Client, client: Client, url: str) -> None:
    method = "post" if url in POST_URLS else "get"
    assert getattr(user_a_client, method)(url).status_code == 403
    anonymous = getattr(client, method)(url)
    assert anonymous.status_code == 302 and "sign-in" in anonymous["Location"]


@pytest.mark.parametrize("url", POST_URLS)
def test_actions_change_only_the_admins_own_tenant(admin_b_client: Client, tenant_a: Any, url: str) -> None:
    source_a = MailJobSourceFactory(tenant=tenant_a, enabled=True)
    admin_b_client.post(url)
    source_a.refresh_from_db()
    assert source_a.mail_server.test_status == ConnectionTestStatus.IDLE and source_a.next_attempt_at is None


def test_an_exchange_system_read_by_jobs_via_email_says_so_before_it_is_deleted(tenant_a: Any) -> None:
    from external_systems.usage import system_usages

    source = MailJobSourceFactory(tenant=tenant_a, mail_server__exchange=True)
    system = source.mail_server.exchange_system
    assert "POP3/IMAP server of Jobs via Email (Settings > Jobs)" in system_usages(system)

    source.mail_server.kind = "custom"  # another server chosen: the system stays selected, but unused
    source.mail_server.save()
    assert system_usages(system) == []


def test_the_page_and_the_dashboard_say_when_the_mailbox_cannot_be_read(
    admin_a_client: Client, admin_b_client: Client, tenant_a: Any
) -> None:
    from mail_servers.choices import ServerStatus
    from mail_servers.services import mail_server_status_record

    source = MailJobSourceFactory(tenant=tenant_a, enabled=True)
    reason = "The Exchange Online connection must be reconnected."
    fix_url = "/settings/external-systems/7/"
    # As a poll records it (tests/mail_jobs/test_polling.py polls for real).
    mail_server_status_record(
        account_id=source.mail_server_id, status=ServerStatus.NEEDS_ACTION, reason=reason, fix_url=fix_url
    )

    page = admin_a_client.get("/settings/jobs/").content.decode()
    assert "Polling has stopped." in page and reason in page and f'href="{fix_url}"' in page
    dashboard = admin_a_client.get("/").content.decode()
    assert "Jobs via Email" in dashboard and reason in dashboard
    assert reason not in admin_b_client.get("/").content.decode()

    mail_server_status_record(account_id=source.mail_server_id, status=ServerStatus.FAILED, reason="It timed out.")
    page = admin_a_client.get("/settings/jobs/").content.decode()
    assert "The last check failed; it is tried again at the next interval" in page and "It timed out." in page
    assert "It timed out." not in admin_a_client.get("/").content.decode()  # retrying by itself, not for a day yet
