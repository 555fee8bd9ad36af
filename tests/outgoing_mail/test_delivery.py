"""The queue end to end: a real Celery worker delivers over real SMTP to the emulator's Exchange endpoint."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from accounts.mail import tenant_mail_send
from credentials.models import MicrosoftCredential
from mail_servers.choices import ServerStatus
from outgoing_mail.choices import OutboundStatus
from outgoing_mail.models import OutboundEmail, OutgoingMailSettings
from outgoing_mail.services import test_email_send as queue_test_email
from tests.conftest import wait_until
from tests.outgoing_mail.conftest import (
    CONTOSO,
    CONTOSO_ADMIN,
    EXCHANGE_APP,
    MAILBOX,
    RATE_WINDOW,
    RELAY_ACCOUNT,
    SHARED_MAILBOX,
    connect_exchange_system,
    use_custom_server,
    use_exchange,
)

pytestmark = [pytest.mark.emulator, pytest.mark.django_db(transaction=True)]


def finished(outbound: OutboundEmail, timeout: float = 30.0) -> OutboundEmail:
    def done() -> OutboundEmail | None:
        current = OutboundEmail.objects.get(pk=outbound.pk)
        return None if current.is_pending else current

    result: OutboundEmail = wait_until(done, timeout=timeout, message=f"outbound email {outbound.pk} to finish")
    return result


def sent_test_email(admin: Any, to: str = "someone@example.net") -> OutboundEmail:
    return finished(queue_test_email(tenant=admin.tenant, actor=admin, recipient=to))


def server_status(admin: Any) -> str:
    """What the last send showed of the tenant's server (one status for every use of a mail server)."""
    return OutgoingMailSettings.objects.get(tenant=admin.tenant).mail_server.status


# --- custom SMTP server -------------------------------------------------------------------------------------------


def test_custom_server_with_a_password(m365, mail_settings, celery_worker, admin_a) -> None:  # type: ignore[no-untyped-def]
    use_custom_server(tenant=admin_a.tenant, actor=admin_a, m365=m365)

    outbound = sent_test_email(admin_a)

    assert outbound.status == OutboundStatus.SENT, outbound.last_error
    [received] = m365.control.smtp_messages(to="someone@example.net")
    assert received["mailbox"] == RELAY_ACCOUNT and received["mechanism"] in ("LOGIN", "PLAIN")
    assert received["from"] == f"Alpha Print <{RELAY_ACCOUNT}>"
    assert received["subject"] == "Roger test email for Alpha Print"
    assert server_status(admin_a) == ServerStatus.OK


def test_custom_server_over_implicit_tls(m365, mail_settings, celery_worker, admin_a) -> None:  # type: ignore[no-untyped-def]
    use_custom_server(tenant=admin_a.tenant, actor=admin_a, m365=m365, security="ssl")

    assert sent_test_email(admin_a).status == OutboundStatus.SENT
    assert len(m365.control.smtp_messages(mailbox=RELAY_ACCOUNT)) == 1


def test_a_bad_password_is_explained(m365, mail_settings, celery_worker, admin_a) -> None:  # type: ignore[no-untyped-def]
    use_custom_server(tenant=admin_a.tenant, actor=admin_a, m365=m365, password="not-the-password")

    outbound = sent_test_email(admin_a)

    assert (outbound.status, outbound.failure_kind) == (OutboundStatus.FAILED, "auth_failed")
    assert "refused the user name 'relay@contoso.com' or its password" in outbound.last_error
    assert "535 5.7.3 Authentication unsuccessful" in outbound.server_reply
    assert "not-the-password" not in outbound.last_error + outbound.server_reply + celery_worker.log()
    assert m365.control.smtp_messages() == []
    assert server_status(admin_a) == ServerStatus.NEEDS_ACTION


# --- Exchange Online ----------------------------------------------------------------------------------------------


