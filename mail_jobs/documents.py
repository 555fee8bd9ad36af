"""What a mailed document is: the allowed document types, and a message taken apart into sender, body and files."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from contextlib import suppress
from contextvars import ContextVar
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.policy import EmailPolicy
from email.utils import parseaddr
from pathlib import PurePosixPath
from typing import Any

from mail_jobs.exchange_auth import ExchangeVerdict, exchange_verdict
from mail_jobs.mime import simple_mail, tolerant

# key: (label, content types, file extensions)
DOCUMENT_TYPES: dict[str, tuple[str, frozenset[str], frozenset[str]]] = {
    "pdf": ("PDF", frozenset({"application/pdf"}), frozenset({".pdf"})),
    "image": (
        "Images (JPEG, PNG, GIF, TIFF, BMP)",
        frozenset({"image/jpeg", "image/png", "image/gif", "image/tiff", "image/bmp"}),
        frozenset({".jpg", ".jpeg", ".png", ".gif", ".tif", ".tiff", ".bmp"}),
    ),
    "office": (
        "Office documents (Word, Excel, PowerPoint, OpenDocument)",
        frozenset(
            {
                "application/msword",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "application/vnd.ms-excel",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "application/vnd.ms-powerpoint",
                "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                "application/vnd.oasis.opendocument.text",
                "application/vnd.oasis.opendocument.spreadsheet",
                "application/vnd.oasis.opendocument.presentation",
            }
        ),
        frozenset({".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".odt", ".ods", ".odp"}),
    ),
    "text": ("Plain text", frozenset({"text/plain"}), frozenset({".txt"})),
}
DEFAULT_DOCUMENT_TYPES = ("pdf", "image", "office")
_GENERIC_TYPES = frozenset({"application/octet-stream", "application/x-download", ""})
_MAX_FILENAME = 200
_HEADER_PART_LIMIT = 256 * 1024
_ADDRESS = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class Attachment:
    index: int  # the part's position in the message: stable, so it names the job
    filename: str  # the sender's name for it, made safe to show; never used to name a stored file
    content_type: str
    content: bytes


@dataclass(frozen=True)
class ParsedMail:
    sender: str
    subject: str
    body_text: str
    attachments: list[Attachment]
    automatic: bool  # an auto-reply or bounce: never answered, so two robots cannot mail each other forever
    exchange: ExchangeVerdict  # whether Exchange Online's own headers vouch for the sender


def document_type_of(attachment: Attachment) -> str | None:
    """The document type key of an attachment by its content type, or by its extension when the type is generic."""
    suffix = PurePosixPath(attachment.filename.lower()).suffix
    for key, (_label, content_types, extensions) in DOCUMENT_TYPES.items():
        if attachment.content_type in content_types:
            return key
        if attachment.content_type in _GENERIC_TYPES and suffix in extensions:
            return key
    return None


def document_type_choices() -> list[tuple[str, str]]:
    return [(key, label) for key, (label, _types, _extensions) in DOCUMENT_TYPES.items()]


_PARSED_HEADERS: ContextVar[dict[tuple[str, str], Any] | None] = ContextVar("parsed_headers", default=None)


class _ParsedOncePolicy(EmailPolicy):
    """policy.default, except that while `parse_mail` takes a message apart each header value is parsed once,
    however often it is read: walking a message reads every part's Content-Type a dozen times, and each read
    parsed it again (half of the time a message took). Header objects are immutable, so sharing them is safe."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        parsed = _PARSED_HEADERS.get()
        if parsed is None or hasattr(value, "name"):
            return super().header_fetch_parse(name, value)
        if (name, value) not in parsed:
            parsed[name, value] = super().header_fetch_parse(name, value)
        return parsed[name, value]


_POLICY = _ParsedOncePolicy()


def parse_mail(raw: bytes) -> ParsedMail:
    """Take a message apart. Headers are read from their raw text, so a malformed address or encoded word costs
    that header, not the message; what still breaks the parser (a structure nested beyond reason, say) raises,
    and the caller refuses that one message. The common shape goes the fast path (mail_jobs.mime), which answers
    as the standard library does; anything else is parsed by the standard library."""
    simple = simple_mail(bytes(raw), _POLICY)
    if simple is not None:
        attachments = [
            Attachment(index, display_filename(filename, index), content_type, content)
            for index, filename, content_type, content in simple.attachments
        ]
        return _parsed(_unfolded(simple.headers), simple.body_text, attachments)
    reset = _PARSED_HEADERS.set({})
    try:
        message = message_from_bytes(raw, policy=_POLICY)
        assert isinstance(message, EmailMessage)
        return _parsed(raw_headers(message), _body_text(message), _attachments(message))
    finally:
        _PARSED_HEADERS.reset(reset)


