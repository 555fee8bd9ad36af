"""Mail a document to the demo's jobs mailbox through the emulator, as a Contoso user would from Outlook.

Usage (with `make run` running): .venv/bin/python scripts/demo_mail.py FILE [--to MAILBOX] [--sender UPN]

The sender signs in as Microsoft 365 users do for SMTP (device code, approved here through the emulator's
control API instead of a browser), then submits over STARTTLS with AUTH XOAUTH2. The emulator delivers the
message into the mailbox, where Jobs via Email picks it up on its next poll.
"""

from __future__ import annotations

import smtplib
import ssl
import sys
from email.message import EmailMessage
from pathlib import Path

import msal

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo_emulator import CONTOSO, DEFAULT_USER, content_type, demo_parser  # noqa: E402

from m365_emulator.testing import handle_from_state_dir  # noqa: E402

OUTLOOK_APP = "d3e4f5a6-1111-4b2c-8d3e-00000000e0e1"  # the demo seed's "Contoso Exchange Online" public client


def main() -> None:
    parser = demo_parser(__doc__)
    parser.add_argument("--to", default="printing@contoso.onmicrosoft.com")
    parser.add_argument("--sender", default=DEFAULT_USER)
    args = parser.parse_args()

    handle = handle_from_state_dir(args.state_dir)
    app = msal.PublicClientApplication(
        OUTLOOK_APP, authority=f"{handle.https_url}/{CONTOSO}", instance_discovery=False, http_client=handle.session()
    )
    flow = app.initiate_device_flow(scopes=["https://outlook.office.com/SMTP.Send"])
    handle.control.approve_device_code(flow["user_code"], args.sender)
    handle.control.advance_clock(flow["interval"])  # poll at once instead of waiting out the interval
    result = app.acquire_token_by_device_flow(flow, exit_condition=lambda _flow: True)
    if "access_token" not in result:
        raise SystemExit(f"Sign-in failed: {result.get('error_description')}")

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = args.sender, args.to, f"Please print {args.file.name}"
    message.set_content(f"Sent by scripts/demo_mail.py: {args.file.name}")
    maintype, _, subtype = content_type(args.file).partition("/")
    message.add_attachment(args.file.read_bytes(), maintype=maintype, subtype=subtype, filename=args.file.name)

    with smtplib.SMTP(handle.smtp_host, handle.smtp_port, local_hostname="demo", timeout=15) as client:
        client.ehlo()
        client.starttls(context=ssl.create_default_context(cafile=str(handle.ca_path)))
        client.ehlo()
        sasl = f"user={args.sender}\x01auth=Bearer {result['access_token']}\x01\x01"
        client.auth("XOAUTH2", lambda challenge=None: sasl if challenge is None else "", initial_response_ok=True)
        client.send_message(message)
    print(f"Mailed {args.file.name} from {args.sender} to {args.to}. It becomes a print job on the next poll.")


if __name__ == "__main__":
    main()
