"""Celery tasks of outgoing mail: thin, by id, calling a service."""

from __future__ import annotations

from celery import shared_task

from background.kinds import work_queue
from outgoing_mail.delivery import outbound_email_deliver, outbound_emails_deliver_in_turns


@shared_task(name="outgoing_mail.outbound_email_send", ignore_result=True)
def outbound_email_send(outbound_id: int) -> None:
    """Deliver one queued message; queue this task again when the limiter or a retry says so."""
    outcome = outbound_email_deliver(outbound_id=outbound_id)
    if outcome.retry_in is not None:
        work_queue(outbound_email_send, outbound_id, countdown=outcome.retry_in)


@shared_task(name="outgoing_mail.send_in_turns", ignore_result=True)
def outbound_emails_send_in_turns() -> int:
    """Deliver a batch of due messages, tenants in turns; queue another batch while there may be more."""
    from django.conf import settings

    outcome = outbound_emails_deliver_in_turns(batch=int(settings.OUTGOING_MAIL_BATCH))
    for outbound_id, retry_in in outcome.retries:
        work_queue(outbound_email_send, outbound_id, countdown=retry_in)
    if outcome.full:
        work_queue(outbound_emails_send_in_turns)
    return outcome.taken


@shared_task(name="outgoing_mail.test_email_send", ignore_result=True)
def test_email_send_task(outbound_id: int) -> None:
    """Deliver a test email: the same delivery, on the interactive queue, because an admin watches the page."""
    outcome = outbound_email_deliver(outbound_id=outbound_id)
    if outcome.retry_in is not None:  # held back by the mailbox's sending limit
        work_queue(test_email_send_task, outbound_id, countdown=outcome.retry_in)
