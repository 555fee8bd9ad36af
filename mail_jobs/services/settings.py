"""Saving the Jobs via Email settings and their mail server, with one audit record of what changed (never the
password)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from mail_jobs.choices import AfterProcessing
from mail_jobs.models import MailJobSource
from mail_servers.choices import Protocol, ServerStatus
from mail_servers.services import (
    MailServerValues,
    mail_server_owner_get_or_create,
    mail_server_save,
    mail_server_status_record,
    mail_server_test_start,
)

if TYPE_CHECKING:
    from accounts.models import Tenant

SETTINGS_FIELDS = (
    "enabled",
    "folder",
    "poll_interval_minutes",
    "after_processing",
    "move_to_folder",
    "max_message_size_mb",
    "document_types",
    "print_body",
    "unknown_senders",
    "reply_on_rejection",
    "exchange_authenticated_only",
)
# Changing these (or the server) points the poller at another mailbox: start afresh (a stopped poll resumes at once).
_MAILBOX_FIELDS = frozenset({"enabled", "folder"})


def mail_source_get_or_create(*, tenant: Tenant) -> MailJobSource:
    """The tenant's source, created with an Exchange Online IMAP server to choose the system of."""
    return mail_server_owner_get_or_create(MailJobSource, tenant=tenant, protocol=Protocol.IMAP)


@transaction.atomic
def mail_source_save(
    *,
    tenant: Tenant,
    values: dict[str, Any],
    server: MailServerValues | None = None,
) -> MailJobSource:
    """Save the settings in `values` and, when given, the mail server (see mail_servers.services.mail_server_save
    for where a saved password may still go). Audits the names and new values of changed fields."""
    source_id = mail_source_get_or_create(tenant=tenant).pk
    source = MailJobSource.objects.select_for_update().select_related("mail_server").get(pk=source_id)
    changed: dict[str, Any] = {}
    for name in SETTINGS_FIELDS:
        if name in values and getattr(source, name) != values[name]:
            setattr(source, name, values[name])
            changed[name] = values[name]
    server_changed = mail_server_save(account=source.mail_server, values=server).changed if server else {}
    if not changed and not server_changed:
        return source
    update_fields = [*changed, "updated_at"]
    if server_changed or _MAILBOX_FIELDS & changed.keys():
        # Another mailbox, or polling switched on or off: poll it right away (the sweep queues it), forget the old.
        source.next_attempt_at = timezone.now() if source.enabled else None
        source.attempts = 0
        update_fields += ["next_attempt_at", "attempts"]
        mail_server_status_record(account_id=source.mail_server_id, status=ServerStatus.NEVER)
        source.mail_server.refresh_from_db()
    source.save(update_fields=update_fields)
    audit_record(
        tenant=tenant,
        action="mail_jobs.settings_changed",
        target=source,
        details={"changed": {**changed, **server_changed}},
    )
    return source


def mail_source_test_start(*, source: MailJobSource) -> None:
    """Test the saved server and sign-in in the background, and the folders these settings name."""
    folders = [source.folder]
    if source.after_processing == AfterProcessing.MOVE:
        folders.append(source.move_to_folder)
    mail_server_test_start(account=source.mail_server, folders=folders)
