"""A mail server that lies about the size of its messages: IMAP4rev1 or POP3 over TLS on a real socket.

It announces `claimed_size` (RFC822.SIZE, LIST) and sends the real message. Over IMAP it honours a partial FETCH
(``BODY.PEEK[]<0.N>``) unless told not to, as a server that ignores the request would. It speaks just enough of
each protocol for imaplib and poplib, and records what it sent and what it was asked to delete.
"""

from __future__ import annotations

import re
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHUNK = 64 * 1024
UIDVALIDITY = 7


@dataclass
class StoredMessage:
    uid: int
    data: bytes
    claimed_size: int
    stuffed: bytes = b""  # as POP3 sends it: a leading "." doubled, ending in CRLF

    def __post_init__(self) -> None:
        stuffed = re.sub(rb"(?m)^\.", b"..", self.data)
        self.stuffed = stuffed if stuffed.endswith(b"\r\n") else stuffed + b"\r\n"

    @property
    def header(self) -> bytes:
        end = self.data.find(b"\r\n\r\n")
        return self.data[: end + 4] if end >= 0 else self.data


@dataclass
class LyingMailServer:
    protocol: str  # "imap" or "pop3"
    cert_path: Path
    key_path: Path
    honour_partial: bool = True
    messages: list[StoredMessage] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)  # uids, once the deletion took effect
    bytes_sent: dict[int, int] = field(default_factory=dict)  # uid -> message bytes sent for it
    commands: list[str] = field(default_factory=list)
    port: int = 0
    _listener: socket.socket | None = None

    def add(self, data: bytes, *, claimed_size: int) -> None:
        self.messages.append(StoredMessage(len(self.messages) + 1, data, claimed_size))

    def start(self) -> int:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.cert_path), str(self.key_path))
        listener = socket.create_server(("127.0.0.1", 0))
        self._listener, self.port = listener, listener.getsockname()[1]
        threading.Thread(target=self._accept, args=(listener, context), daemon=True).start()
        return self.port

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()

    def _accept(self, listener: socket.socket, context: ssl.SSLContext) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client, context), daemon=True).start()

    def _serve(self, client: socket.socket, context: ssl.SSLContext) -> None:
        try:
            with context.wrap_socket(client, server_side=True) as tls:
                session = _Imap(self, tls) if self.protocol == "imap" else _Pop3(self, tls)
                session.run()
        except (OSError, ssl.SSLError):
            pass  # the client hung up, perhaps in the middle of a message: that is what some tests want


class _Session:
    def __init__(self, server: LyingMailServer, tls: ssl.SSLSocket) -> None:
        self.server, self.tls = server, tls
        self.reader = tls.makefile("rb")
        self.live = [m for m in server.messages if m.uid not in server.deleted]

    def send(self, text: str | bytes) -> None:
        self.tls.sendall(text.encode() if isinstance(text, str) else text)

    def send_message(self, message: StoredMessage, data: bytes | memoryview) -> None:
        """Sent in pieces without copying: the tests measure the client's memory in the same process."""
        view, sent = memoryview(data), 0
        while sent < len(view):
            written = self.tls.send(view[sent : sent + CHUNK])
            sent += written
            self.server.bytes_sent[message.uid] = self.server.bytes_sent.get(message.uid, 0) + written

    def lines(self) -> Any:
        while line := self.reader.readline():
            text = line.decode(errors="replace").rstrip("\r\n")
            self.server.commands.append(text)
            yield text

    def by_uid(self, uid: int) -> tuple[int, StoredMessage] | None:
        return next(((n, m) for n, m in enumerate(self.live, 1) if m.uid == uid), None)


