from __future__ import annotations

from celery import shared_task


@shared_task(name="outgoing_mail.outbound_email_send", ignore_result=True)
def outbound_email_send(outbound_id: int) -> None:
    """Deliver one queued message; queue this task again when the limiter or a retry says so."""
    from outgoing_mail.delivery import outbound_email_deliver

    outcome = outbound_email_deliver(outbound_id=outbound_id)
    if outcome.retry_in is not None:
        outbound_email_send.apply_async((outbound_id,), countdown=outcome.retry_in)


@shared_task(name="outgoing_mail.outbound_emails_requeue_stale", ignore_result=True)
def outbound_emails_requeue_stale() -> int:
    """Beat: queue again the messages whose task was lost with a worker; forget old finished ones."""
    from outgoing_mail.delivery import outbound_emails_prune
    from outgoing_mail.delivery import outbound_emails_requeue_stale as stale

    outbound_emails_prune()
    ids = stale()
    for outbound_id in ids:
        outbound_email_send.delay(outbound_id)
    return len(ids)
