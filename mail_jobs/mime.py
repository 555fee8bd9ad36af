"""A fast path for taking apart the common shape of a message, with the same answers as the standard library.

The standard library's parser reads a message line by line in Python (half of what ingesting a message cost). For
a message whose structure is unambiguous (one line ending throughout, header blocks that end in a blank line,
multipart bodies with a close boundary and no doubled boundary lines, boundaries none of which begins another, no
message/* part, nesting and part counts within reason) this splits the body on its boundaries with bytes
operations and answers with the standard library's own code: each header is unfolded as its parser unfolds it,
parameters are read by `email.message.Message`'s methods, payloads decoded by the functions `get_payload` calls.
Header values are read that way only when they are "plain" (tokens and simple quoted strings: no encoded words,
RFC 2231 parameters, comments, escapes or non-ASCII), for which those methods answer as the header registry
does. Anything else returns None and the caller parses the whole message with the standard library;
tests/mail_jobs/test_mime_fast_path.py runs both over a corpus and compares what they extract.
"""

from __future__ import annotations

import quopri
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email._encoded_words import decode_b  # the base64 decoding Message.get_payload does
from email.errors import MessageError
from email.message import Message
from email.policy import EmailPolicy
from typing import TypeVar

T = TypeVar("T")

MAX_DEPTH = 8  # deeper nesting goes to the standard library (which refuses absurd depths)
MAX_PARTS = 200  # more parts than that too
_MIME_HEADERS = frozenset({"content-type", "content-disposition", "content-transfer-encoding"})
_HEADER_LINE = re.compile(r"[\041-\071\073-\176]+:|[ \t]")
_TOKEN = r"[A-Za-z0-9!#$&+.^_`{|}~-]+"  # no ' or %: RFC 2231's
_PARAMS = rf'(?:;[ \t]*{_TOKEN}=(?:{_TOKEN}|"[\x20\x21\x23-\x5b\x5d-\x7e]+"))*'
_PLAIN = {
    "content-type": re.compile(rf"{_TOKEN}/{_TOKEN}{_PARAMS}"),
    "content-disposition": re.compile(rf"{_TOKEN}{_PARAMS}"),
    "content-transfer-encoding": re.compile(r"[A-Za-z0-9-]+"),
}
_BOUNDARY_REST = re.compile(rb"(--)?[ \t]*")
_LINESEP = re.compile(r"\n|\r")


class _Unsure(Exception):
    """The fast path does not take this message: the standard library decides."""


@dataclass(frozen=True)
class SimpleMail:
    headers: list[tuple[str, str]]  # the top-level headers as Message.raw_items() gives them
    body_text: str
    attachments: list[tuple[int, str | None, str, bytes]]  # walk index, get_filename(), content type, content


@dataclass
class _Part:
    mime: Message  # its MIME headers, plain, unfolded: Message's methods read them as the stdlib does
    payload: bytes = b""
    children: list[_Part] | None = None  # a multipart's parts

    def walk(self) -> Iterator[_Part]:
        yield self
        for child in self.children or []:
            yield from child.walk()


def tolerant(read: Callable[[], T], default: T) -> T:
    """One parsed header value, or `default` when the parser chokes on it (it raises more than documented)."""
    try:
        return read()
    except (LookupError, ValueError, TypeError, AttributeError, MessageError):
        return default


def simple_mail(raw: bytes, policy: EmailPolicy) -> SimpleMail | None:
    """The message's headers, plain-text body and attachments as `parse_mail` reads them with the standard
    library, or None when the message is not of a shape this path takes (or anything here fails)."""
    try:
        eol = _line_ending(raw)
        headers, body_start = _header_block(raw, 0, len(raw), eol, policy)
        parts = [0]
        top = _part(raw, headers, body_start, len(raw), eol, (), parts, policy)
        return SimpleMail(headers, _body_text(top), _attachments(top))
    except _Unsure:
        return None
    except Exception:  # whatever else: the standard library decides, refusals included
        return None


def _line_ending(raw: bytes) -> bytes:
    crlf = raw.count(b"\r\n")
    if crlf == 0 and b"\r" not in raw:
        return b"\n"
    if crlf == raw.count(b"\r") == raw.count(b"\n"):
        return b"\r\n"
    raise _Unsure  # mixed or lone CR: the stdlib's line splitting decides


def _header_block(
    raw: bytes, start: int, end: int, eol: bytes, policy: EmailPolicy
) -> tuple[list[tuple[str, str]], int]:
    """The headers from `start` to the first blank line (which must come before `end`), and where the body
    begins. Header lines are those the stdlib's parser takes; anything it treats otherwise is not taken here."""
    blank = raw.find(eol, start, end) == start
    stop = start if blank else raw.find(eol + eol, start, end)
    if stop < 0:
        raise _Unsure  # no blank line: a header running into the body, or a headers-only part
    text = raw[start:stop].decode("ascii", "surrogateescape")
    separator = eol.decode()
    headers: list[tuple[str, str]] = []
    lines: list[str] = []
    for line in text.split(separator) if text else []:
        if not _HEADER_LINE.match(line) or (line[0] in " \t" and not lines):
            raise _Unsure  # a unix From line, a line without a name, a leading continuation
        if line[0] not in " \t" and lines:
            headers.append(policy.header_source_parse(lines))
            lines = []
        lines.append(line + separator)
    if lines:
        headers.append(policy.header_source_parse(lines))
    return headers, (start if blank else stop + len(eol)) + len(eol)


