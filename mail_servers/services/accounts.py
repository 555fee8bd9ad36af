"""Saving a mail server account, and recording how its last use went.

The page that uses an account (Settings > Network, Settings > Jobs) saves it through `mail_server_save` inside its
own transaction and writes one audit record with its own fields and what this returns as changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from mail_servers.choices import Protocol, Security, ServerKind, ServerStatus
from mail_servers.models import MailServerAccount
from microsoft.mail_connection import host_key

if TYPE_CHECKING:
    from accounts.models import Tenant
    from external_systems.models import ExternalSystem

M = TypeVar("M", bound=models.Model)
PASSWORD_CHANGED = "(changed)"
PASSWORD_DROPPED = "(removed: the server or user name changed)"
PASSWORD_WITHOUT_USER = "(removed: no user name)"


@dataclass(frozen=True)
class MailServerValues:
    """What the admin chose. `password` None keeps the saved one, where it may still go (see mail_server_save)."""

    kind: str
    protocol: str
    exchange_system: ExternalSystem | None = None
    shared_mailbox: str = ""
    host: str = ""
    port: int | None = None
    security: str = Security.SSL
    username: str = ""
    password: str | None = None


@dataclass(frozen=True)
class MailServerSaved:
    account: MailServerAccount
    changed: dict[str, Any]  # field: new value (an Exchange system as its id; the password only as a word)


# Compared field by field; a change to any of them means the server has not been checked as it is now.
_FIELDS = ("kind", "protocol", "exchange_system", "shared_mailbox", "host", "port", "security", "username")


def mail_server_create(
    *, tenant: Tenant, protocol: str, security: str = Security.SSL, port: int | None = None
) -> MailServerAccount:
    return MailServerAccount.objects.create(
        tenant=tenant, kind=ServerKind.EXCHANGE, protocol=protocol, security=security, port=port
    )


def mail_server_owner_get_or_create(model: type[M], *, tenant: Tenant, protocol: str, **server: Any) -> M:
    """The tenant's one row of `model` (a page's settings with a `mail_server` of its own), created on first use
    with a new account of `protocol` (`server`: its security and port)."""
    rows = model._default_manager.select_related("mail_server")
    found = rows.filter(tenant=tenant).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():  # a request creating it at the same time wins; its row is read below
            account = mail_server_create(tenant=tenant, protocol=protocol, **server)
            return model._default_manager.create(tenant=tenant, mail_server=account)
    except IntegrityError:
        return rows.get(tenant=tenant)


def password_destination_changed(account: MailServerAccount, *, host: str, port: int | None, username: str) -> bool:
    """Whether the saved password would now go to another server or user than it was entered for."""
    before = (host_key(account.host), account.port, account.username.strip())
    return before != (host_key(host), port, username.strip())


def mail_server_save(*, account: MailServerAccount, values: MailServerValues) -> MailServerSaved:
    """Apply `values` to `account` (locked by the caller) and save it.

    The password is only ever sent where it was entered for: without a new one it is dropped when the host, port
    or user name changes, and a password without a user name is dropped. A changed server is not checked yet:
    its status starts afresh."""
    if values.exchange_system is not None and values.exchange_system.tenant_id != account.tenant_id:
        raise ValueError("The Exchange Online system belongs to another tenant.")
    if values.protocol not in Protocol.values or values.kind not in ServerKind.values:
        raise ValueError(f"Unknown mail server {values.kind}/{values.protocol}")
    host, username = values.host.strip(), values.username.strip()
    moved = password_destination_changed(account, host=host, port=values.port, username=username)
    clean: dict[str, Any] = {
        "kind": values.kind,
        "protocol": values.protocol,
        "exchange_system": values.exchange_system,
        "shared_mailbox": values.shared_mailbox.strip(),
        "host": host,
        "port": values.port,
        "security": values.security,
        "username": username,
    }
    changed: dict[str, Any] = {}
    for name in _FIELDS:
        if getattr(account, name) != clean[name]:
            setattr(account, name, clean[name])
            changed[name] = getattr(clean[name], "pk", clean[name])
    password = _password_change(account, values.password, moved=moved)
    if password:
        changed["password"] = password
    if changed:
        account.status, account.status_reason, account.fix_url, account.status_since = ServerStatus.NEVER, "", "", None
        account.save()
    return MailServerSaved(account=account, changed=changed)


def _password_change(account: MailServerAccount, new: str | None, *, moved: bool) -> str:
    """Set or drop the password as the rule says; returns how it changed ("" when it did not)."""
    if not account.username:
        if not account.password:
            return ""
        account.password = ""
        return PASSWORD_WITHOUT_USER
    if new is not None and new != account.password:
        account.password = new
        return PASSWORD_CHANGED
    if new is None and moved and account.password:
        account.password = ""
        return PASSWORD_DROPPED
    return ""


def mail_server_status_record(*, account_id: int, status: str, reason: str = "", fix_url: str = "") -> None:
    """What using the server just showed: it works, it failed and will be tried again, or a person must act
    (NEVER: it is used differently now and has not been checked since). `status_since` is when this status
    began: a second failure in a row keeps the time of the first."""
    since = None if status == ServerStatus.NEVER else timezone.now()
    rows = MailServerAccount.objects.filter(pk=account_id)
    rows.exclude(status=status).update(status_since=since)
    rows.update(status=status, status_reason=reason, fix_url=fix_url[:500])
