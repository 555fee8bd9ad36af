"""The fast path of taking a message apart (mail_jobs.mime) against the standard library: over a corpus of
real-shaped and hostile messages, and thousands of mutations of them, both give the same sender, subject, body
text and attachments (or the fast path declines and the standard library decides)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from email import policy
from email.message import EmailMessage, Message
from typing import Any

import pytest

from mail_jobs import documents
from mail_jobs.documents import parse_mail
from mail_jobs.mime import _PLAIN, simple_mail
from tests.mail_jobs.helpers import PDF, PNG, mail_with_attachments

SENDER = "pat@alpha.example"
TO = "jobs@contoso.example"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _outcome(parse: Callable[[bytes], Any], raw: bytes) -> tuple[str, Any]:
    try:
        return "parsed", parse(raw)
    except Exception as exc:  # the refusal itself is compared
        return "refused", type(exc)


def _stdlib(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    with monkeypatch.context() as patch:
        patch.setattr(documents, "simple_mail", lambda _raw, _policy: None)
        return _outcome(parse_mail, raw)


def _built() -> Iterator[tuple[str, bytes]]:
    yield "text+pdf", mail_with_attachments(sender=SENDER, to=TO, attachments=[("a.pdf", "application/pdf", PDF)])
    yield "text only", mail_with_attachments(sender=SENDER, to=TO)
    yield (
        "mixed types",
        mail_with_attachments(
            sender=SENDER,
            to=TO,
            body="Grüße, ça va? " * 40,
            attachments=[
                ("scan.png", "image/png", PNG),
                ("letter.docx", DOCX, b"PK\x03\x04" + bytes(range(256)) * 20),
                ("notes.txt", "text/plain", b"plain text\n"),
                ("data.bin", "application/octet-stream", bytes(range(256))),
                ("report.pdf", "application/pdf", PDF * 300),
            ],
        ),
    )
    alternative = EmailMessage()
    alternative["From"], alternative["To"], alternative["Subject"] = SENDER, TO, "=?utf-8?q?caf=C3=A9?="
    alternative.set_content("Hello\nsecond line, long enough to be wrapped " * 30, cte="quoted-printable")
    alternative.add_alternative("<p>Hello</p>", subtype="html")
    alternative.add_attachment(PDF, maintype="application", subtype="pdf", filename="invoice.pdf")
    yield "mixed+alternative, quoted-printable", alternative.as_bytes()
    rfc2231 = EmailMessage()
    rfc2231["From"], rfc2231["To"] = SENDER, TO
    rfc2231.set_content("Bitte drucken")
    rfc2231.add_attachment(PDF, maintype="application", subtype="pdf", filename=("utf-8", "", "Bericht für €.pdf"))
    yield "rfc2231 filename", rfc2231.as_bytes()
    related = EmailMessage()
    related["From"], related["To"] = SENDER, TO
    related.set_content("<p>see image</p>", subtype="html")
    related.add_related(PNG, maintype="image", subtype="png", cid="<img1@x>")
    related.make_mixed()
    related.attach(_attachment_part("a.pdf"))
    yield "related+html", related.as_bytes()
    inline = EmailMessage()
    inline["From"], inline["To"] = SENDER, TO
    inline.set_content("see inline")
    inline.add_attachment(PDF, maintype="application", subtype="pdf", filename="inline.pdf", disposition="inline")
    yield "inline pdf", inline.as_bytes()
    forwarded = EmailMessage()
    forwarded["From"], forwarded["To"] = SENDER, TO
    forwarded.set_content("fwd")
    forwarded.add_attachment(EmailMessage())
    yield "message/rfc822", forwarded.as_bytes()


def _attachment_part(name: str) -> EmailMessage:
    part = EmailMessage()
    part.set_content(PDF, maintype="application", subtype="pdf", filename=name)
    return part


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


OUTLOOK = """From: Pat <pat@alpha.example>
To: "Jobs" <jobs@contoso.example>
Subject: Scan
Thread-Topic: Scan
Content-Language: en-US
X-MS-Has-Attach: yes
Content-Type: multipart/mixed;
\tboundary="_004_DM6PR01MB1234ABCDnamprd01prodoutlookcom_"
MIME-Version: 1.0

--_004_DM6PR01MB1234ABCDnamprd01prodoutlookcom_
Content-Type: multipart/alternative;
\tboundary="_000_DM6PR01MB1234ABCDnamprd01prodoutlookcom_"

--_000_DM6PR01MB1234ABCDnamprd01prodoutlookcom_
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

Please print=20this.

--_000_DM6PR01MB1234ABCDnamprd01prodoutlookcom_
Content-Type: text/html; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

<html><body>Please print this.</body></html>

