"""Reaching a mail server: which addresses a tenant's server may have, how long a conversation may last, and what
of a server's reply may be shown.

A host that a tenant admin typed (a custom SMTP server, another IMAP or POP3 server) is a claim: it could name the
operator's own Redis, database, relay or cloud metadata service. `tenant_host_check` is the one check for every
such host, at save time (the forms call it through a thin wrapper) and again right before connecting. It refuses
any name that resolves to loopback, private, link-local, unique-local, carrier-grade NAT, multicast, reserved or
unspecified addresses (IPv4 embedded in IPv6 included), unless the operator allows that network; and IPv4 written
other than as four decimal numbers, which resolvers read in surprising ways (`2130706433`, `0177.0.0.1`, `127.1`).
`open_connection` then connects to an address the check returned, never resolving the name again, so a DNS answer
that changes between the check and the connection cannot reach loopback; TLS still verifies the certificate
against the host name.

`TimeLimit` bounds a whole conversation: a server that answers one byte at a time never trips a read timeout, so
when the time is up the socket is shut down, which wakes any read blocked on it. `reply_line` turns what a server
said into one short printable line; `TimeLimit.exceeded` and `connection_lost` are what SMTP, IMAP and POP3 alike
say when a conversation ran out of time or the connection failed.

Plain values in, `microsoft.errors` out; no Django here.
"""

from __future__ import annotations

import contextlib
import enum
import ipaddress
import re
import socket
import ssl
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from microsoft.errors import ConfigurationError, TransientError

