"""Saving the Jobs via Email settings, with an audit record of what changed (never the password)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from mail_jobs.choices import PollStatus
from mail_jobs.models import MailJobSource
from microsoft.mail_connection import host_key

if TYPE_CHECKING:
    from accounts.models import Tenant, User

SETTINGS_FIELDS = (
    "enabled",
    "protocol",
    "server_kind",
    "exchange_system",
    "shared_mailbox",
    "custom_host",
    "custom_port",
    "custom_security",
    "custom_username",
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
# Changing these points the poller at another mailbox: start afresh (a stopped poll resumes at once).
_MAILBOX_FIELDS = frozenset(
    {
        "enabled",
        "protocol",
        "server_kind",
        "exchange_system",
        "shared_mailbox",
        "custom_host",
        "custom_port",
        "custom_security",
        "custom_username",
        "custom_password",
        "folder",
    }
)


# The saved password is only ever sent to the server and user name it was entered for.
_PASSWORD_BOUND_TO = ("custom_host", "custom_port", "custom_username")


def mail_server_changed(source: MailJobSource, *, host: str, port: int | None, username: str) -> bool:
    """Whether the saved password would now go to another server or user than it was entered for."""
    before = (host_key(source.custom_host), source.custom_port, source.custom_username.strip())
    return before != (host_key(host), port, username.strip())


def mail_source_get_or_create(*, tenant: Tenant) -> MailJobSource:
    source, _ = MailJobSource.objects.get_or_create(tenant=tenant)
    return source


@transaction.atomic
def mail_source_save(
    *,
    tenant: Tenant,
    actor: User,
    values: dict[str, Any],
    password: str = "",
    ip_address: str | None = None,
) -> MailJobSource:
    """Save the settings; a blank `password` keeps the saved one, unless the host, port or user name changed:
    then it is dropped. Audits the names and new values of changed fields (the password only as "changed")."""
    source = MailJobSource.objects.select_for_update().get(pk=mail_source_get_or_create(tenant=tenant).pk)
    changed: dict[str, Any] = {}
    for name in SETTINGS_FIELDS:
        if name in values and getattr(source, name) != values[name]:
            setattr(source, name, values[name])
            value = values[name]
            changed[name] = value.pk if hasattr(value, "pk") else value
    if password:
        source.custom_password = password
        changed["custom_password"] = "(changed)"
    elif source.custom_password and changed.keys() & set(_PASSWORD_BOUND_TO):
        source.custom_password = ""
        changed["custom_password"] = "(removed: the server or user name changed)"
    if not changed:
        return source
    update_fields = [*(n for n in changed), "updated_at"]
    if _MAILBOX_FIELDS & changed.keys():
        # Another mailbox, or polling switched on or off: poll it right away (the sweep queues it), forget the old.
        source.next_attempt_at = timezone.now() if source.enabled else None
        source.attempts = 0
        source.last_poll_status, source.last_poll_error, source.fix_url = PollStatus.NEVER, "", ""
        update_fields += ["next_attempt_at", "attempts", "last_poll_status", "last_poll_error", "fix_url"]
    source.save(update_fields=update_fields)
    audit_record(
        tenant=tenant,
        actor=actor,
        action="mail_jobs.settings_changed",
        target=source,
        details={"changed": changed},
        ip_address=ip_address,
    )
    return source
