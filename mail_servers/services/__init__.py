"""Services of mail server accounts: writes, typed and keyword-only. Other apps import from here."""

from mail_servers.services.accounts import (
    MailServerSaved,
    MailServerValues,
    mail_server_create,
    mail_server_owner_get_or_create,
    mail_server_save,
    mail_server_status_record,
    password_destination_changed,
)
from mail_servers.services.connection_test import (
    mail_server_test_lease,
    mail_server_test_run,
    mail_server_test_start,
    running_tests,
)

__all__ = [
    "MailServerSaved",
    "MailServerValues",
    "mail_server_create",
    "mail_server_owner_get_or_create",
    "mail_server_save",
    "mail_server_status_record",
    "mail_server_test_lease",
    "mail_server_test_run",
    "mail_server_test_start",
    "password_destination_changed",
    "running_tests",
]