def test_exchange_sends_as_the_connected_mailbox(m365, mail_settings, celery_worker, admin_a) -> None:  # type: ignore[no-untyped-def]
    system = connect_exchange_system(tenant=admin_a.tenant, actor=admin_a, m365=m365)
    use_exchange(tenant=admin_a.tenant, actor=admin_a, system=system)

    outbound = sent_test_email(admin_a)

    assert outbound.status == OutboundStatus.SENT, outbound.last_error
    assert outbound.sent_via == f"Exchange Online as {MAILBOX}"
    [received] = m365.control.smtp_messages(to="someone@example.net")
    assert (received["mailbox"], received["mechanism"], received["token_user"]) == (MAILBOX, "XOAUTH2", MAILBOX)
    assert received["from"] == f"Alpha Print <{MAILBOX}>"


def test_exchange_sends_as_a_shared_mailbox(m365, mail_settings, celery_worker, admin_a) -> None:  # type: ignore[no-untyped-def]
    system = connect_exchange_system(tenant=admin_a.tenant, actor=admin_a, m365=m365, mailbox=CONTOSO_ADMIN)
    use_exchange(tenant=admin_a.tenant, actor=admin_a, system=system, send_as=SHARED_MAILBOX, from_name="Printers")

    assert sent_test_email(admin_a).status == OutboundStatus.SENT
    [received] = m365.control.smtp_messages(mailbox=SHARED_MAILBOX)
    assert received["token_user"] == CONTOSO_ADMIN and received["from"] == f"Printers <{SHARED_MAILBOX}>"


def test_smtp_auth_disabled_for_the_tenant_is_explained(m365, mail_settings, celery_worker, admin_a) -> None:  # type: ignore[no-untyped-def]
    system = connect_exchange_system(tenant=admin_a.tenant, actor=admin_a, m365=m365)
    use_exchange(tenant=admin_a.tenant, actor=admin_a, system=system)
    m365.control.set_smtp_auth(CONTOSO, False)

    outbound = sent_test_email(admin_a)

    assert (outbound.status, outbound.failure_kind) == (OutboundStatus.FAILED, "smtp_auth_disabled")
    assert "SMTP AUTH is disabled for your Microsoft tenant" in outbound.last_error
    assert "Set-CASMailbox -Identity printing@contoso.onmicrosoft.com -SmtpClientAuthenticationDisabled $false" in (
        outbound.last_error
    )
    assert "5.7.139" in outbound.server_reply


def test_an_expired_access_token_is_refreshed_before_sending(m365, mail_settings, celery_worker, admin_a) -> None:  # type: ignore[no-untyped-def]
    system = connect_exchange_system(tenant=admin_a.tenant, actor=admin_a, m365=m365)
    use_exchange(tenant=admin_a.tenant, actor=admin_a, system=system)
    credential = MicrosoftCredential.objects.get(owner_id=system.pk)
    # Two hours pass: on the emulator (its token expired) and in the token store's view of the token.
    m365.control.advance_clock(2 * 3600)
    MicrosoftCredential.objects.filter(pk=credential.pk).update(
        access_token_expires_at=timezone.now() - timedelta(hours=1)
    )
    m365.control.clear_requests()

    outbound = sent_test_email(admin_a)

    assert outbound.status == OutboundStatus.SENT, outbound.last_error
    grants = [r["form"].get("grant_type") for r in m365.control.requests_received() if r["endpoint"] == "token"]
    assert grants == ["refresh_token"]
    assert m365.control.smtp_events(kind="auth_failed") == []  # the stale token was never tried
    assert MicrosoftCredential.objects.get(pk=credential.pk).access_token_expires_at > timezone.now()


def test_a_token_exchange_refuses_is_refreshed_once_and_sent(m365, mail_settings, celery_worker, admin_a) -> None:  # type: ignore[no-untyped-def]
    system = connect_exchange_system(tenant=admin_a.tenant, actor=admin_a, m365=m365)
    use_exchange(tenant=admin_a.tenant, actor=admin_a, system=system)
    m365.control.advance_clock(2 * 3600)  # only the emulator sees the token expire

    outbound = sent_test_email(admin_a)

    assert outbound.status == OutboundStatus.SENT, outbound.last_error
    assert len(m365.control.smtp_events(kind="auth_failed")) == 1
    assert len(m365.control.smtp_messages(to="someone@example.net")) == 1