--_000_DM6PR01MB1234ABCDnamprd01prodoutlookcom_--

--_004_DM6PR01MB1234ABCDnamprd01prodoutlookcom_
Content-Type: application/pdf; name="Scan 2026-11-26.pdf"
Content-Description: Scan 2026-11-26.pdf
Content-Disposition: attachment; filename="Scan 2026-11-26.pdf"; size=41;
\tcreation-date="Thu, 26 Nov 2026 10:00:00 GMT";
\tmodification-date="Thu, 26 Nov 2026 10:00:00 GMT"
Content-Transfer-Encoding: base64

JVBERi0xLjQKMSAwIG9iajw8Pj5lbmRvYmoKdHJhaWxlcjw8Pj4KJSVFT0YK

--_004_DM6PR01MB1234ABCDnamprd01prodoutlookcom_--
"""

GMAIL = """MIME-Version: 1.0
From: Pat <pat@alpha.example>
Date: Thu, 26 Nov 2026 11:00:00 +0100
Subject: =?UTF-8?B?UmVjaG51bmcgw7w=?=
To: jobs@contoso.example
Content-Type: multipart/mixed; boundary="000000000000a1b2c3d4e5f60718"

--000000000000a1b2c3d4e5f60718
Content-Type: multipart/alternative; boundary="000000000000a1b2c3d4e5f60716"

--000000000000a1b2c3d4e5f60716
Content-Type: text/plain; charset="UTF-8"

Hallo

--000000000000a1b2c3d4e5f60716
Content-Type: text/html; charset="UTF-8"

<div dir="ltr">Hallo</div>

--000000000000a1b2c3d4e5f60716--
--000000000000a1b2c3d4e5f60718
Content-Type: application/pdf; name="=?UTF-8?B?UmVjaG51bmcgw7wucGRm?="
Content-Disposition: attachment; filename="=?UTF-8?B?UmVjaG51bmcgw7wucGRm?="
Content-Transfer-Encoding: base64
Content-ID: <f_abc123>
X-Attachment-Id: f_abc123

JVBERi0xLjQKMSAwIG9iajw8Pj5lbmRvYmoKdHJhaWxlcjw8Pj4KJSVFT0YK
--000000000000a1b2c3d4e5f60718
Content-Type: image/jpeg; name="photo.jpg"
Content-Disposition: attachment; filename="photo.jpg"
Content-Transfer-Encoding: base64

/9j/4AAQSkZJRgABAQ==
--000000000000a1b2c3d4e5f60718--
"""

APPLE = """From: Pat <pat@alpha.example>
Content-Type: multipart/mixed;
\tboundary="Apple-Mail=_E2F1A7C4-1B2C-4D5E-8F90-0123456789AB"
Mime-Version: 1.0 (Mac OS X Mail 16.0)
Subject: Print
To: jobs@contoso.example

--Apple-Mail=_E2F1A7C4-1B2C-4D5E-8F90-0123456789AB
Content-Transfer-Encoding: 7bit
Content-Type: text/plain;
\tcharset=us-ascii

Print please

--Apple-Mail=_E2F1A7C4-1B2C-4D5E-8F90-0123456789AB
Content-Disposition: attachment;
\tfilename*=utf-8''R%C3%A9sum%C3%A9.pdf
Content-Type: application/pdf;
\tx-unix-mode=0644;
\tname="=?utf-8?Q?R=C3=A9sum=C3=A9=2Epdf?="
Content-Transfer-Encoding: base64

