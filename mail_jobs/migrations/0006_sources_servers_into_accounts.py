"""Each source's server, sign-in, last poll status and last connection test move into a mail server account of
its own, unchanged: the host, port, security and user name as typed (so a processed message's key, which names
them, stays the key of the same mail), the encrypted password (decrypted and encrypted again with the same keys),
the Exchange Online system and the shared mailbox. A test that was running is queued again by the sweep.
Backwards, the account's values go back into the source."""

from typing import Any

from django.db import migrations
from django.utils import timezone

_STATUS = {"needs_reconnect": "needs_action"}  # the poller's word for "a person must act", now every user's
_POLL_STATUS = {"needs_action": "needs_reconnect"}
_COPIED = (  # (source field, account field)
    ("protocol", "protocol"),
    ("server_kind", "kind"),
    ("exchange_system_id", "exchange_system_id"),
    ("shared_mailbox", "shared_mailbox"),
    ("custom_host", "host"),
    ("custom_port", "port"),
    ("custom_security", "security"),
    ("custom_username", "username"),
    ("custom_password", "password"),
    ("last_poll_error", "status_reason"),
    ("fix_url", "fix_url"),
    ("test_status", "test_status"),
    ("test_steps", "test_steps"),
    ("test_requested_at", "test_requested_at"),
    ("test_finished_at", "test_finished_at"),
)


def _status_time(account_model: Any) -> str:
    names = {field.name for field in account_model._meta.get_fields()}
    return "status_since" if "status_since" in names else "status_at"


def _test_folders(source: Any) -> list[str]:
    moves = source.after_processing == "move" and source.protocol == "imap"
    return [source.folder, source.move_to_folder] if moves else [source.folder]


def sources_to_accounts(apps: Any, schema_editor: Any) -> None:
    source_model = apps.get_model("mail_jobs", "MailJobSource")
    account_model = apps.get_model("mail_servers", "MailServerAccount")
    for source in source_model.objects.filter(mail_server__isnull=True).iterator():
        account = account_model(tenant_id=source.tenant_id)
        for source_field, account_field in _COPIED:
            setattr(account, account_field, getattr(source, source_field))
        account.status = _STATUS.get(source.last_poll_status, source.last_poll_status)
        # mail_servers/0002 renames the time (it may run before or after this migration).
        setattr(account, _status_time(account_model), source.last_poll_at if account.status != "never" else None)
        account.test_folders = _test_folders(source)
        if source.test_status == "running":
            account.next_attempt_at = timezone.now()
        account.save()
        source.mail_server = account
        source.save(update_fields=["mail_server"])


def accounts_to_sources(apps: Any, schema_editor: Any) -> None:
    source_model = apps.get_model("mail_jobs", "MailJobSource")
    account_model = apps.get_model("mail_servers", "MailServerAccount")
    # Only the columns copied back: later migrations of mail_servers may have renamed others.
    copied = [account_field for _, account_field in _COPIED] + ["status"]
    for source in source_model.objects.filter(mail_server__isnull=False).iterator():
        account = account_model.objects.only(*copied).get(pk=source.mail_server_id)
        for source_field, account_field in _COPIED:
            setattr(source, source_field, getattr(account, account_field))
        source.last_poll_status = _POLL_STATUS.get(account.status, account.status)
        source.mail_server = None
        source.save()
        account_model.objects.filter(pk=account.pk).delete()


class Migration(migrations.Migration):
    dependencies = [("mail_jobs", "0005_source_points_at_a_mail_server")]

    operations = [migrations.RunPython(sources_to_accounts, accounts_to_sources)]