__all__ = [
    "CheckedHost",
    "HostRefused",
    "IPNetwork",
    "MailEndpoint",
    "Security",
    "TenantServerRules",
    "TimeLimit",
    "connection_lost",
    "host_key",
    "open_connection",
    "open_endpoint",
    "parse_networks",
    "reply_line",
    "tenant_host_check",
    "tls_context",
    "xoauth2_string",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

REPLY_LINE_LENGTH = 160
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
_CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_PUBLIC_ONLY = (
    "Roger connects only to mail servers on the public internet: enter the public host name of your mail server."
)


class Security(enum.StrEnum):
    """How a connection to a mail server is secured (SMTP, IMAP and POP3 alike)."""

    SSL = "ssl"  # implicit TLS from the first byte
    STARTTLS = "starttls"  # a plain connection upgraded to TLS before anything is signed in
    NONE = "none"


@dataclass(frozen=True)
class TenantServerRules:
    """What the operator allows a tenant's server beyond the public internet (settings: TENANT_MAIL_*)."""

    allowed_networks: tuple[IPNetwork, ...] = ()
    allow_plaintext_login: bool = False  # a password or token over a connection without TLS


@dataclass(frozen=True)
class CheckedHost:
    name: str  # normalized: lower case, no brackets, no trailing dot; what TLS verifies
    addresses: tuple[str, ...]  # the only addresses a connection to it may use


class HostRefused(ConfigurationError):
    """The host or port may not be used; `field` says which ("host" or "port") for a form to show it."""

    def __init__(self, explanation: str, *, field: str = "host", error: str = "host_refused") -> None:
        super().__init__(explanation, error=error)
        self.field = field


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR strings ("127.0.0.1/32", "10.8.0.0/16") as networks; ValueError names a wrong one."""
    return tuple(ipaddress.ip_network(value.strip()) for value in values if value.strip())


# --- the check --------------------------------------------------------------------------------------------------


def tenant_host_check(host: str, port: int, *, allowed_networks: Sequence[IPNetwork]) -> CheckedHost:
    """Check a host and port a tenant admin typed; returns the addresses a connection may use.

    Raises `HostRefused` (a ConfigurationError) for a malformed host, a port outside 1-65535 or any address in a
    network that is not public and not allowed; `TransientError` when the name cannot be resolved right now.
    """
    if not 1 <= port <= 65535:
        raise HostRefused("Enter a port from 1 to 65535.", field="port", error="port_refused")
    name = _normalized(host)
    literal = _ip_literal(name)
    addresses = [literal] if literal is not None else _resolve(name, port)
    for address in addresses:
        reason = _forbidden_reason(address, allowed_networks)
        if reason:
            subject = f"{name} is" if literal is not None else f"{name} resolves to"
            raise HostRefused(f"{subject} {_article(reason)} {reason} address. {_PUBLIC_ONLY}")
    return CheckedHost(name=name, addresses=tuple(dict.fromkeys(str(address) for address in addresses)))


def host_key(host: str) -> str:
    """The host as the check reads it (lower case, no brackets, no trailing dot), to compare two of them."""
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name.endswith(".") and not name.endswith(".."):
        name = name[:-1]
    return name


def _normalized(host: str) -> str:
    name = host_key(host)
    if not name or (not _HOST_NAME.match(name) and _ip_literal(name) is None):
        raise HostRefused("Enter the host name only, e.g. smtp.example.com (no https:// and no port).")
    if _ip_literal(name) is None and _other_ipv4_notation(name):
        raise HostRefused(
            f"Write the IP address {host.strip()} as four decimal numbers (for example 203.0.113.25), "
            "or enter the host name."
        )
    return name


def _ip_literal(name: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(name)  # strict: four decimal numbers, or IPv6
    except ValueError:
        return None


def _other_ipv4_notation(name: str) -> bool:
    """Whether the C resolver would read `name` as an IPv4 address (decimal, octal, hex, fewer than 4 parts)."""
    try:
        socket.inet_aton(name)
    except OSError:
        return False
    return True


def _resolve(name: str, port: int) -> list[IPAddress]:
    try:
        answers = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TransientError(
            f"The host name {name} could not be resolved ({exc.strerror or 'no answer'}). Check its spelling.",
            error="host_unresolved",
        ) from None
    addresses = [ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]) for *_, sockaddr in answers]
    if not addresses:
        raise TransientError(f"The host name {name} has no address.", error="host_unresolved")
    return addresses


def _forbidden_reason(address: IPAddress, allowed_networks: Sequence[IPNetwork]) -> str:
    """Why `address` may not be reached ("" when it may): the class of a non-public address."""
    embedded = _embedded_ipv4(address)
    if any(candidate in network for candidate in (address, embedded) if candidate for network in allowed_networks):
        return ""
    if embedded is not None:
        return _forbidden_reason(embedded, ())
    classes = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address in _CARRIER_GRADE_NAT, "carrier-grade NAT"),
        (address.is_multicast, "multicast"),
        (address in _UNIQUE_LOCAL, "unique-local"),
        (isinstance(address, ipaddress.IPv6Address) and address.is_site_local, "site-local"),
        (address.is_reserved, "reserved"),
        (address.is_private, "private network"),
        (not address.is_global, "non-public"),
    )
    return next((reason for matches, reason in classes if matches), "")


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries to: IPv4-mapped, 6to4 or NAT64 (its reachability is the IPv4's)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _article(reason: str) -> str:
    return "an" if reason[0] in "aeiou" else "a"


# --- connecting -------------------------------------------------------------------------------------------------


class TimeLimit:
    """The whole conversation with one server ends by `seconds` after it started.

    Socket timeouts bound each read; a server that sends a byte just before each one runs out would hold the
    worker forever. When the time is up the socket is shut down (through a duplicate of its descriptor, which
    stays valid when a library wraps the socket in TLS), so a blocked read returns and the library gives up.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._expired = False
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    @property
    def expired(self) -> bool:
        return self._expired

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            duplicate = sock.dup()
            self._sockets.append(duplicate)
            if self._expired:
                _shut(duplicate)

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            for duplicate in self._sockets:
                _shut(duplicate)

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            for duplicate in self._sockets:
                duplicate.close()
            self._sockets.clear()

    def exceeded(self, server: str) -> TransientError:
        """The error when the conversation with `server` (as the caller names it) ran out of time: whatever
        failed, it failed because the time was up."""
        return TransientError(
            f"{server[:1].upper()}{server[1:]} did not finish within {self.seconds:g} seconds (it answers too slowly "
            "or not at all). It will be tried again.",
            error="time_limit",
        )


def connection_lost(server: str, exc: BaseException, *, closed: tuple[type[BaseException], ...] = ()) -> TransientError:
    """The error when `server` (as the caller names it) could not be reached or stopped answering; `closed`: the
    client library's own exceptions for a connection the server closed. The caller has already told apart what a
    person must fix (a certificate, a refusal in the protocol's own words)."""
    return TransientError(
        f"Could not talk to {server}: {_failure(exc, closed)}. It will be tried again.", error="connection_error"
    )


def _failure(exc: BaseException, closed: tuple[type[BaseException], ...]) -> str:
    """What went wrong with the connection, in words that never repeat what the server sent."""
    if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):  # smtplib wraps read timeouts
        return "it did not answer in time"
    if isinstance(exc, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(exc, socket.gaierror):
        return "the host name could not be resolved"
    if isinstance(exc, ssl.SSLError):
        return f"TLS could not be negotiated ({exc.reason or 'handshake failed'}); check the port and the security"
    if isinstance(exc, (EOFError, ConnectionError, *closed)):
        return "the connection was closed"
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__


def xoauth2_string(username: str, access_token: str) -> str:
    """The SASL XOAUTH2 initial response before base64, the same for SMTP, IMAP and POP3 (protocols.md §4):
    ``user=...^Aauth=Bearer ...^A^A``."""
    return f"user={username}\x01auth=Bearer {access_token}\x01\x01"


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the other side
        sock.shutdown(socket.SHUT_RDWR)


def open_connection(
    host: str,
    port: int,
    *,
    rules: TenantServerRules | None,
    connect_timeout: float,
    read_timeout: float,
    time_limit: TimeLimit,
) -> socket.socket:
    """A TCP connection to host:port, watched by `time_limit`.

    With `rules` (a server a tenant typed) the host is checked first and the connection goes only to an address
    the check returned. Without (the operator's own endpoints from settings) the name is resolved as usual.
    """
    if rules is not None:
        addresses: Sequence[str] = tenant_host_check(host, port, allowed_networks=rules.allowed_networks).addresses
    else:
        addresses = [str(sockaddr[0]) for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    error: OSError = OSError(f"no address for {host}")
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(connect_timeout)
            sock.connect((address, port))
        except OSError as exc:
            sock.close()
            error = exc
            continue
        sock.settimeout(read_timeout)
        time_limit.watch(sock)
        return sock
    raise error


class MailEndpoint(Protocol):
    """What a mail protocol's server settings (SMTP, IMAP, POP3) say about reaching it."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def ca_bundle(self) -> str | None: ...
    @property
    def timeout(self) -> float: ...
    @property
    def connect_timeout(self) -> float: ...
    @property
    def rules(self) -> TenantServerRules | None: ...


def open_endpoint(server: MailEndpoint, time_limit: TimeLimit) -> socket.socket:
    """`open_connection` with the server's own rules and timeouts."""
    return open_connection(
        server.host,
        server.port,
        rules=server.rules,
        connect_timeout=server.connect_timeout,
        read_timeout=server.timeout,
        time_limit=time_limit,
    )


def tls_context(server: MailEndpoint) -> ssl.SSLContext:
    """TLS that trusts the server's CA bundle, or the system's trust store when it names none."""
    return ssl.create_default_context(cafile=server.ca_bundle) if server.ca_bundle else ssl.create_default_context()


# --- what a server said -----------------------------------------------------------------------------------------


def reply_line(reply: bytes | str | None, *, limit: int = REPLY_LINE_LENGTH) -> str:
    """The first line of a server's reply as short printable text: no control or formatting characters (no
    terminal escapes, no right-to-left overrides), spaces collapsed, at most `limit` characters."""
    text = reply.decode("utf-8", errors="replace") if isinstance(reply, bytes) else (reply or "")
    first = next((line for line in re.split(r"[\r\n\u2028\u2029\x85]+", text) if line.strip()), "")
    visible = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in first)
    line = " ".join(visible.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
