"""What a mailed document is: the allowed document types, and a message taken apart into sender, body and files."""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import PurePosixPath

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


@dataclass(frozen=True)
class Attachment:
    index: int  # the part's position in the message: stable, so it names the job
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class ParsedMail:
    sender: str
    subject: str
    body_text: str
    attachments: list[Attachment]
    automatic: bool  # an auto-reply or bounce: never answered, so two robots cannot mail each other forever


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


def parse_mail(raw: bytes) -> ParsedMail:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    _name, sender = parseaddr(str(message.get("Reply-To") or message.get("From") or ""))
    _name, from_address = parseaddr(str(message.get("From") or ""))
    return ParsedMail(
        sender=(from_address or sender).strip().lower(),
        subject=str(message.get("Subject") or "").strip()[:300],
        body_text=_body_text(message),
        attachments=_attachments(message),
        automatic=_is_automatic(message),
    )


def _attachments(message: EmailMessage) -> list[Attachment]:
    found = []
    for index, part in enumerate(message.walk()):
        if part.is_multipart() or not isinstance(part, EmailMessage):
            continue
        filename = part.get_filename()
        if not filename and part.get_content_disposition() != "attachment":
            continue
        content = part.get_payload(decode=True)
        if not isinstance(content, bytes):
            continue
        found.append(
            Attachment(index, _safe_filename(filename or f"attachment-{index}"), part.get_content_type(), content)
        )
    return found


def _body_text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    if body is None or body.get_filename():
        return ""
    try:
        return str(body.get_content()).strip()
    except (LookupError, ValueError):
        return ""


def _is_automatic(message: EmailMessage) -> bool:
    auto_submitted = str(message.get("Auto-Submitted") or "no").lower()
    return (
        auto_submitted != "no"
        or bool(message.get("X-Auto-Response-Suppress"))
        or (str(message.get("Content-Type") or "").lower().startswith("multipart/report"))
    )


def _safe_filename(name: str) -> str:
    cleaned = PurePosixPath(name.replace("\\", "/")).name.strip() or "attachment"
    return cleaned[:200]
