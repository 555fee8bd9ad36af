"""A POP3 multi-line answer is read a buffer at a time (microsoft.mailbox._read_dot_terminated): the same message,
the same cap and the same rest of the stream as reading it a line at a time, whatever the lines and reads."""

from __future__ import annotations

import io
import random

import pytest

from microsoft import mailbox
from microsoft.mailbox import _read_dot_terminated
from tests.mail_jobs.helpers import PDF, mail_with_attachments

NEXT = b"+OK the next answer, pipelined\r\n"


def _line_by_line(stream: io.BufferedReader, max_bytes: int) -> tuple[bytearray, bool]:
    """How the answer was read before: readline(_CHUNK), a leading "." dropped at a line's start."""
    kept = bytearray()
    complete, line_start = True, True
    while True:
        piece = stream.readline(mailbox._CHUNK)
        if not piece:
            raise EOFError
        if line_start and piece in (b".\r\n", b".\n"):
            return kept, complete
        if line_start and piece.startswith(b"."):
            piece = piece[1:]
        line_start = piece.endswith(b"\n")
        if complete and len(kept) + len(piece) <= max_bytes:
            kept += piece
        elif complete:
            kept += piece[: max_bytes - len(kept)]
            complete = False


class _Trickle(io.RawIOBase):
    """A socket that hands out its bytes in pieces of random sizes, as TLS records and segments arrive."""

    def __init__(self, data: bytes, rng: random.Random) -> None:
        self.data, self.at, self.rng = data, 0, rng

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        size = min(len(buffer), self.rng.choice([1, 2, 3, 7, 100, 1500, 8192, 70_000]), len(self.data) - self.at)
        buffer[:size] = self.data[self.at : self.at + size]
        self.at += size
        return size


def _both(wire: bytes, max_bytes: int, seed: int) -> None:
    results = []
    for read in (_line_by_line, _read_dot_terminated):
        stream = io.BufferedReader(_Trickle(wire + NEXT, random.Random(seed)))
        try:
            results.append((read(stream, max_bytes), stream.read()))
        except EOFError:
            results.append(("EOF", b""))
    assert results[1] == results[0]


def _stuffed(lines: list[bytes], ending: bytes) -> bytes:
    return b"".join((b"." + line if line.startswith(b".") else line) + ending for line in lines) + b"." + ending


def test_a_mail_reads_the_same_as_line_by_line() -> None:
    message = mail_with_attachments(
        sender="pat@example.com", to="print@example.com", subject="s", attachments=[("a.pdf", "application/pdf", PDF)]
    )
    lines = message.replace(b"\r\n", b"\n").split(b"\n")
    for ending in (b"\r\n", b"\n"):
        wire = _stuffed([*lines, b".", b"..", b".x", b""], ending)
        for seed in range(20):
            for cap in (0, 1, 100, len(wire) // 2, 10 * len(wire)):
                _both(wire, cap, seed)


@pytest.mark.parametrize("seed", range(300))
def test_odd_answers_read_the_same_as_line_by_line(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = [b".", b"\r", b"\n", b"\r\n", b"a", b"..", b".\r\n", b"\n.\n", b"x" * 50]
    body = b"".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 400)))
    if rng.random() < 0.2:  # a line far longer than a read
        body += b"y" * rng.choice([mailbox._CHUNK - 1, mailbox._CHUNK, mailbox._CHUNK + 1, 3 * mailbox._CHUNK])
        body += rng.choice([b"", b"\r\n", b"\n.", b"\n.z"])
    ending = rng.choice([b"\r\n", b"\n"])
    terminator = b"" if rng.random() < 0.05 else rng.choice([b".\r\n", b".\n"])  # none: the server hangs up
    wire = body + (ending if body and not body.endswith(b"\n") else b"") + terminator
    _both(wire, rng.choice([0, 5, 64, 1000, 10**9]), seed)
