"""The portal's Django email backend: every message is queued and delivered by Celery (outgoing_mail.delivery).

`EMAIL_BACKEND = "outgoing_mail.backends.QueuedEmailBackend"` (the default). The tenant a message belongs to is
given by the `X-Roger-Tenant` header that `accounts.mail.tenant_mail_send` sets; the header is removed
before the message is stored. Mail without it belongs to no tenant and goes out through OPERATOR_EMAIL_BACKEND.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend

from accounts.mail import TENANT_HEADER
from accounts.selectors import tenant_by_id
from outgoing_mail.services import outbound_email_queue

if TYPE_CHECKING:
    from accounts.models import Tenant


class QueuedEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        queued = 0
        for original in email_messages:
            if not original.recipients():
                continue
            message = copy.copy(original)
            headers = original.extra_headers.items()
            message.extra_headers = {k: v for k, v in headers if k.lower() != TENANT_HEADER.lower()}
            tenant = _tenant_of(original)
            outbound_email_queue(tenant=tenant, message=message)
            queued += 1
        return queued


def _tenant_of(message: EmailMessage) -> Tenant | None:
    value = next((v for k, v in message.extra_headers.items() if k.lower() == TENANT_HEADER.lower()), None)
    if value is None or not str(value).isdigit():
        return None
    return tenant_by_id(pk=int(value))
