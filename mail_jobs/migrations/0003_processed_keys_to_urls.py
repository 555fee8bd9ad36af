"""Processed-message keys of the form "imap:<source>:<UIDVALIDITY>:<UID>" / "pop3:<source>:<UIDL>" become URLs
naming the server, account and folder, taken from each source's settings at the upgrade (the mailbox its
processed mail was read from). Mail left in a mailbox (mark-as-read, or kept after a crash) keeps counting as
processed; a source whose mailbox cannot be named (no connected system) keeps its old keys, which match
nothing, so its mail is read again rather than taken for processed."""

from typing import Any

from django.db import migrations

_DEFAULT_PORTS = {("imap", True): 993, ("imap", False): 143, ("pop3", True): 995, ("pop3", False): 110}
_BATCH = 1000


def _mailbox(source: Any, protocol: str) -> str | None:
    from microsoft.config import endpoints
    from microsoft.mailbox import MailProtocol, mailbox_url

    if source.server_kind == "exchange":
        system = source.exchange_system
        username = source.shared_mailbox or (system.mailbox if system is not None else "")
        config = endpoints()
        host, port = (config.imap_host, config.imap_port) if protocol == "imap" else (config.pop_host, config.pop_port)
    else:
        username, host = source.custom_username, source.custom_host
        port = source.custom_port or _DEFAULT_PORTS[(protocol, source.custom_security == "ssl")]
    if not username or not host:
        return None
    folder = source.folder if protocol == "imap" else "INBOX"
    return mailbox_url(MailProtocol(protocol), host, port, username, folder)


def keys_to_urls(apps: Any, schema_editor: Any) -> None:
    from microsoft.mailbox import message_url

    source_model = apps.get_model("mail_jobs", "MailJobSource")
    processed_model = apps.get_model("mail_jobs", "ProcessedMessage")
    for source in source_model.objects.select_related("exchange_system"):
        for protocol in ("imap", "pop3"):
            mailbox = _mailbox(source, protocol)
            prefix = f"{protocol}:{source.pk}:"
            if mailbox is None:
                continue
            records = processed_model.objects.filter(source=source, message_key__startswith=prefix).only("message_key")
            batch = []
            for record in records.iterator(chunk_size=_BATCH):
                key = record.message_key.removeprefix(prefix)
                record.message_key = message_url(mailbox, key, imap=protocol == "imap")
                batch.append(record)
                if len(batch) == _BATCH:
                    processed_model.objects.bulk_update(batch, ["message_key"])
                    batch = []
            processed_model.objects.bulk_update(batch, ["message_key"])


class Migration(migrations.Migration):
    dependencies = [("mail_jobs", "0002_processed_key_names_mailbox")]

    operations = [migrations.RunPython(keys_to_urls, migrations.RunPython.noop)]
