"""Fixtures for Jobs via Email: a connected Exchange Online system of tenant A and a source reading its mailbox."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from mail_servers.services import MailServerValues
from tests import exchange_online

MAILBOX = "admin@contoso.onmicrosoft.com"  # the connected mailbox (the seed lets admin open printers@ too)
SHARED_MAILBOX = "printers@contoso.onmicrosoft.com"
SENDER = "pat@alpha.example"


def connect_exchange_system(*, tenant: Any, actor: Any, m365: Any, system: Any = None, mailbox: str = MAILBOX) -> Any:
    """The Contoso admin's mailbox (or `mailbox`) connected as an Exchange Online system, or `system` reconnected
    (tests.exchange_online)."""
    return exchange_online.connect_exchange_system(
        tenant=tenant, actor=actor, m365=m365, mailbox=mailbox, system=system
    )


SERVER_FIELDS = frozenset(f.name for f in dataclasses.fields(MailServerValues))


def server_values(account: Any, **changes: Any) -> MailServerValues:
    """The account's saved server with `changes` (named as the account names them), as a settings page saves it."""
    saved = {name: getattr(account, name) for name in SERVER_FIELDS if name != "password"}
    return MailServerValues(**{**saved, "password": None, **changes})


def configure_source(tenant: Any, actor: Any, **values: Any) -> Any:
    """Jobs via Email turned on with `values`: the source's settings, and the server's (kind, protocol, host, ...)."""
    from mail_jobs.services import mail_source_get_or_create, mail_source_save

    source = mail_source_get_or_create(tenant=tenant)
    server = {name: values.pop(name) for name in list(values) if name in SERVER_FIELDS}
    return mail_source_save(
        tenant=tenant,
        values={"enabled": True, **values},
        server=server_values(source.mail_server, **server),
    )


@pytest.fixture
def exchange_system(tenant_a: Any, admin_a: Any, m365: Any) -> Any:
    return connect_exchange_system(tenant=tenant_a, actor=admin_a, m365=m365)


@pytest.fixture
def sender(tenant_a: Any) -> Any:
    from tests.factories import UserFactory

    return UserFactory(tenant=tenant_a, email=SENDER, full_name="Pat Sender")


@pytest.fixture
def mail_jobs_settings(settings: Any, m365: Any) -> Any:
    settings.CUSTOM_MAIL_CA_BUNDLE = str(m365.ca_path)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return settings


@pytest.fixture
def celery_worker_env(celery_worker_env: dict[str, str], m365: Any, tmp_path: Any) -> dict[str, str]:
    """The worker trusts the emulator's CA, writes replies to files, and a dead poll's lease runs out quickly."""
    return {
        **celery_worker_env,
        "CUSTOM_MAIL_CA_BUNDLE": str(m365.ca_path),
        "MAIL_JOBS_POLL_LEASE_SECONDS": "3",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "sent-mail"),
    }
