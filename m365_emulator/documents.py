"""Documents the emulator makes up: small valid PDFs and deterministic filler bytes of any size.

The PDF is the smallest honest one: a catalog, one page of Helvetica text, and a cross-reference table with the
exact byte offsets, so any PDF reader (and a printer's interpreter) opens it.

Reference: ISO 32000-1 (PDF 1.7) §7.5 (file structure), §9.4 (text objects).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

_PAGE_WIDTH, _PAGE_HEIGHT = 612, 792  # US Letter in points
_MARGIN = 72
_FILLER_CHUNK = 1024 * 1024


def _pdf_text(value: str) -> str:
    """A PDF literal string: backslashes and parentheses escaped, anything outside Latin-1 replaced."""
    latin = value.encode("latin-1", "replace").decode("latin-1")
    return "(" + latin.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def _page_content(lines: Sequence[str]) -> bytes:
    title, *body = lines or ["Untitled"]
    ops = ["BT", f"/F1 18 Tf {_MARGIN} {_PAGE_HEIGHT - _MARGIN} Td", f"{_pdf_text(title)} Tj", "/F1 11 Tf 0 -28 Td"]
    for line in body:
        ops += [f"{_pdf_text(line)} Tj", "0 -16 Td"]
    ops.append("ET")
    return "\n".join(ops).encode("latin-1")


def pdf_document(lines: Sequence[str]) -> bytes:
    """A one-page PDF showing ``lines`` (the first one as the title)."""
    content = _page_content(lines)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_PAGE_WIDTH} {_PAGE_HEIGHT}] "
            "/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"
        ).encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_at)
    return bytes(out)


def filler_chunks(size: int, seed: int = 1) -> Iterator[bytes]:
    """``size`` pseudo-random bytes in chunks of at most 1 MiB, always the same for the same ``seed``."""
    generator = random.Random(seed)  # test data, not secrets
    remaining = size
    while remaining > 0:
        chunk = min(remaining, _FILLER_CHUNK)
        yield generator.randbytes(chunk)
        remaining -= chunk