JVBERi0xLjQKMSAwIG9iajw8Pj5lbmRvYmoKdHJhaWxlcjw8Pj4KJSVFT0YK
--Apple-Mail=_E2F1A7C4-1B2C-4D5E-8F90-0123456789AB
Content-Disposition: inline;
\tfilename=plain.pdf
Content-Type: application/pdf;
\tname=plain.pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQKMSAwIG9iajw8Pj5lbmRvYmoKdHJhaWxlcjw8Pj4KJSVFT0YK
--Apple-Mail=_E2F1A7C4-1B2C-4D5E-8F90-0123456789AB--
"""


def _nested(depth: int) -> bytes:
    head = f"From: {SENDER}\r\nTo: {TO}\r\nSubject: Broken\r\nMIME-Version: 1.0\r\n".encode()
    opening = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (n, n) for n in range(depth))
    leaf = b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="a.pdf"\r\n\r\n%PDF-1.4\r\n'
    closing = b"".join(b"--b%d--\r\n" % n for n in reversed(range(depth)))
    return head + opening + leaf + closing


def _part(headers: str, body: str) -> str:
    return f"{headers}\n\n{body}"


def _multipart(boundary: str, *parts: str, close: bool = True, header: str = "") -> str:
    body = "".join(f"--{boundary}\n{part}\n" for part in parts) + (f"--{boundary}--\n" if close else "")
    return f'From: {SENDER}\nSubject: odd\n{header}Content-Type: multipart/mixed; boundary="{boundary}"\n\n{body}'


PDF_PART = _part('Content-Type: application/pdf\nContent-Disposition: attachment; filename="a.pdf"', "%PDF-1.4 x")
TEXT_PART = _part("Content-Type: text/plain", "hello")
ODD = {
    "no close boundary": _multipart("b", TEXT_PART, PDF_PART, close=False),
    "doubled boundary": _multipart("b", TEXT_PART, "--b\n" + PDF_PART),
    "no blank line in a part": _multipart("b", "Content-Type: text/plain\nhello", PDF_PART),
    "part without headers": _multipart("b", "\nhello", PDF_PART),
    "inner boundary extends outer": _multipart("b", _multipart("b--", TEXT_PART).split("\n", 2)[2], PDF_PART),
    "same boundary nested": _multipart("b", _multipart("b", PDF_PART).split("\n", 2)[2]),
    "boundary lookalike lines": _multipart("b", _part("Content-Type: text/plain", "--bx\n--b--x\n -- b"), PDF_PART),
    "boundary with spaces": _multipart("b", TEXT_PART, PDF_PART).replace("--b\n", "--b \t\n"),
    "close then more": _multipart("b", TEXT_PART) + "--b\n" + PDF_PART + "\n--b--\n",
    "preamble and epilogue": _multipart("b", PDF_PART).replace("\n\n--b\n", "\n\nThis is MIME.\n--b\n", 1) + "bye\n",
    "empty multipart": _multipart("b"),
    "no boundary": f"From: {SENDER}\nContent-Type: multipart/mixed\n\n--b\n{PDF_PART}\n--b--\n",
    "digest": _multipart("b", "\nFrom: x@y\n\nhi").replace("multipart/mixed", "multipart/digest"),
    "uuencode": _multipart(
        "b", PDF_PART.replace("Content-Type", "Content-Transfer-Encoding: x-uuencode\nContent-Type")
    ),
    "cte with a space": _multipart(
        "b", PDF_PART.replace("Content-Type", "Content-Transfer-Encoding: base64 \nContent-Type")
    ),
    "unknown charset": _multipart("b", _part("Content-Type: text/plain; charset=x-nothing", "hi"), PDF_PART),
    "rfc2231 charset": _multipart("b", _part("Content-Type: text/plain; charset*=us-ascii'en'utf-8", "hi")),
    "comment in header": _multipart("b", PDF_PART.replace("attachment;", "attachment (yes);")),
    "related with start": _multipart("b", TEXT_PART).replace("multipart/mixed;", 'multipart/related; start="<a>";'),
    "related without start": _multipart("b", TEXT_PART, PDF_PART).replace("multipart/mixed", "multipart/related"),
    "two content types": _multipart("b", PDF_PART, header="Content-Type: text/plain\n"),
    "unix from": "From pat Thu Nov 26\n" + _multipart("b", PDF_PART),
    "leading continuation": " x\n" + _multipart("b", PDF_PART),
    "header without name": ": x\n" + _multipart("b", PDF_PART),
    "no body separator": f"From: {SENDER}\nSubject: x",
    "attachment body": f"From: {SENDER}\nContent-Disposition: attachment; filename=a.pdf\n\n%PDF",
    "single text": f"From: {SENDER}\nContent-Type: text/plain; charset=utf-8\n\n  Grüße  \n",
    "html only": f"From: {SENDER}\nContent-Type: text/html\n\n<p>x</p>",
    "bad base64": _multipart("b", PDF_PART.replace("Content-Type", "Content-Transfer-Encoding: base64\nContent-Type")),
    "quoted escapes": _multipart("b", PDF_PART.replace('filename="a.pdf"', 'filename="a\\"b.pdf"')),
    "missing type slash": _multipart("b", PDF_PART.replace("application/pdf", "pdf")),
    "nameless attachment": _multipart("b", _part("Content-Type: image/png\nContent-Disposition: attachment", "x")),
}


def _corpus() -> Iterator[tuple[str, bytes]]:
    yield from _built()
    for name, text in [("outlook", OUTLOOK), ("gmail", GMAIL), ("apple mail", APPLE), *ODD.items()]:
        yield name, text.encode()
    yield "nested 2000", _nested(2000)
    yield "nested 5", _nested(5)
    yield "8-bit body", _multipart("b", _part("Content-Type: text/plain; charset=latin-1", "x")).encode() + b"\xe9\xff"
    yield "lone CR", _multipart("b", TEXT_PART, PDF_PART).replace("hello", "hel\rlo").encode()
    yield "mixed line endings", _multipart("b", TEXT_PART, PDF_PART).replace("\n", "\r\n", 3).encode()


CORPUS = dict(_corpus())
# Shapes mail programs write: the fast path must take them, or it gains nothing.
COMMON = ["text+pdf", "text only", "mixed types", "mixed+alternative, quoted-printable", "inline pdf", "outlook"]


def _variants(raw: bytes) -> Iterator[bytes]:
    yield raw
    yield raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.mark.parametrize("name", list(CORPUS))
def test_the_fast_path_answers_as_the_standard_library(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for raw in _variants(CORPUS[name]):
        assert _outcome(parse_mail, raw) == _stdlib(raw, monkeypatch), name


@pytest.mark.parametrize("name", COMMON)
def test_the_fast_path_takes_the_common_shapes(name: str) -> None:
    for raw in _variants(CORPUS[name]):
        assert simple_mail(raw, documents._POLICY) is not None, name


def test_hostile_shapes_go_to_the_standard_library() -> None:
    for name in ["nested 2000", "no close boundary", "doubled boundary", "same boundary nested", "digest"]:
        assert simple_mail(CORPUS[name], documents._POLICY) is None, name


def _mutations(raw: bytes, rng: random.Random) -> Iterator[bytes]:
    lines = raw.splitlines(keepends=True)
    boundaries = [line.rstrip() for line in lines if line.startswith(b"--")] or [b"--x"]
    for _ in range(12):
        mutated = list(lines)
        at = rng.randrange(len(mutated))
        kind = rng.randrange(7)
        if kind == 0:
            del mutated[at]
        elif kind == 1:
            mutated.insert(at, mutated[at])
        elif kind == 2:
            mutated.insert(at, rng.choice(boundaries) + rng.choice([b"", b"--", b" ", b"x"]) + b"\n")
        elif kind == 3:
            mutated.insert(at, rng.choice([b"\n", b"\r\n", b" folded\n", b"X: y\n", b"From x\n", b"\r"]))
        elif kind == 4:
            mutated[at] = mutated[at].replace(b":", b"", 1)
        elif kind == 5:
            mutated = mutated[:at]
        else:
            text = mutated[at]
            spot = rng.randrange(len(text) + 1)
            mutated[at] = text[:spot] + rng.choice([b'"', b";", b"=?", b"\\", b"*", b"\xe9", b"(", b"\t"]) + text[spot:]
        yield b"".join(mutated)


def test_mutated_messages_get_the_same_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(20)
    compared = taken = 0
    for name, raw in CORPUS.items():
        if name == "nested 2000":
            continue
        for variant in _variants(raw):
            for mutated in _mutations(variant, rng):
                assert _outcome(parse_mail, mutated) == _stdlib(mutated, monkeypatch), (name, mutated)
                compared += 1
                taken += simple_mail(mutated, documents._POLICY) is not None
    assert compared > 1000 and taken > compared // 5  # most mutations of clean shapes stay clean


def _plain_values(rng: random.Random) -> Iterator[tuple[str, str]]:
    token = "abcXYZ019!#$%&'+.^_`{|}~-"
    quoted = token + " ,:/@[]?=()<>"
    for _ in range(3000):

        def word(chars: str) -> str:
            return "".join(rng.choice(chars) for _ in range(rng.randint(1, 8)))

        names = ["name", "filename", "charset", "Boundary", word(token)]
        params = "".join(
            f";{rng.choice(['', ' ', chr(9), '  '])}{rng.choice(names)}="
            + (word(token) if rng.random() < 0.5 else f'"{word(quoted)}"')
            for _ in range(rng.randint(0, 3))
        )
        yield "content-type", f"{word(token)}/{word(token)}{params}"
        yield "content-disposition", rng.choice(["attachment", "inline", "Attachment", word(token)]) + params


def test_plain_header_values_read_as_the_header_registry_reads_them() -> None:
    rng = random.Random(2231)
    for name, value in _plain_values(rng):
        if "=?" in value or not _PLAIN[name].fullmatch(value):
            continue
        registry = EmailMessage(policy=policy.default)
        registry.set_raw(name, value)
        plain = Message()
        plain.set_raw(name, value)
        for read in ("get_content_type", "get_content_disposition", "get_filename", "get_boundary"):
            assert getattr(registry, read)() == getattr(plain, read)(), (read, value)
        for param in ("charset", "name", "filename", "boundary", "start"):
            for header in ("content-type", "content-disposition"):
                assert registry.get_param(param, None, header) == plain.get_param(param, None, header), value
        assert registry.is_attachment() == (plain.get_content_disposition() == "attachment"), value
