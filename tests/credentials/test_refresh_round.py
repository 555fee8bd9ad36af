"""A round of background refreshes: the due credentials claimed at once and refreshed side by side, each under its
row lock, each released with its outcome; never one refreshed twice, never a rotated refresh token lost."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.backends import utils as db_utils
from django.utils import timezone

from audit.models import AuditEvent
from credentials.choices import CredentialKind, CredentialState
from credentials.models import MicrosoftCredential
from credentials.services import credential_refresh_round
from operations.context import RequestContext, context_bound
from tests.credentials.conftest import refresh_tokens_in, token_requests

# Committed data: the round's threads read the rows over connections of their own.
pytestmark = [pytest.mark.emulator, pytest.mark.django_db(transaction=True)]

KINDS = [CredentialKind.APP_ONLY, CredentialKind.DELEGATED_CONFIDENTIAL, CredentialKind.DELEGATED_PUBLIC]


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every SQL statement run through Django, on any thread's connection."""
    seen: list[str] = []
    lock = threading.Lock()
    original = db_utils.CursorWrapper._execute_with_wrappers

    def counting(self: Any, sql: str, *args: Any, **kwargs: Any) -> Any:
        with lock:
            seen.append(sql)
        return original(self, sql, *args, **kwargs)

    db_utils.CursorWrapper._execute_with_wrappers = counting  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        db_utils.CursorWrapper._execute_with_wrappers = original  # type: ignore[method-assign]


def _due(*credentials: MicrosoftCredential) -> None:
    MicrosoftCredential.objects.filter(pk__in=[c.pk for c in credentials]).update(
        next_attempt_at=timezone.now() - timedelta(hours=1)
    )


def test_a_round_refreshes_every_due_credential_once_in_at_most_five_queries_each(m365, connect, statements):
    credentials = [connect(KINDS[n % 3]) for n in range(9)]
    not_due = connect(CredentialKind.DELEGATED_PUBLIC)
    before = {c.pk: refresh_tokens_in(c) for c in credentials}
    _due(*credentials)
    m365.control.clear_requests()
    statements.clear()

    refreshed = credential_refresh_round(credential_id=credentials[0].pk)

    assert sorted(c.pk for c in refreshed) == sorted(c.pk for c in credentials)
    assert len(statements) <= 5 * len(credentials), statements
    assert len(token_requests(m365)) == len(credentials), "one call per credential"
    for credential in credentials:
        stored = MicrosoftCredential.objects.get(pk=credential.pk)
        assert stored.state == CredentialState.ACTIVE
        assert stored.lease_until is None and stored.lease_token == "", "the claim was let go with the save"
        assert stored.refreshed_at is not None and stored.refreshed_at > timezone.now() - timedelta(minutes=1)
        if credential.kind != CredentialKind.APP_ONLY:
            assert refresh_tokens_in(stored).isdisjoint(before[credential.pk]), "the rotated refresh token was saved"
    assert MicrosoftCredential.objects.get(pk=not_due.pk).refreshed_at == not_due.refreshed_at
    assert credential_refresh_round() == [], "nothing is due any more"


def test_two_rounds_at_once_share_the_due_credentials_and_refresh_each_once(m365, connect):
    credentials = [connect(KINDS[n % 3]) for n in range(6)]
    _due(*credentials)
    m365.control.clear_requests()
    m365.control.inject_fault("token", latency_ms=500, count=6)  # calls in flight while the other round claims
    start = threading.Barrier(2)
    rounds: list[list[int]] = []

    def round_() -> None:
        try:
            start.wait(timeout=10)
            rounds.append([c.pk for c in credential_refresh_round()])
        finally:
            connection.close()  # each thread has its own database connection

    threads = [threading.Thread(target=round_) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(rounds[0] + rounds[1]) == sorted(c.pk for c in credentials), "each refreshed by one round"
    assert len(token_requests(m365)) == len(credentials), "one call per credential"
    assert set(MicrosoftCredential.objects.values_list("state", flat=True)) == {CredentialState.ACTIVE}


def test_a_429_in_a_round_keeps_the_token_and_honours_retry_after_while_the_others_refresh(m365, connect):
    credentials = [connect(CredentialKind.DELEGATED_PUBLIC) for _ in range(4)]
    before = {c.pk: refresh_tokens_in(c) for c in credentials}
    _due(*credentials)
    m365.control.clear_requests()
    m365.control.inject_fault("token", status=429, retry_after=30)  # whichever call comes first

    refreshed = credential_refresh_round()

    assert len(refreshed) == 4
    assert sorted(r["status"] for r in token_requests(m365, "refresh_token")) == [200, 200, 200, 429]
    (throttled,) = MicrosoftCredential.objects.filter(state=CredentialState.RETRYING)
    assert throttled.lease_token == "" and throttled.next_attempt_at is not None
    assert throttled.next_attempt_at >= timezone.now() + timedelta(seconds=25), "the retry waits for Retry-After"
    assert refresh_tokens_in(throttled) == before[throttled.pk], "the refresh token was kept"
    for credential in credentials:
        if credential.pk != throttled.pk:
            assert MicrosoftCredential.objects.get(pk=credential.pk).state == CredentialState.ACTIVE
            assert refresh_tokens_in(credential).isdisjoint(before[credential.pk])
    assert credential_refresh_round() == [], "not due again before Retry-After"


def test_credentials_claimed_along_with_the_tasks_own_run_in_a_flow_of_their_own(m365, connect):
    own, other = connect(CredentialKind.DELEGATED_PUBLIC), connect(CredentialKind.DELEGATED_PUBLIC)
    _due(own, other)
    m365.control.inject_fault("token", status=503, count=2)  # both change state: each writes an audit row
    page = RequestContext(correlation_id="0f8fad5b-d9cb-469f-a165-70867728950e", client_address="203.0.113.9")

    with context_bound(page):
        credential_refresh_round(credential_id=own.pk)

    changed = AuditEvent.objects.filter(action="credential.state_changed")
    assert changed.get(target_id=str(own.pk)).ip_address == "203.0.113.9"
    assert changed.get(target_id=str(other.pk)).ip_address is None, "never another page's address"
