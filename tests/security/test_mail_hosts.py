"""Mail servers a tenant admin types never reach the operator's network.

The attacker is a tenant admin who types a host into Settings > Network (custom SMTP) or Settings > Jobs (another
mail server) to make the workers talk to the operator's own services: loopback, private networks, cloud metadata.
Every address class is refused when the form is saved, and again when a worker connects (a row stored before the
rule existed, or a name whose DNS answer changed since), and the connection goes to the address that was checked.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from mail_jobs.models import MailJobSource
from mail_jobs.services import mail_source_poll
from mail_servers.choices import ConnectionTestStatus, ServerStatus
from mail_servers.services import mail_server_test_run
from microsoft.errors import ConfigurationError
from microsoft.mail_connection import Security
from microsoft.mailbox import MailLogin, MailProtocol, MailServer, open_mailbox
from microsoft.smtp import OutgoingMessage, SmtpServer, smtp_send
from outgoing_mail.choices import OutboundStatus
from outgoing_mail.delivery import outbound_email_deliver
from outgoing_mail.models import OutboundEmail, OutgoingMailSettings
from outgoing_mail.services import test_email_send as queue_test_email
from tests.factories import MailJobSourceFactory, OutgoingMailSettingsFactory
from tests.microsoft.test_boundaries import NETWORK_MODULES, _imported_modules
from tests.security.loopback_servers import (
    free_port_on,
    imap_accepting,
    loopback_server,
    pop3_accepting,
    smtp_accepting,
)

pytestmark = pytest.mark.django_db

NETWORK = "/settings/network/"
JOBS = "/settings/jobs/"

# Every address class a tenant's mail server may not be in, written the ways a resolver accepts them.
FORBIDDEN = [
    ("127.0.0.1", "loopback"),
    ("127.0.0.2", "loopback"),
    ("localhost", "loopback"),
    ("localhost.", "loopback"),
    ("[::1]", "loopback"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6
    ("::ffff:7f00:1", "loopback"),  # the same, in hex
    ("2002:7f00:1::1", "loopback"),  # 6to4 around 127.0.0.1
    ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
    ("10.20.30.40", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),  # cloud metadata
    ("fe80::1", "link-local"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("fd00::25", "unique-local"),
    ("224.0.0.251", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
]
# IPv4 in the notations inet_aton accepts besides four decimal numbers: all of them 127.0.0.1 here.
OTHER_NOTATIONS = ["2130706433", "0177.0.0.1", "127.1", "0x7f.0.0.1", "0x7f000001", "017700000001"]
NOTATION_MESSAGE = "four decimal numbers"
REACHES_LOOPBACK = ["127.0.0.1", "localhost", "localhost.", "::1", "::ffff:127.0.0.1", *OTHER_NOTATIONS]


@pytest.fixture(autouse=True)
def _nothing_allowed(settings: Any) -> None:
    settings.TENANT_MAIL_ALLOWED_NETWORKS = []
    settings.TENANT_MAIL_ALLOW_PLAINTEXT_PASSWORDS = False
    settings.TENANT_MAIL_READ_TIMEOUT = 3


@pytest.fixture
def internal_service() -> Iterator[Any]:
    """Stands for the operator's Redis, PostgreSQL or relay: listens on every loopback address, IPv4 and IPv6."""
    with loopback_server(lambda connection, server: None, host="::") as server:
        yield server


def network_form(host: str, port: int | str = 587, **overrides: Any) -> dict[str, Any]:
    return {
        "mode": "custom",
        "custom_host": host,
        "custom_port": str(port),
        "custom_security": "starttls",
        "custom_username": "",
        "custom_password": "",
        "from_address": "print@alpha.example",
        "from_name": "Alpha Print",
        **overrides,
    }


def jobs_form(host: str, protocol: str, port: int | str = "", **overrides: Any) -> dict[str, Any]:
    return {
        "enabled": "on",
        "protocol": protocol,
        "server_kind": "custom",
        "custom_host": host,
        "custom_port": str(port),
        "custom_security": "ssl",
        "custom_username": "print@alpha.example",
        "custom_password": "Top-Secret-1",
        "folder": "INBOX",
        "poll_interval_minutes": "5",
        "after_processing": "delete",
        "move_to_folder": "Printed",
        "max_message_size_mb": "25",
        "document_types": ["pdf"],
        "unknown_senders": "reject",
        "reply_on_rejection": "on",
        **overrides,
    }