def _mime(headers: list[tuple[str, str]]) -> Message:
    mime = Message()
    for name, value in headers:
        if name.lower() in _MIME_HEADERS:
            unfolded = "".join(_LINESEP.split(value))
            if "=?" in unfolded or not _PLAIN[name.lower()].fullmatch(unfolded):
                raise _Unsure
            mime.set_raw(name, unfolded)
    return mime


def _part(
    raw: bytes,
    headers: list[tuple[str, str]],
    start: int,
    end: int,
    eol: bytes,
    outer: tuple[bytes, ...],
    parts: list[int],
    policy: EmailPolicy,
) -> _Part:
    parts[0] += 1
    if parts[0] > MAX_PARTS:
        raise _Unsure
    mime = _mime(headers)
    content_type = mime.get_content_type()
    maintype = content_type.partition("/")[0]
    if maintype == "message" or content_type == "multipart/digest":
        raise _Unsure
    if maintype != "multipart":
        return _Part(mime, raw[start:end])
    boundary = mime.get_boundary()
    if not boundary or len(outer) >= MAX_DEPTH:
        raise _Unsure
    delimiter = b"--" + boundary.encode("ascii")
    if any(delimiter.startswith(other) or other.startswith(delimiter) for other in outer):
        raise _Unsure  # a line could be a boundary of two levels
    children = []
    segments = _segments(raw, start, end, delimiter, eol)
    for begin, stop in segments:
        child_headers, body = _header_block(raw, begin, stop, eol, policy)
        child = _part(raw, child_headers, body, stop, eol, (*outer, delimiter), parts, policy)
        if child.children is None and child.payload.endswith(eol):
            child.payload = child.payload[: -len(eol)]  # the line ending before a boundary is the boundary's
        children.append(child)
    return _Part(mime, children=children)


def _segments(raw: bytes, start: int, end: int, delimiter: bytes, eol: bytes) -> list[tuple[int, int]]:
    """Where each part lies between the delimiter lines of a multipart body (from `start` to `end`); the close
    delimiter must come, and no delimiter line may follow another."""
    found: list[tuple[int, int, bool]] = []  # line start, line end (after its eol), close
    candidate = start if raw.startswith(delimiter, start, end) else -1
    look_from = start  # where the line ending before the next delimiter line may be
    while True:
        if candidate < 0:
            hit = raw.find(b"\n" + delimiter, look_from, end)
            if hit < 0:
                raise _Unsure  # no close delimiter
            candidate = hit + 1
        line, candidate = candidate, -1
        line_end = raw.find(b"\n", line, end)
        line_end = end if line_end < 0 else line_end + 1
        rest = raw[line + len(delimiter) : line_end]
        match = _BOUNDARY_REST.fullmatch(rest[: -len(eol)] if rest.endswith(eol) else rest)
        if not match:
            look_from = line  # a line that only begins like a delimiter: content
            continue
        if found and found[-1][1] == line:
            raise _Unsure  # a delimiter line right after another: the stdlib skips them
        found.append((line, line_end, match.group(1) is not None))
        if match.group(1) is not None:
            break
        if len(found) > MAX_PARTS:
            raise _Unsure
        look_from = line_end - 1
    if found[0][2]:
        raise _Unsure  # closed before any part
    return [(found[n][1], found[n + 1][0]) for n in range(len(found) - 1)]


def _decoded(part: _Part) -> bytes:
    """Message.get_payload(decode=True) of a leaf part."""
    cte = str(part.mime.get("content-transfer-encoding", "")).lower()
    if cte == "quoted-printable":
        return quopri.decodestring(part.payload)
    if cte == "base64":
        value, _defects = decode_b(b"".join(part.payload.splitlines()))
        return bytes(value)
    if cte in ("x-uuencode", "uuencode", "uue", "x-uue"):
        raise _Unsure
    return part.payload


def _attachments(top: _Part) -> list[tuple[int, str | None, str, bytes]]:
    found = []
    for index, part in enumerate(top.walk()):
        if part.children is not None:
            continue
        filename = tolerant(part.mime.get_filename, None)
        if not filename and tolerant(part.mime.get_content_disposition, None) != "attachment":
            continue
        content_type = tolerant(part.mime.get_content_type, "application/octet-stream")
        found.append((index, filename, content_type, _decoded(part)))
    return found


def _plain_bodies(part: _Part, top_is_multipart: bool) -> Iterator[_Part]:
    """MIMEPart._find_body with the preference list ("plain",)."""
    if part.mime.get_content_disposition() == "attachment":
        return
    maintype, subtype = part.mime.get_content_type().split("/")
    if maintype == "text":
        if subtype == "plain":
            yield part
        return
    if maintype != "multipart" or not top_is_multipart or part.children is None:
        return
    if subtype != "related":
        for child in part.children:
            yield from _plain_bodies(child, top_is_multipart)
        return
    if part.mime.get_param("start"):
        raise _Unsure  # the root is found by Content-ID
    if part.children:
        yield from _plain_bodies(part.children[0], top_is_multipart)


def _body_text(top: _Part) -> str:
    body = next(_plain_bodies(top, top.children is not None), None)
    if body is None or tolerant(body.mime.get_filename, None):
        return ""
    charset = body.mime.get_param("charset", "ASCII")
    if not isinstance(charset, str):
        raise _Unsure
    try:
        return _decoded(body).decode(charset, errors="replace").strip()
    except (LookupError, ValueError):
        return ""