def test_a_revoked_sign_in_asks_to_reconnect_with_the_link(m365, mail_settings, celery_worker, admin_a) -> None:  # type: ignore[no-untyped-def]
    system = connect_exchange_system(tenant=admin_a.tenant, actor=admin_a, m365=m365)
    use_exchange(tenant=admin_a.tenant, actor=admin_a, system=system)
    assert m365.control.revoke_grant(MAILBOX, EXCHANGE_APP) >= 1
    m365.control.advance_clock(2 * 3600)

    outbound = sent_test_email(admin_a)

    assert (outbound.status, outbound.failure_kind) == (OutboundStatus.FAILED, "reconnect")
    assert "must be reconnected" in outbound.last_error and "Contoso mail" in outbound.last_error
    assert outbound.fix_url == f"/settings/external-systems/{system.pk}/"
    assert m365.control.smtp_messages() == []
    server = OutgoingMailSettings.objects.get(tenant=admin_a.tenant).mail_server
    assert (server.status, server.fix_url) == (ServerStatus.NEEDS_ACTION, outbound.fix_url)
    assert "must be reconnected" in server.status_reason


# --- the limit of 30 messages a minute per mailbox --------------------------------------------------------------


def test_thirty_one_messages_stay_under_the_mailbox_limit(m365, mail_settings, celery_worker, admin_a) -> None:  # type: ignore[no-untyped-def]
    system = connect_exchange_system(tenant=admin_a.tenant, actor=admin_a, m365=m365)
    use_exchange(tenant=admin_a.tenant, actor=admin_a, system=system)
    # Exchange's 30 a minute, with the minute shrunk to RATE_WINDOW seconds on both sides.
    m365.control.set_smtp_throttle(limit=30, window_seconds=RATE_WINDOW)

    for number in range(31):
        tenant_mail_send(tenant=admin_a.tenant, subject=f"Notice {number}", body="Hello", to=["ops@example.net"])

    wait_until(
        lambda: OutboundEmail.objects.filter(status=OutboundStatus.SENT).count() == 31,
        timeout=60,
        message="31 messages sent",
    )
    received = m365.control.smtp_messages(to="ops@example.net")
    assert len(received) == 31
    assert m365.control.smtp_events(kind="throttled") == []
    times = sorted(message["received_at"] for message in received)
    assert times[29] - times[0] < RATE_WINDOW  # thirty went at once: a 31st then would have been refused...
    assert times[30] - times[0] >= RATE_WINDOW  # ...so it waited for the first to leave the window
    assert OutboundEmail.objects.filter(waiting_for_limit=True).count() == 0


def test_without_our_limiter_the_emulator_throttles_and_the_queue_retries(
    m365,
    mail_settings,
    celery_worker_env,  # type: ignore[no-untyped-def]
    tmp_path,
    admin_a,
) -> None:
    """The counter-proof: the emulator refuses a 31st message within the minute (4.7.x), the queue retries it."""
    from tests.conftest import WorkerProcess

    system = connect_exchange_system(tenant=admin_a.tenant, actor=admin_a, m365=m365)
    use_exchange(tenant=admin_a.tenant, actor=admin_a, system=system)
    worker = WorkerProcess({**celery_worker_env, "OUTGOING_MAIL_RATE_LIMIT": "1000"}, tmp_path / "unlimited.log")
    worker.start()
    try:
        for number in range(31):
            tenant_mail_send(tenant=admin_a.tenant, subject=f"Notice {number}", body="Hello", to=["ops@example.net"])
        throttled = wait_until(
            lambda: m365.control.smtp_events(kind="throttled"),
            timeout=60,
            message="Exchange's limit of 30 messages a minute",
        )
        assert throttled[0]["reply"].startswith("451 4.7.500")
        m365.control.advance_clock(61)  # the emulator's minute passes; the retried message then goes through
        wait_until(
            lambda: OutboundEmail.objects.filter(status=OutboundStatus.SENT).count() == 31,
            timeout=60,
            message="31 messages sent after a retry",
        )
    finally:
        worker.stop()
    assert len(m365.control.smtp_messages(to="ops@example.net")) == 31
    assert OutboundEmail.objects.filter(attempts__gte=2).exists()