def stored_smtp_server(tenant: Any, host: str, port: int, from_name: str = "", **server: Any) -> OutgoingMailSettings:
    """A Network row as it may sit in the database from before the rule (never through the form); `server` as the
    mail server account names its fields."""
    server = {"host": host, "port": port, "security": "none", **server}
    return OutgoingMailSettingsFactory(
        tenant=tenant, from_name=from_name, **{f"mail_server__{k}": v for k, v in server.items()}
    )


def stored_mail_source(tenant: Any, host: str, port: int, protocol: str, **server: Any) -> MailJobSource:
    """A Jobs row as it may sit in the database from before the rule (never through the form); `server` as the
    mail server account names its fields."""
    server = {"host": host, "port": port, "protocol": protocol, **server}
    return MailJobSourceFactory(
        tenant=tenant,
        enabled=True,
        next_attempt_at=timezone.now(),  # its poll is due
        **{f"mail_server__{k}": v for k, v in server.items()},
    )


def run_connection_test(source: MailJobSource) -> list[dict[str, Any]]:
    """The connection test of the source's server, run here."""
    return mail_server_test_run(account_id=source.mail_server_id)


def send_test_email(admin: Any) -> OutboundEmail:
    outbound = queue_test_email(tenant=admin.tenant, actor=admin, recipient="someone@example.net")
    outbound_email_deliver(outbound_id=outbound.pk)
    outbound.refresh_from_db()
    return outbound


# --- refused when saved ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "kind"), FORBIDDEN)
def test_network_refuses_a_custom_smtp_server_in_a_forbidden_network(
    admin_a_client: Client, host: str, kind: str
) -> None:
    response = admin_a_client.post(NETWORK, network_form(host))

    assert response.status_code == 200
    [error] = response.context["form"].errors["custom_host"]
    assert kind in error and "public" in error
    assert not OutgoingMailSettings.objects.exists()


@pytest.mark.parametrize("host", OTHER_NOTATIONS)
def test_network_refuses_ip_addresses_in_other_notations(admin_a_client: Client, host: str) -> None:
    response = admin_a_client.post(NETWORK, network_form(host))

    assert NOTATION_MESSAGE in str(response.context["form"].errors["custom_host"])
    assert not OutgoingMailSettings.objects.exists()


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
@pytest.mark.parametrize(("host", "kind"), FORBIDDEN)
def test_jobs_refuses_a_mail_server_in_a_forbidden_network(
    admin_a_client: Client, tenant_a: Any, host: str, kind: str, protocol: str
) -> None:
    response = admin_a_client.post(JOBS, jobs_form(host, protocol))

    assert response.status_code == 400
    [error] = response.context["form"].errors["custom_host"]
    assert kind in error and "public" in error
    assert MailJobSource.objects.get(tenant=tenant_a).mail_server.host == ""


@pytest.mark.parametrize("host", OTHER_NOTATIONS)
def test_jobs_refuses_ip_addresses_in_other_notations(admin_a_client: Client, tenant_a: Any, host: str) -> None:
    response = admin_a_client.post(JOBS, jobs_form(host, "imap"))

    assert NOTATION_MESSAGE in str(response.context["form"].errors["custom_host"])
    assert MailJobSource.objects.get(tenant=tenant_a).mail_server.host == ""


@pytest.mark.parametrize("port", ["0", "65536", "70000"])
def test_ports_outside_1_to_65535_are_refused(admin_a_client: Client, tenant_a: Any, port: str) -> None:
    response = admin_a_client.post(JOBS, jobs_form("imap.alpha.example", "imap", port=port))
    assert response.status_code == 400 and "custom_port" in response.context["form"].errors
    assert MailJobSource.objects.get(tenant=tenant_a).mail_server.host == ""

    response = admin_a_client.post(NETWORK, network_form("smtp.alpha.example", port=port))
    assert response.status_code == 200 and "custom_port" in response.context["form"].errors
    assert not OutgoingMailSettings.objects.exists()


# --- refused when a worker connects, for rows stored before the rule ------------------------------------------


