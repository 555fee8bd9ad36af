"""Background refresh on a real Celery worker and Redis, and one refresh per token across workers."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from background.tasks import work_sweep_task
from credentials.choices import CredentialKind, CredentialState
from credentials.models import MicrosoftCredential
from credentials.services import credential_refresh, credential_refresh_request
from credentials.tasks import credential_refresh_task
from tests.conftest import wait_until
from tests.credentials.conftest import refresh_tokens_in, token_requests

pytestmark = [pytest.mark.emulator, pytest.mark.django_db(transaction=True)]

EIGHT_DAYS = timedelta(days=8)


def test_a_refresh_token_idle_for_7_days_is_exercised_by_the_beat_task(m365, connect, celery_worker):
    idle = connect(CredentialKind.DELEGATED_PUBLIC)
    recent = connect(CredentialKind.DELEGATED_PUBLIC)
    idle_refresh_tokens = refresh_tokens_in(idle)
    m365.control.advance_clock(EIGHT_DAYS.total_seconds())
    backdated = timezone.now() - EIGHT_DAYS
    MicrosoftCredential.objects.filter(pk=idle.pk).update(
        refresh_token_used_at=backdated, refreshed_at=backdated, next_attempt_at=backdated + timedelta(days=7)
    )
    m365.control.clear_requests()

    work_sweep_task.delay()

    wait_until(
        lambda: MicrosoftCredential.objects.get(pk=idle.pk).refresh_token_used_at > backdated,
        timeout=30,
        message="the worker to exercise the idle refresh token",
    )
    (refresh,) = token_requests(m365, "refresh_token")
    assert refresh["status"] == 200 and refresh["form"]["refresh_token"] in idle_refresh_tokens
    assert refresh_tokens_in(idle).isdisjoint(idle_refresh_tokens), "the rotated refresh token was saved"
    assert MicrosoftCredential.objects.get(pk=idle.pk).state == CredentialState.ACTIVE
    assert refresh_tokens_in(recent) and MicrosoftCredential.objects.get(pk=recent.pk).refresh_token_used_at > backdated


def test_429_then_success_on_the_worker_honours_retry_after_and_keeps_the_token(m365, connect, celery_worker):
    credential = connect(CredentialKind.DELEGATED_PUBLIC)
    refresh_tokens = refresh_tokens_in(credential)
    m365.control.clear_requests()
    m365.control.inject_fault("token", status=429, retry_after=2)

    credential_refresh_request(credential=credential)

    wait_until(
        lambda: (
            [r["status"] for r in token_requests(m365, "refresh_token")] == [429, 200]
            and MicrosoftCredential.objects.get(pk=credential.pk).state == CredentialState.ACTIVE
        ),
        timeout=30,
        message="the worker to retry after Retry-After and succeed",
    )
    limited, succeeded = token_requests(m365, "refresh_token")
    assert succeeded["at"] - limited["at"] >= 2, "retried before Retry-After"
    assert succeeded["form"]["refresh_token"] == limited["form"]["refresh_token"], "the token was kept"
    assert limited["form"]["refresh_token"] in refresh_tokens
    assert refresh_tokens_in(credential).isdisjoint(refresh_tokens)


def test_a_retry_lost_with_its_worker_is_taken_up_by_the_sweep(m365, connect, celery_worker):
    credential = connect(CredentialKind.DELEGATED_PUBLIC)
    m365.control.inject_fault("token", status=503, retry_after=3)
    credential_refresh_request(credential=credential)
    # The worker fails, marks the credential retrying and holds the retry until Retry-After...
    wait_until(lambda: len(_refresh_tasks(celery_worker, "received")) == 2, message="the retry to be scheduled")
    assert MicrosoftCredential.objects.get(pk=credential.pk).state == CredentialState.RETRYING
    celery_worker.kill()  # ...and dies with it.
    wait_until(
        lambda: MicrosoftCredential.objects.get(pk=credential.pk).next_attempt_at <= timezone.now(),
        message="the retry time, while no worker runs",
    )

    celery_worker.start()  # a starting worker sweeps at once

    wait_until(
        lambda: MicrosoftCredential.objects.get(pk=credential.pk).state == CredentialState.ACTIVE,
        timeout=30,
        message="the sweep to take the retry up",
    )
    assert [r["status"] for r in token_requests(m365, "refresh_token")] == [503, 200]
    assert "Sweep: queued 1 credentials.refresh" in celery_worker.log()


def test_two_refreshes_of_the_same_token_at_once_make_one_call(m365, connect):
    credential = connect(CredentialKind.DELEGATED_PUBLIC)
    m365.control.clear_requests()
    m365.control.inject_fault("token", latency_ms=1500)  # the first call is slow: the second one must wait
    start = threading.Barrier(2)
    states: list[str] = []

    def refresh() -> None:
        try:
            start.wait(timeout=10)
            states.append(credential_refresh(credential_id=credential.pk).state)
        finally:
            connection.close()  # each thread has its own database connection

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert states == [CredentialState.ACTIVE, CredentialState.ACTIVE]
    assert len(token_requests(m365, "refresh_token")) == 1


def test_two_worker_processes_refreshing_the_same_token_make_one_call(m365, connect, celery_worker):
    credential = connect(CredentialKind.DELEGATED_PUBLIC)
    m365.control.clear_requests()
    m365.control.inject_fault("token", latency_ms=2000)
    MicrosoftCredential.objects.filter(pk=credential.pk).update(next_attempt_at=timezone.now())  # a refresh is due

    credential_refresh_task.delay(credential.pk)
    credential_refresh_task.delay(credential.pk)  # the worker runs two processes: both start at once

    wait_until(lambda: len(_refresh_tasks(celery_worker, "succeeded")) == 2, timeout=30, message="both refresh tasks")
    assert len(token_requests(m365, "refresh_token")) == 1


def _refresh_tasks(worker: Any, outcome: str) -> list[str]:
    return re.findall(rf"Task credentials\.refresh\[[0-9a-f-]+\] {outcome}", worker.log())
