"""Form checks for what a tenant admin types about a mail server (mail_servers.forms, and the From display name
of Settings > Network).

The host check is microsoft.mail_connection.tenant_host_check, the one the workers run again before every
connection; this module only puts its verdict on the right form field. The rest keeps line breaks and other
control characters out of values that end up in mail headers (a From display name) or protocol commands (a user
name, a folder), where a line break would start a header or a command of the admin's choosing.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from django import forms

from microsoft.config import tenant_server_rules
from microsoft.errors import TransientError
from microsoft.mail_connection import HostRefused, tenant_host_check

__all__ = [
    "PASSWORD_AGAIN",
    "PLAINTEXT_PASSWORD_REFUSED",
    "mail_server_clean",
    "password_without_line_breaks",
    "plaintext_passwords_allowed",
    "refuse_control_characters",
    "without_control_characters",
]

CONTROL_CHARACTERS_REFUSED = "Remove the line breaks and other control characters."
PLAINTEXT_PASSWORD_REFUSED = "Choose STARTTLS or SSL/TLS: a password is never sent over an unencrypted connection."
PASSWORD_AGAIN = (
    "The server or user name changed: enter the password again. A saved password is only ever sent to the server "
    "and user name it was entered for."
)


def mail_server_clean(form: forms.BaseForm, *, host_field: str, port_field: str, port: int) -> None:
    """Check the form's host on `port` as a worker would before connecting; a refusal goes on the field it is
    about, and an accepted host is stored normalized. A name that does not resolve yet is accepted: there is
    nothing to refuse, and every connection checks it again."""
    host = (form.cleaned_data.get(host_field) or "").strip()
    if not host or host_field in form.errors:
        return
    try:
        checked = tenant_host_check(host, port, allowed_networks=tenant_server_rules().allowed_networks)
    except HostRefused as exc:
        form.add_error(host_field if exc.field == "host" else port_field, exc.explanation)
        return
    except TransientError:
        return
    form.cleaned_data[host_field] = checked.name


def plaintext_passwords_allowed() -> bool:
    return tenant_server_rules().allow_plaintext_login


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) == "Cc" or ch in "\u2028\u2029"  # C0/C1 controls, line/paragraph separators


def _has_control_characters(value: str) -> bool:
    return any(_is_control(ch) for ch in value)


def refuse_control_characters(value: Any) -> None:
    """A field validator for values that go into mail headers or protocol commands."""
    if isinstance(value, str) and _has_control_characters(value):
        raise forms.ValidationError(CONTROL_CHARACTERS_REFUSED, code="control_characters")


def password_without_line_breaks(value: Any) -> None:
    """Passwords may hold almost anything, but not what ends a protocol line."""
    if isinstance(value, str) and any(ch in value for ch in "\r\n\0"):
        raise forms.ValidationError("A password cannot contain line breaks.", code="control_characters")


def without_control_characters(value: str) -> str:
    """`value` on one line: control characters become spaces, runs of spaces one."""
    return " ".join("".join(" " if _is_control(ch) else ch for ch in value).split())
