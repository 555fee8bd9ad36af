"""Mail on behalf of a Roger tenant, which any app may send: Django's mail API with the tenant named in a header.

The configured `EMAIL_BACKEND` (outgoing_mail's queue) reads the header, removes it, and sends the message through
that tenant's server (Settings > Network), queued and rate limited. So an app below the mail layer (an External
System emailing a sign-in code, the password reset) sends a tenant's mail without importing the layer that
delivers it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.mail import EmailMultiAlternatives

if TYPE_CHECKING:
    from accounts.models import Tenant

__all__ = ["TENANT_HEADER", "tenant_mail_send"]

# Set by tenant_mail_send on the messages it builds; the queued backend reads and removes it.
TENANT_HEADER = "X-Roger-Tenant"


def tenant_mail_send(
    *,
    tenant: Tenant,
    subject: str,
    body: str,
    to: list[str],
    html_body: str | None = None,
    reply_to: list[str] | None = None,
) -> int:
    """Send mail of `tenant` through its configured server (Settings > Network), queued and rate limited.

    The From address is the tenant's (its sending mailbox); returns the number of messages handed over (1).
    """
    message = EmailMultiAlternatives(
        subject=subject, body=body, to=to, reply_to=reply_to, headers={TENANT_HEADER: str(tenant.pk)}
    )
    if html_body:
        message.attach_alternative(html_body, "text/html")
    return message.send()