def parse_headers(raw: bytes) -> ParsedMail:
    """What the header alone says (sender, subject, automatic, Exchange's verdict), for a message whose body is
    too large or too broken to take apart; no body, no attachments. Never raises."""
    try:
        headers = raw_headers(BytesHeaderParser(policy=policy.compat32).parsebytes(_header_part(raw)))
    except Exception:  # the fallback of a parse that already failed: read nothing rather than fail again
        headers = []
    return _parsed(headers, "", [])


def _parsed(headers: list[tuple[str, str]], body_text: str, attachments: list[Attachment]) -> ParsedMail:
    """What every way of reading a message derives from its headers the same way: whichever parser read them,
    the sender, the subject and Exchange's verdict are decided by one piece of code."""
    sender = sender_of(headers)
    return ParsedMail(
        sender=sender,
        subject=subject_of(headers),
        body_text=body_text,
        attachments=attachments,
        automatic=_is_automatic(headers),
        exchange=exchange_verdict(headers, sender),
    )


def _header_part(raw: bytes) -> bytes:
    """The header block alone (or its first 256 KB): a large message is not decoded whole to read its header."""
    end = min((found for found in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if found >= 0), default=-1)
    return bytes(raw[: end + 2]) if end >= 0 else bytes(raw[:_HEADER_PART_LIMIT])


def raw_headers(message: Message) -> list[tuple[str, str]]:
    """Every header in order, topmost first, unfolded, without parsing its value."""
    return _unfolded(message.raw_items())


def _unfolded(items: Iterable[tuple[str, Any]]) -> list[tuple[str, str]]:
    return [(str(name).lower(), _unfold(str(value))) for name, value in items]


def sender_of(headers: list[tuple[str, str]]) -> str:
    """The one From address (Reply-To only when there is no From), or "" when there is none or more than one."""
    senders = [value for name, value in headers if name == "from"] or [
        value for name, value in headers if name == "reply-to"
    ]
    if len(senders) != 1:
        return ""
    _name, address = parseaddr(senders[0])
    address = address.strip().lower()
    return address if _ADDRESS.fullmatch(address) else ""


def subject_of(headers: list[tuple[str, str]]) -> str:
    value = next((value for name, value in headers if name == "subject"), "")
    with suppress(LookupError, ValueError, HeaderParseError):  # an unknown charset or a broken encoded word
        value = str(make_header(decode_header(value)))
    return display_text(value, 300)


def display_text(text: str, max_length: int) -> str:
    """Text from a message made safe to show and store: no control or formatting characters (bidi overrides
    included), runs of white space as one space, at most `max_length` characters."""
    visible = "".join(ch for ch in unicodedata.normalize("NFC", text) if unicodedata.category(ch)[0] != "C")
    return " ".join(visible.split())[:max_length]


def display_filename(name: str | None, index: int) -> str:
    """The sender's file name as display text: its last path component, made safe, at most 200 characters with
    the extension kept; "attachment-<n>" when nothing is left (a name of dots, say)."""
    last = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    text = display_text(last, 10_000)
    if not text.strip(". "):
        return f"attachment-{index}"
    if len(text) > _MAX_FILENAME:
        suffix = PurePosixPath(text).suffix
        suffix = suffix if len(suffix) <= 10 else ""
        text = text[: _MAX_FILENAME - len(suffix) - 1] + "…" + suffix
    return text


def _unfold(value: str) -> str:
    """One line, with the raw 8-bit bytes the parser kept as surrogates decoded as UTF-8 (or replaced)."""
    try:
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value.replace("\r", "").replace("\n", "")


def _attachments(message: EmailMessage) -> list[Attachment]:
    found = []
    for index, part in enumerate(message.walk()):
        if part.is_multipart() or not isinstance(part, EmailMessage):
            continue
        filename = tolerant(part.get_filename, None)
        if not filename and tolerant(part.get_content_disposition, None) != "attachment":
            continue
        content = part.get_payload(decode=True)
        if not isinstance(content, bytes):
            continue
        content_type = tolerant(part.get_content_type, "application/octet-stream")
        found.append(Attachment(index, display_filename(filename, index), content_type, content))
    return found


def _body_text(message: EmailMessage) -> str:
    body = tolerant(lambda: message.get_body(preferencelist=("plain",)), None)
    if body is None or tolerant(body.get_filename, None):
        return ""
    try:
        return str(body.get_content()).strip()
    except (LookupError, ValueError):
        return ""


def _is_automatic(headers: list[tuple[str, str]]) -> bool:
    first = {name: value for name, value in reversed(headers)}
    return (
        first.get("auto-submitted", "no").strip().lower() != "no"
        or bool(first.get("x-auto-response-suppress"))
        or first.get("content-type", "").strip().lower().startswith("multipart/report")
    )
