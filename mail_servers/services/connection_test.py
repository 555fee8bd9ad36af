""" "Test connection" of a mailbox (IMAP or POP3): server, sign-in and folders, checked in the background.

The request marks the test as running and due; the task claims the account (background.claims), so one worker
runs it, and a test whose task was lost (a broker that was away, a worker that died) is queued again by the sweep.
The page shows each step as it was recorded. An SMTP server is checked by sending a test email instead, which
tries the whole way a message goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.utils import timezone

from background.claims import Claim, work_release
from background.kinds import work_queue
from credentials.errors import CredentialUnavailable
from mail_servers.choices import ConnectionTestStatus, Protocol
from mail_servers.connections import MailboxConnection, MailServerNotConfigured, mailbox_connection
from mail_servers.models import MailServerAccount
from microsoft.config import tenant_mail_limits
from microsoft.errors import MicrosoftError
from microsoft.mailbox import Mailbox, MailboxAuthFailed, open_mailbox

SERVER, SIGN_IN, FOLDER = "Server", "Sign-in", "Folder"


def _step(name: str, ok: bool, detail: str, fix_url: str = "") -> dict[str, Any]:
    return {"name": name, "ok": ok, "detail": detail, "fix_url": fix_url}


def running_tests() -> Any:
    return MailServerAccount.objects.filter(test_status=ConnectionTestStatus.RUNNING)


def mail_server_test_lease() -> timedelta:
    """Long enough for a whole conversation with the server, and a token from Microsoft before it."""
    return timedelta(seconds=tenant_mail_limits().mailbox_time_limit + 60)


def mail_server_test_start(*, account: MailServerAccount, folders: Sequence[str] = ()) -> None:
    """Mark the test as running and queue it after the transaction commits. IMAP: `folders` are the folder that
    is read, then any that must exist (INBOX when none is given)."""
    from mail_servers.tasks import mail_server_test_task  # the tasks module imports this one

    if account.protocol not in (Protocol.IMAP, Protocol.POP3):
        raise ValueError("Only a mailbox (IMAP or POP3) has a connection test.")
    now = timezone.now()
    account.test_status, account.test_steps, account.test_folders = ConnectionTestStatus.RUNNING, [], list(folders)
    account.test_requested_at, account.test_finished_at = now, None
    account.next_attempt_at, account.attempts = now, 0
    account.save(
        update_fields=[
            "test_status",
            "test_steps",
            "test_folders",
            "test_requested_at",
            "test_finished_at",
            "next_attempt_at",
            "attempts",
        ]
    )
    work_queue(mail_server_test_task, account.pk)


def mail_server_test_run(*, account_id: int, claim: Claim | None = None) -> list[dict[str, Any]]:
    """Run the test and record each step; under `claim` (the task's), only while the claim holds."""
    account = MailServerAccount.objects.select_related("tenant", "exchange_system").get(pk=account_id)
    steps = _run(account)
    outcome = {
        "test_status": ConnectionTestStatus.OK if all(s["ok"] for s in steps) else ConnectionTestStatus.FAILED,
        "test_steps": steps,
        "test_finished_at": timezone.now(),
        "next_attempt_at": None,
    }
    if claim is None:
        MailServerAccount.objects.filter(pk=account_id).update(**outcome)
    else:
        work_release(running_tests(), claim, **outcome)
    return steps


def _run(account: MailServerAccount) -> list[dict[str, Any]]:
    folders = [str(folder) for folder in account.test_folders] or ["INBOX"]
    try:
        connection = mailbox_connection(account, folder=folders[0])
        login = connection.login()
    except MailServerNotConfigured as exc:
        return [_step(SERVER, False, str(exc))]
    except CredentialUnavailable as exc:
        return [_step(SIGN_IN, False, exc.reason, exc.fix_url)]
    except MicrosoftError as exc:
        return [_step(SIGN_IN, False, f"Could not get a token from Microsoft: {exc.message}")]
    answered = _step(SERVER, True, f"{connection.server.label} answered.")
    try:
        with open_mailbox(connection.server, login, folder=connection.folder) as mailbox:
            signed_in = _step(SIGN_IN, True, f"Signed in as {connection.sign_in_label}.")
            return [answered, signed_in, *_folders(connection, mailbox, folders[1:])]
    except MailboxAuthFailed as exc:
        return [answered, _step(SIGN_IN, False, exc.message)]
    except MicrosoftError as exc:
        return [_step(SERVER, False, exc.message)]


def _folders(connection: MailboxConnection, mailbox: Mailbox, others: list[str]) -> list[dict[str, Any]]:
    if connection.server.protocol != Protocol.IMAP:
        return [_step(FOLDER, True, f"POP3 reads the inbox: {len(mailbox.messages())} message(s) waiting.")]
    if not mailbox.folder_exists(connection.folder):
        return [_step(FOLDER, False, f"The folder {connection.folder!r} does not exist in the mailbox.")]
    steps = [_step(FOLDER, True, f"{connection.folder}: {len(mailbox.messages())} message(s) waiting.")]
    for folder in others:
        if not mailbox.folder_exists(folder):
            detail = f"The folder {folder!r} does not exist in the mailbox. Create it, or choose another one."
            steps.append(_step(FOLDER, False, detail))
    return steps
