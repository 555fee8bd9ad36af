""" "Test connection": server, sign-in and folder, checked in the background; the page shows each step."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from credentials.errors import CredentialUnavailable
from mail_jobs.choices import AfterProcessing, ConnectionTestStatus, Protocol
from mail_jobs.models import MailJobSource
from mail_jobs.services.connection import SourceConnection, SourceNotConfigured, source_connection
from microsoft.errors import MicrosoftError
from microsoft.mailbox import Mailbox, MailboxAuthFailed, open_mailbox

if TYPE_CHECKING:
    from accounts.models import User

SERVER, SIGN_IN, FOLDER = "Server", "Sign-in", "Folder"


def _step(name: str, ok: bool, detail: str, fix_url: str = "") -> dict[str, Any]:
    return {"name": name, "ok": ok, "detail": detail, "fix_url": fix_url}


def mail_source_test_start(*, source: MailJobSource, actor: User) -> None:
    """Mark the test as running and queue it after the transaction commits."""
    from mail_jobs.tasks import mail_source_test_task

    source.test_status, source.test_steps = ConnectionTestStatus.RUNNING, []
    source.test_requested_at, source.test_finished_at = timezone.now(), None
    source.save(update_fields=["test_status", "test_steps", "test_requested_at", "test_finished_at"])
    transaction.on_commit(lambda: mail_source_test_task.delay(source.pk))


def mail_source_test_run(*, source_id: int) -> list[dict[str, Any]]:
    source = MailJobSource.objects.select_related("tenant", "exchange_system").get(pk=source_id)
    steps = _run(source)
    MailJobSource.objects.filter(pk=source_id).update(
        test_status=ConnectionTestStatus.OK if all(s["ok"] for s in steps) else ConnectionTestStatus.FAILED,
        test_steps=steps,
        test_finished_at=timezone.now(),
    )
    return steps


def _run(source: MailJobSource) -> list[dict[str, Any]]:
    try:
        connection = source_connection(source)
    except SourceNotConfigured as exc:
        return [_step(SERVER, False, str(exc))]
    except CredentialUnavailable as exc:
        return [_step(SIGN_IN, False, exc.reason, exc.fix_url)]
    except MicrosoftError as exc:
        return [_step(SIGN_IN, False, f"Could not get a token from Microsoft: {exc.message}")]
    try:
        with open_mailbox(connection.server, connection.login, folder=connection.folder) as mailbox:
            signed_in = [
                _step(SERVER, True, f"{connection.server.label} answered."),
                _step(SIGN_IN, True, f"Signed in as {connection.sign_in_label}."),
            ]
            return signed_in + _folders(source, connection, mailbox)
    except MailboxAuthFailed as exc:
        return [_step(SERVER, True, f"{connection.server.label} answered."), _step(SIGN_IN, False, exc.message)]
    except MicrosoftError as exc:
        return [_step(SERVER, False, exc.message)]


def _folders(source: MailJobSource, connection: SourceConnection, mailbox: Mailbox) -> list[dict[str, Any]]:
    if source.protocol == Protocol.POP3:
        return [_step(FOLDER, True, f"POP3 reads the inbox: {len(mailbox.messages())} message(s) waiting.")]
    if not mailbox.folder_exists(connection.folder):
        return [_step(FOLDER, False, f"The folder {connection.folder!r} does not exist in the mailbox.")]
    steps = [_step(FOLDER, True, f"{connection.folder}: {len(mailbox.messages())} message(s) waiting.")]
    if source.after_processing == AfterProcessing.MOVE and not mailbox.folder_exists(source.move_to_folder):
        steps.append(
            _step(
                FOLDER,
                False,
                f"The folder {source.move_to_folder!r} that processed mail is moved to "
                "does not exist. Create it in the mailbox, or choose another one.",
            )
        )
    return steps
