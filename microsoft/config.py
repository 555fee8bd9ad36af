"""Every Microsoft endpoint and operator app, read from Django settings.

This is the only module that names Microsoft hosts. Production defaults are Microsoft's public cloud;
the demo and the tests point the settings at the local emulator.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from microsoft.mail_connection import TenantServerRules, parse_networks

__all__ = [
    "GRAPH_DEFAULT_SCOPE",
    "GRAPH_RESOURCE",
    "OUTLOOK_RESOURCE",
    "PERSONAL_ACCOUNTS_TENANT_ID",
    "AppCredentials",
    "MicrosoftEndpoints",
    "authority_url",
    "endpoints",
    "instance_discovery_enabled",
    "is_microsoft_host",
    "tenant_mail_limits",
    "tenant_server_rules",
]

logger = logging.getLogger(__name__)

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_GRAPH_URL = "https://graph.microsoft.com"
DEFAULT_SMTP_HOST = "smtp.office365.com"
DEFAULT_SMTP_PORT = 587
DEFAULT_IMAP_HOST = "outlook.office365.com"
DEFAULT_IMAP_PORT = 993
DEFAULT_POP_HOST = "outlook.office365.com"
DEFAULT_POP_PORT = 995
DEFAULT_HTTP_TIMEOUT = 15.0

# Resource identifiers name an API inside scopes and token audiences; they are not network addresses,
# so they stay the same when the endpoints point at the emulator.
GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_DEFAULT_SCOPE = f"{GRAPH_RESOURCE}/.default"
OUTLOOK_RESOURCE = "https://outlook.office.com"

# The directory of personal Microsoft accounts (outlook.com, hotmail.com...).
PERSONAL_ACCOUNTS_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"

# Domains that Microsoft's own identity and API hosts live under (public and national clouds).
_MICROSOFT_DOMAINS = (
    "microsoftonline.com",
    "microsoft.com",
    "windows.net",
    "office365.com",
    "office.com",
    "microsoftonline.us",
    "microsoft.us",
    "chinacloudapi.cn",
    "partner.microsoftonline.cn",
)


@dataclass(frozen=True)
class MicrosoftEndpoints:
    """Where Microsoft's services are reached, and how."""

    authority_host: str
    graph_url: str
    smtp_host: str
    smtp_port: int
    imap_host: str
    imap_port: int
    pop_host: str
    pop_port: int
    ca_bundle: str | None
    http_timeout: float


@dataclass(frozen=True)
class AppCredentials:
    """An Entra app registration as seen by a client: its id and, for confidential clients, its secret.

    A secret of None means a public client (device code flow): no secret is ever sent.
    """

    client_id: str
    client_secret: str | None = None

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        secret = "None" if self.client_secret is None else "'***'"
        return f"AppCredentials(client_id={self.client_id!r}, client_secret={secret})"

    @property
    def is_public(self) -> bool:
        return self.client_secret is None


def _setting(name: str, default: object) -> object:
    value = getattr(settings, name, None)
    return default if value in (None, "") else value


def endpoints() -> MicrosoftEndpoints:
    """Read the Microsoft endpoints from settings, falling back to Microsoft's public cloud."""
    return MicrosoftEndpoints(
        authority_host=str(_setting("MICROSOFT_AUTHORITY_HOST", DEFAULT_AUTHORITY_HOST)).rstrip("/"),
        graph_url=str(_setting("MICROSOFT_GRAPH_URL", DEFAULT_GRAPH_URL)).rstrip("/"),
        smtp_host=str(_setting("MICROSOFT_SMTP_HOST", DEFAULT_SMTP_HOST)),
        smtp_port=int(str(_setting("MICROSOFT_SMTP_PORT", DEFAULT_SMTP_PORT))),
        imap_host=str(_setting("MICROSOFT_IMAP_HOST", DEFAULT_IMAP_HOST)),
        imap_port=int(str(_setting("MICROSOFT_IMAP_PORT", DEFAULT_IMAP_PORT))),
        pop_host=str(_setting("MICROSOFT_POP_HOST", DEFAULT_POP_HOST)),
        pop_port=int(str(_setting("MICROSOFT_POP_PORT", DEFAULT_POP_PORT))),
        ca_bundle=getattr(settings, "MICROSOFT_CA_BUNDLE", None) or None,
        http_timeout=float(str(_setting("MICROSOFT_HTTP_TIMEOUT", DEFAULT_HTTP_TIMEOUT))),
    )


def authority_url(tenant: str) -> str:
    """The MSAL authority for a directory: a GUID, a domain, `organizations` or `common`."""
    return f"{endpoints().authority_host}/{tenant.strip('/')}"


def is_microsoft_host(url: str) -> bool:
    """Whether the URL points at one of Microsoft's own hosts (as opposed to the emulator)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return any(host == domain or host.endswith(f".{domain}") for domain in _MICROSOFT_DOMAINS)


def instance_discovery_enabled() -> bool:
    """MSAL's instance discovery only exists on Microsoft's hosts; any other authority must skip it."""
    return is_microsoft_host(endpoints().authority_host)


@dataclass(frozen=True)
class TenantMailLimits:
    """Seconds a connection to a tenant's mail server may take: to connect, per read, and in all."""

    connect_timeout: float
    read_timeout: float
    smtp_time_limit: float
    mailbox_time_limit: float


def tenant_server_rules() -> TenantServerRules:
    """What the operator allows the mail servers tenants type: networks beyond the public internet
    (TENANT_MAIL_ALLOWED_NETWORKS) and passwords without TLS (TENANT_MAIL_ALLOW_PLAINTEXT_PASSWORDS)."""
    networks = getattr(settings, "TENANT_MAIL_ALLOWED_NETWORKS", None) or ()
    try:
        allowed = parse_networks(networks.split(",") if isinstance(networks, str) else networks)
    except ValueError as exc:
        raise ImproperlyConfigured(f"TENANT_MAIL_ALLOWED_NETWORKS: {exc} (write networks as 10.8.0.0/16).") from exc
    return TenantServerRules(
        allowed_networks=allowed,
        allow_plaintext_login=bool(getattr(settings, "TENANT_MAIL_ALLOW_PLAINTEXT_PASSWORDS", False)),
    )


def tenant_mail_limits() -> TenantMailLimits:
    return TenantMailLimits(
        connect_timeout=float(str(_setting("TENANT_MAIL_CONNECT_TIMEOUT", 10.0))),
        read_timeout=float(str(_setting("TENANT_MAIL_READ_TIMEOUT", 30.0))),
        smtp_time_limit=float(str(_setting("TENANT_MAIL_SMTP_TIME_LIMIT", 120.0))),
        mailbox_time_limit=float(str(_setting("TENANT_MAIL_MAILBOX_TIME_LIMIT", 600.0))),
    )
