"""Which OneDrive files can be printed: documents, images, office files and plain text, by their extension."""

from __future__ import annotations

import mimetypes
from pathlib import PurePosixPath

PRINTABLE_EXTENSIONS = frozenset(
    {
        ".pdf",
        ".txt",
        ".jpg",
        ".jpeg",
        ".png",
        ".gif",
        ".tif",
        ".tiff",
        ".bmp",
        ".doc",
        ".docx",
        ".xls",
        ".xlsx",
        ".ppt",
        ".pptx",
        ".odt",
        ".ods",
        ".odp",
    }
)


def is_printable(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in PRINTABLE_EXTENSIONS


def content_type_of(name: str, reported: str | None) -> str:
    """Graph's mimeType when it gave one, else the name's."""
    return reported or mimetypes.guess_type(name)[0] or "application/octet-stream"