class _Imap(_Session):
    def run(self) -> None:
        self.send("* OK [CAPABILITY IMAP4rev1 UIDPLUS AUTH=PLAIN] lying server ready\r\n")
        flagged: set[int] = set()
        for line in self.lines():
            tag, _, rest = line.partition(" ")
            command, _, args = rest.partition(" ")
            command = command.upper()
            if command == "CAPABILITY":
                self.send(f"* CAPABILITY IMAP4rev1 UIDPLUS AUTH=PLAIN\r\n{tag} OK done\r\n")
            elif command == "LOGIN":
                self.send(f"{tag} OK signed in\r\n")
            elif command == "SELECT":
                self.send(
                    f"* {len(self.live)} EXISTS\r\n* OK [UIDVALIDITY {UIDVALIDITY}] ok\r\n{tag} OK [READ-WRITE] ok\r\n"
                )
            elif command == "UID":
                self._uid(tag, args, flagged)
            elif command in ("CLOSE", "EXPUNGE", "NOOP"):
                self._expunge(flagged)
                self.send(f"{tag} OK done\r\n")
            elif command == "LOGOUT":
                self.send(f"* BYE see you\r\n{tag} OK bye\r\n")
                return
            else:
                self.send(f"{tag} BAD unknown command\r\n")

    def _uid(self, tag: str, args: str, flagged: set[int]) -> None:
        command, _, rest = args.partition(" ")
        command = command.upper()
        if command == "SEARCH":
            self.send(f"* SEARCH {' '.join(str(m.uid) for m in self.live)}\r\n{tag} OK done\r\n")
        elif command == "FETCH" and "RFC822.SIZE" in rest:
            for number, message in enumerate(self.live, 1):
                self.send(f"* {number} FETCH (UID {message.uid} RFC822.SIZE {message.claimed_size})\r\n")
            self.send(f"{tag} OK done\r\n")
        elif command == "FETCH":
            self._fetch_body(tag, rest)
        elif command == "STORE":
            flagged.update(int(uid) for uid in rest.split()[0].split(","))
            self.send(f"{tag} OK done\r\n")
        elif command == "EXPUNGE":
            self._expunge(flagged)
            self.send(f"{tag} OK done\r\n")
        else:
            self.send(f"{tag} BAD unknown UID command\r\n")

    def _fetch_body(self, tag: str, rest: str) -> None:
        """One UID or a list of them ("1,2,5", as a batch read asks)."""
        uid_text, _, item = rest.partition(" ")
        found = [hit for uid in uid_text.split(",") if (hit := self.by_uid(int(uid))) is not None]
        if not found:
            self.send(f"{tag} NO no such message\r\n")
            return
        for number, message in found:
            self._send_body(number, message, item)
        self.send(f"{tag} OK done\r\n")

    def _send_body(self, number: int, message: StoredMessage, item: str) -> None:
        partial = re.search(r"<0\.(\d+)>", item)
        data: bytes | memoryview
        if "HEADER" in item.upper():
            label, data = "BODY[HEADER]", message.header
        elif partial and self.server.honour_partial:
            label, data = "BODY[]<0>", memoryview(message.data)[: int(partial.group(1))]  # no copy: see below
        else:
            label, data = "BODY[]", message.data
        self.send(f"* {number} FETCH (UID {message.uid} {label} {{{len(data)}}}\r\n")
        self.send_message(message, data)
        self.send(")\r\n")

    def _expunge(self, flagged: set[int]) -> None:
        self.server.deleted.extend(uid for uid in sorted(flagged) if uid not in self.server.deleted)
        self.live = [m for m in self.live if m.uid not in flagged]


class _Pop3(_Session):
    def run(self) -> None:
        self.send("+OK lying POP3 ready\r\n")
        marked: set[int] = set()
        for line in self.lines():
            command, _, args = line.partition(" ")
            command = command.upper()
            if command in ("USER", "PASS", "NOOP"):
                self.send("+OK\r\n")
            elif command == "STAT":
                self.send(f"+OK {len(self.live)} {sum(m.claimed_size for m in self.live)}\r\n")
            elif command == "LIST":
                listing = "".join(f"{n} {m.claimed_size}\r\n" for n, m in enumerate(self.live, 1))
                self.send(f"+OK\r\n{listing}.\r\n")
            elif command == "UIDL":
                listing = "".join(f"{n} uid-{m.uid}\r\n" for n, m in enumerate(self.live, 1))
                self.send(f"+OK\r\n{listing}.\r\n")
            elif command in ("RETR", "TOP"):
                message = self.live[int(args.split()[0]) - 1]
                self.send("+OK\r\n")
                self.send_message(message, message.header if command == "TOP" else message.stuffed)
                self.send(".\r\n")
            elif command == "DELE":
                marked.add(self.live[int(args) - 1].uid)
                self.send("+OK marked\r\n")
            elif command == "QUIT":
                self.server.deleted.extend(sorted(marked))  # POP3 deletes at QUIT only
                self.send("+OK bye\r\n")
                return
            else:
                self.send("-ERR unknown command\r\n")