# --- the portal's own mail ---------------------------------------------------------------------------------------


def test_admin_notifications_go_through_the_tenants_server(m365, mail_settings, celery_worker, admin_a) -> None:  # type: ignore[no-untyped-def]
    from notifications.services import admins_notify

    use_custom_server(tenant=admin_a.tenant, actor=admin_a, m365=m365)

    assert admins_notify(tenant=admin_a.tenant, key="test:1", subject="Something needs you", body="Details")

    wait_until(lambda: m365.control.smtp_messages(to=admin_a.email), message="the notification in the emulator")
    [received] = m365.control.smtp_messages(to=admin_a.email)
    assert received["subject"] == "Something needs you" and received["mailbox"] == RELAY_ACCOUNT
    assert "X-Roger-Tenant" not in received["data"]


def test_password_reset_mail_goes_through_the_tenants_server(
    m365,
    mail_settings,
    celery_worker,
    admin_a,  # type: ignore[no-untyped-def]
    client,
) -> None:
    use_custom_server(tenant=admin_a.tenant, actor=admin_a, m365=m365)

    client.post("/accounts/password-reset/", {"tenancy_name": "alpha", "email": admin_a.email})

    received = wait_until(lambda: m365.control.smtp_messages(to=admin_a.email), message="the reset mail")
    assert "/accounts/reset/" in received[0]["text"] and received[0]["mailbox"] == RELAY_ACCOUNT
    stored = OutboundEmail.objects.get()
    assert "/accounts/reset/" not in stored.message  # the reset link is encrypted at rest


def test_mail_of_no_tenant_goes_to_the_operators_backend(m365, mail_settings, celery_worker, celery_worker_env) -> None:  # type: ignore[no-untyped-def]
    sent = mail.send_mail("Operator notice", "For the operator", None, ["operator@example.net"])

    assert sent == 1
    outbound = finished(OutboundEmail.objects.get())
    assert outbound.status == OutboundStatus.SENT and outbound.tenant is None
    files = list(Path(celery_worker_env["EMAIL_FILE_PATH"]).glob("*.log"))
    assert files and "Subject: Operator notice" in files[0].read_text()
    assert m365.control.smtp_messages() == []


def test_a_reconnect_prompt_reaches_the_admins_when_the_sending_mailbox_needs_reconnecting(  # type: ignore[no-untyped-def]
    m365, mail_settings, celery_worker, celery_worker_env, admin_a
) -> None:
    from notifications.services import admins_notify

    system = connect_exchange_system(tenant=admin_a.tenant, actor=admin_a, m365=m365)
    use_exchange(tenant=admin_a.tenant, actor=admin_a, system=system)
    m365.control.revoke_grant(MAILBOX, EXCHANGE_APP)
    m365.control.advance_clock(2 * 3600)

    admins_notify(tenant=admin_a.tenant, key="credential:reconnect", subject="Reconnect Contoso mail", body="Please")

    queued = wait_until(
        lambda: OutboundEmail.objects.filter(subject="Reconnect Contoso mail").first(),
        message="the notification queued by the worker",
    )
    outbound = finished(queued)
    assert outbound.status == OutboundStatus.SENT and outbound.failure_kind == "reconnect"
    assert outbound.sent_via.startswith("the operator's mail server")
    delivered = [path.read_text() for path in Path(celery_worker_env["EMAIL_FILE_PATH"]).glob("*.log")]
    assert any("Subject: Reconnect Contoso mail" in text for text in delivered)
    assert m365.control.smtp_messages() == []
