"""Celery tasks of mail server accounts: thin, by id, calling a service."""

from __future__ import annotations

from celery import shared_task

from background.claims import work_claim
from mail_servers.services import mail_server_test_lease, mail_server_test_run, running_tests


@shared_task(name="mail_servers.connection_test", ignore_result=True)
def mail_server_test_task(account_id: int) -> None:
    """Run a requested connection test, unless another worker has it or it is finished (a duplicate task)."""
    claim = work_claim(running_tests(), account_id, lease=mail_server_test_lease())
    if claim is not None:
        mail_server_test_run(account_id=account_id, claim=claim)