@pytest.mark.parametrize(("host", "kind"), [*FORBIDDEN, *((h, NOTATION_MESSAGE) for h in OTHER_NOTATIONS)])
def test_a_stored_smtp_server_in_a_forbidden_network_is_never_connected(
    admin_a: Any, internal_service: Any, host: str, kind: str
) -> None:
    stored_smtp_server(admin_a.tenant, host, internal_service.port)

    outbound = send_test_email(admin_a)

    assert outbound.status == OutboundStatus.FAILED and outbound.failure_kind == "configuration"
    assert kind in outbound.last_error
    assert internal_service.accepted == []


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
@pytest.mark.parametrize(("host", "kind"), [*FORBIDDEN, *((h, NOTATION_MESSAGE) for h in OTHER_NOTATIONS)])
def test_a_stored_mail_server_in_a_forbidden_network_is_never_connected(
    tenant_a: Any, internal_service: Any, host: str, kind: str, protocol: str
) -> None:
    source = stored_mail_source(tenant_a, host, internal_service.port, protocol)

    [step] = run_connection_test(source)
    assert step["name"] == "Server" and not step["ok"] and kind in step["detail"]
    mail_source_poll(source_id=source.pk)
    source.refresh_from_db()
    assert source.mail_server.status == ServerStatus.NEEDS_ACTION and kind in source.mail_server.status_reason
    assert internal_service.accepted == []


def test_a_stored_port_above_65535_ends_the_test_with_a_reason(tenant_a: Any, admin_a: Any) -> None:
    source = stored_mail_source(tenant_a, "imap.alpha.example", 70000, "imap")

    [step] = run_connection_test(source)
    source.refresh_from_db()
    assert source.mail_server.test_status == ConnectionTestStatus.FAILED
    assert "from 1 to 65535" in step["detail"]

    stored_smtp_server(admin_a.tenant, "smtp.alpha.example", 70000)
    outbound = send_test_email(admin_a)
    assert outbound.status == OutboundStatus.FAILED and "from 1 to 65535" in outbound.last_error


# --- DNS that changes its answer ------------------------------------------------------------------------------


class FlippingDns:
    """DNS for one name that answers `first` to the first lookup and `then` to every later one (a rebinding
    attack); other names resolve as usual. It replaces socket.getaddrinfo for the test only."""

    def __init__(self, name: str, first: str, then: str) -> None:
        self.name, self.first, self.then = name, first, then
        self.answers: list[str] = []
        self._real = socket.getaddrinfo

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != self.name:
            return self._real(host, port, *args, **kwargs)
        answer = self.then if self.answers else self.first
        self.answers.append(answer)
        return self._real(answer, port, *args, **kwargs)


REBIND_NAME = "mail.rebind.example"
# 127.0.0.2 plays a public address: the operator allows it, nothing else on loopback.
PUBLIC_STAND_IN = "127.0.0.2"


