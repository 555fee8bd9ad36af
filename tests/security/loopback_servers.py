"""Small TCP servers on loopback, each in a thread, for the mail server security tests.

They stand for what a hostile tenant admin could point the portal at: an internal service that must never be
reached, a server that accepts and never answers, one that dribbles a byte at a time forever, one whose banner is
not SMTP at all, and a mail server that records what a client sends (to see whether a password crossed in clear).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

Handler = Callable[[socket.socket, "LoopbackServer"], None]


@dataclass
class LoopbackServer:
    handler: Handler
    host: str = "127.0.0.1"
    port: int = 0
    dual_stack: bool = False  # listen on "::" for IPv4 and IPv6 (::1, ::ffff:127.0.0.1) alike
    stop: threading.Event = field(default_factory=threading.Event)
    accepted: list[tuple[str, int]] = field(default_factory=list)
    received: bytearray = field(default_factory=bytearray)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, data: bytes) -> None:
        with self._lock:
            self.received.extend(data)

    def serve(self, listener: socket.socket) -> None:
        listener.settimeout(0.1)
        workers = []
        while not self.stop.is_set():
            try:
                connection, peer = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            self.accepted.append(peer[:2])
            worker = threading.Thread(target=self._handle, args=(connection,), daemon=True)
            worker.start()
            workers.append(worker)
        for worker in workers:
            worker.join(timeout=5)

    def _handle(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):  # the client hung up: what the tests expect of it
            self.handler(connection, self)


@contextmanager
def loopback_server(handler: Handler, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[LoopbackServer]:
    """Run `handler` for every connection to host:port (port 0: a free one) until the block ends."""
    dual_stack = host == "::"
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    if dual_stack:
        listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(16)
    server = LoopbackServer(handler, host=host, port=listener.getsockname()[1], dual_stack=dual_stack)
    thread = threading.Thread(target=server.serve, args=(listener,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        thread.join(timeout=5)
        listener.close()


# --- behaviours ---------------------------------------------------------------------------------------------


def silent(connection: socket.socket, server: LoopbackServer) -> None:
    """Accept and never say a word (a service that waits for its client to speak first, or a tarpit)."""
    server.stop.wait()


def dribbling(first: bytes) -> Handler:
    """Send `first`, then one byte every 50 ms for as long as the client listens: no read ever times out."""

    def handle(connection: socket.socket, server: LoopbackServer) -> None:
        connection.sendall(first)
        while not server.stop.wait(0.05):
            connection.sendall(b"x")

    return handle


def greeting_only(banner: bytes) -> Handler:
    """Send `banner`, then record whatever the client sends until it hangs up."""

    def handle(connection: socket.socket, server: LoopbackServer) -> None:
        connection.sendall(banner)
        _record_until_closed(connection, server)

    return handle


def scripted(greeting: bytes, answer: Callable[[bytes], bytes]) -> Handler:
    """Greet, then answer each line the client sends with `answer(line)`, recording everything received."""

    def handle(connection: socket.socket, server: LoopbackServer) -> None:
        connection.sendall(greeting)
        reader = connection.makefile("rb")
        while not server.stop.is_set():
            line = reader.readline(65536)
            if not line:
                return
            server.record(line)
            connection.sendall(answer(line))

    return handle


def _record_until_closed(connection: socket.socket, server: LoopbackServer) -> None:
    connection.settimeout(0.2)
    while not server.stop.is_set():
        try:
            data = connection.recv(4096)
        except TimeoutError:
            continue
        if not data:
            return
        server.record(data)


def free_port_on(*hosts: str) -> int:
    """A port that is free on every one of `hosts` right now (for two servers on one port, different addresses)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((hosts[0], 0))
            port = int(probe.getsockname()[1])
        if all(_is_free(host, port) for host in hosts[1:]):
            return port
    raise RuntimeError("no common free port")


def _is_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


# --- servers that speak just enough of a mail protocol -------------------------------------------------------


def smtp_accepting(*, offer_auth: bool = False) -> Handler:
    """A plain SMTP server (no TLS) that takes every message; with `offer_auth` it offers AUTH and refuses it."""

    def handle(connection: socket.socket, server: LoopbackServer) -> None:
        connection.sendall(b"220 mail.test ESMTP ready\r\n")
        reader = connection.makefile("rb")
        in_data = False
        while line := reader.readline(65536):
            server.record(line)
            if in_data:
                if line == b".\r\n":
                    in_data = False
                    connection.sendall(b"250 2.0.0 queued\r\n")
                continue
            verb = line.split(b" ", 1)[0].strip().upper()
            ehlo = b"250-mail.test\r\n250 AUTH PLAIN LOGIN\r\n" if offer_auth else b"250 mail.test\r\n"
            replies = {b"EHLO": ehlo, b"DATA": b"354 go ahead\r\n", b"QUIT": b"221 bye\r\n", b"AUTH": b"535 no\r\n"}
            connection.sendall(replies.get(verb, b"250 ok\r\n"))
            in_data = verb == b"DATA"
            if verb == b"QUIT":
                return

    return handle


def imap_accepting(*, login_answer: bytes = b"OK signed in") -> Handler:
    """A plain IMAP server that says OK to everything (LOGIN answers `login_answer`)."""

    def answer(line: bytes) -> bytes:
        tag, _, rest = line.strip().partition(b" ")
        command = rest.split(b" ", 1)[0].upper()
        if command == b"CAPABILITY":
            return b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK done\r\n"
        if command == b"LOGOUT":
            return b"* BYE bye\r\n" + tag + b" OK done\r\n"
        if command == b"LOGIN":
            return tag + b" " + login_answer + b"\r\n"
        return tag + b" OK done\r\n"

    return scripted(b"* OK IMAP4rev1 ready\r\n", answer)


def pop3_accepting() -> Handler:
    """A plain POP3 server that says +OK to everything."""
    return scripted(b"+OK POP3 ready\r\n", lambda line: b"+OK\r\n")
