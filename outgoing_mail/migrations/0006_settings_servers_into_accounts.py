"""Each tenant's outgoing SMTP server moves into a mail server account of its own, unchanged: the Exchange Online
system and the mailbox it sends as, or the host, port, security, user name and encrypted password (decrypted and
encrypted again with the same keys), kept also while Roger's own server is chosen. The mode becomes whether the
tenant's server is used, and the account's kind says which. Backwards, the account's values go back."""

from typing import Any

from django.db import migrations

_COPIED = (  # (settings field, account field)
    ("exchange_system_id", "exchange_system_id"),
    ("send_as_mailbox", "shared_mailbox"),
    ("custom_host", "host"),
    ("custom_port", "port"),
    ("custom_security", "security"),
    ("custom_username", "username"),
    ("custom_password", "password"),
)


def settings_to_accounts(apps: Any, schema_editor: Any) -> None:
    settings_model = apps.get_model("outgoing_mail", "OutgoingMailSettings")
    account_model = apps.get_model("mail_servers", "MailServerAccount")
    for current in settings_model.objects.filter(mail_server__isnull=True).iterator():
        # Roger's own server chosen: the tenant's server was last a custom one if one was typed.
        kind = current.mode if current.mode != "default" else ("custom" if current.custom_host else "exchange")
        account = account_model(tenant_id=current.tenant_id, kind=kind, protocol="smtp")
        for settings_field, account_field in _COPIED:
            setattr(account, account_field, getattr(current, settings_field))
        account.save()
        current.mail_server = account
        current.use_own_server = current.mode != "default"
        current.save(update_fields=["mail_server", "use_own_server"])


def accounts_to_settings(apps: Any, schema_editor: Any) -> None:
    settings_model = apps.get_model("outgoing_mail", "OutgoingMailSettings")
    account_model = apps.get_model("mail_servers", "MailServerAccount")
    # Only the columns copied back: later migrations of mail_servers may have renamed others.
    copied = [account_field for _, account_field in _COPIED] + ["kind"]
    for current in settings_model.objects.filter(mail_server__isnull=False).iterator():
        account = account_model.objects.only(*copied).get(pk=current.mail_server_id)
        for settings_field, account_field in _COPIED:
            setattr(current, settings_field, getattr(account, account_field))
        current.custom_port = account.port or 587
        current.mode = account.kind if current.use_own_server else "default"
        current.mail_server = None
        current.save()
        account_model.objects.filter(pk=account.pk).delete()


class Migration(migrations.Migration):
    dependencies = [("outgoing_mail", "0005_settings_point_at_a_mail_server")]

    operations = [migrations.RunPython(settings_to_accounts, accounts_to_settings)]