def test_a_name_that_rebinds_to_loopback_after_the_save_is_refused_at_connect_time(
    admin_a_client: Client, admin_a: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.TENANT_MAIL_ALLOWED_NETWORKS = [f"{PUBLIC_STAND_IN}/32"]
    port = free_port_on(PUBLIC_STAND_IN, "127.0.0.1")
    dns = FlippingDns(REBIND_NAME, first=PUBLIC_STAND_IN, then="127.0.0.1")
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    with (
        loopback_server(smtp_accepting(), host=PUBLIC_STAND_IN, port=port) as public,
        loopback_server(smtp_accepting(), host="127.0.0.1", port=port) as internal,
    ):
        response = admin_a_client.post(NETWORK, network_form(REBIND_NAME, port, custom_security="none"))
        assert response.status_code == 302, response.context["form"].errors
        assert dns.answers == [PUBLIC_STAND_IN]  # the save looked the name up and saw the allowed address

        outbound = send_test_email(admin_a)

    assert outbound.status == OutboundStatus.FAILED and "loopback" in outbound.last_error
    assert internal.accepted == [] and public.accepted == []


@pytest.mark.parametrize("protocol", ["smtp", "imap", "pop3"])
def test_the_connection_goes_to_the_address_that_was_checked(
    settings: Any, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    """Checked once, connected there: a second lookup by the mail library would have reached loopback."""
    settings.TENANT_MAIL_ALLOWED_NETWORKS = [f"{PUBLIC_STAND_IN}/32"]
    settings.TENANT_MAIL_ALLOW_PLAINTEXT_PASSWORDS = True  # this test is about addresses
    port = free_port_on(PUBLIC_STAND_IN, "127.0.0.1")
    dns = FlippingDns(REBIND_NAME, first=PUBLIC_STAND_IN, then="127.0.0.1")
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    handler = {"smtp": smtp_accepting, "imap": imap_accepting, "pop3": pop3_accepting}[protocol]
    with (
        loopback_server(handler(), host=PUBLIC_STAND_IN, port=port) as public,
        loopback_server(handler(), host="127.0.0.1", port=port) as internal,
    ):
        if protocol == "smtp":
            message = OutgoingMessage("print@alpha.example", ("a@example.net",), b"Subject: hi\r\n\r\nhi\r\n")
            server = SmtpServer(host=REBIND_NAME, port=port, security=Security.NONE, timeout=5)
            smtp_send(server=server, login=None, message=message)
        else:
            mail_server = MailServer(MailProtocol(protocol), REBIND_NAME, port, Security.NONE, timeout=5)
            with open_mailbox(mail_server, MailLogin("print@alpha.example", password="pw")):
                pass

    assert len(public.accepted) == 1 and internal.accepted == []
    assert dns.answers == [PUBLIC_STAND_IN]


# --- what the operator allows works -----------------------------------------------------------------------------


RELAY_ACCOUNT, RELAY_PASSWORD = "relay@contoso.com", "Relay-Password-1"


@pytest.mark.emulator
def test_an_allowed_network_reaches_the_emulators_smtp_server(
    admin_a_client: Client, admin_a: Any, m365: Any, settings: Any
) -> None:
    settings.TENANT_MAIL_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.CUSTOM_MAIL_CA_BUNDLE = str(m365.ca_path)
    form = network_form(
        m365.smtp_host,
        m365.smtp_port,
        custom_username=RELAY_ACCOUNT,
        custom_password=RELAY_PASSWORD,
        from_address=RELAY_ACCOUNT,
    )
    assert admin_a_client.post(NETWORK, form).status_code == 302

    assert send_test_email(admin_a).status == OutboundStatus.SENT
    assert len(m365.control.smtp_messages(to="someone@example.net")) == 1

    settings.TENANT_MAIL_ALLOWED_NETWORKS = []  # the same saved server, once the operator no longer allows it
    refused = send_test_email(admin_a)
    assert refused.status == OutboundStatus.FAILED and "loopback" in refused.last_error
    assert len(m365.control.smtp_messages(to="someone@example.net")) == 1


@pytest.mark.emulator
@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_an_allowed_network_reaches_the_emulators_mailbox(
    admin_a_client: Client, tenant_a: Any, m365: Any, settings: Any, protocol: str
) -> None:
    settings.TENANT_MAIL_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.CUSTOM_MAIL_CA_BUNDLE = str(m365.ca_path)
    m365.control.set_mail_password("print@custom.test", "Custom-Pass-1")
    port = m365.mail["imap_port" if protocol == "imap" else "pop3_port"]
    form = jobs_form(
        m365.mail["mail_host"],
        protocol,
        port=port,
        custom_security="starttls",
        custom_username="print@custom.test",
        custom_password="Custom-Pass-1",
    )
    assert admin_a_client.post(JOBS, form).status_code == 302
    source = MailJobSource.objects.get(tenant=tenant_a)

    steps = run_connection_test(source)
    assert [step["ok"] for step in steps] == [True, True, True], steps

    settings.TENANT_MAIL_ALLOWED_NETWORKS = []
    [step] = run_connection_test(source)
    assert not step["ok"] and "loopback" in step["detail"]


def test_the_one_check_lives_in_microsoft_and_imports_no_django() -> None:
    """Forms and workers share one check; it sits with the code that connects, free of Django."""
    from microsoft import mail_connection

    modules = _imported_modules(Path(mail_connection.__file__))
    assert "django" not in modules and not modules & NETWORK_MODULES - {"socket", "ssl"}
    with pytest.raises(ConfigurationError, match="loopback"):
        mail_connection.tenant_host_check("127.0.0.1", 25, allowed_networks=())
