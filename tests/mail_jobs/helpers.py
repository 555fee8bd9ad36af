"""Helpers for the Jobs via Email tests: Outlook tokens from the emulator, messages with attachments."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from tests.exchange_online import CONTOSO, EXCHANGE_APP

OUTLOOK = "https://outlook.office.com"
ALL_MAIL_SCOPES = [f"{OUTLOOK}/IMAP.AccessAsUser.All", f"{OUTLOOK}/POP.AccessAsUser.All", f"{OUTLOOK}/SMTP.Send"]
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")  # a PNG header


def device_code_token(m365: Any, upn: str, scopes: list[str], *, client_id: str = EXCHANGE_APP) -> dict[str, Any]:
    """The token response of a device code sign-in by `upn`, approved through the control API."""
    session = m365.session()
    base = f"{m365.https_url}/{CONTOSO}/oauth2/v2.0"
    flow = session.post(f"{base}/devicecode", data={"client_id": client_id, "scope": " ".join(scopes)}, timeout=10)
    flow.raise_for_status()
    m365.control.approve_device_code(flow.json()["user_code"], upn)
    response = session.post(
        f"{base}/token",
        data={
            "client_id": client_id,
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": flow.json()["device_code"],
        },
        timeout=10,
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def outlook_token(m365: Any, upn: str, scopes: list[str] | None = None) -> str:
    return str(device_code_token(m365, upn, scopes or ALL_MAIL_SCOPES)["access_token"])


def mail_with_attachments(
    *,
    sender: str,
    to: str,
    subject: str = "Print this",
    body: str = "Please print.",
    attachments: list[tuple[str, str, bytes]] | None = None,
) -> bytes:
    """A MIME message; attachments are (filename, content type, content)."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Message-ID"] = f"<{abs(hash((sender, subject, body)))}@test.example>"
    message.set_content(body)
    for filename, content_type, content in attachments or []:
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()
