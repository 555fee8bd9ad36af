"""What keeps a sync safe: the deactivation threshold, expired change tracking, Microsoft's throttling, one run
at a time, and pages never applied twice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent
from tests.user_sync.conftest import ADELE, CONTOSO, CONTOSO_ENABLED_MEMBERS, steps, sync
from user_sync.choices import DeactivationState, RunKind, RunStatus
from user_sync.models import Deactivation, SyncRun
from user_sync.services.connector import deactivations_confirm, deactivations_keep
from user_sync.services.engine import run_step
from user_sync.services.runs import RunInProgress, run_start

LEAVERS = [
    "lee.gu@contoso.onmicrosoft.com",
    "nestor.wilke@contoso.onmicrosoft.com",
    "johanna.lorenz@contoso.onmicrosoft.com",
    "lidia.holloway@contoso.onmicrosoft.com",
]


@pytest.fixture
def held(m365: Any, sync_settings: Any) -> Any:
    """A first sync, then four leavers: 4 of 32 (12.5 %) is over a 10 % threshold."""
    sync_settings.threshold_percent = 10
    sync_settings.save()
    sync(sync_settings)
    for upn in LEAVERS[:3]:
        m365.control.delete_user(CONTOSO, upn)
    m365.control.disable_user(CONTOSO, LEAVERS[3])
    run = sync(sync_settings)
    assert run.status == RunStatus.HELD and run.held == 4 and run.deactivated == 0
    assert "safety threshold" in " ".join(run.notes)
    return sync_settings


def test_the_threshold_holds_deactivations_and_the_delta_link_across_runs(m365: Any, held: Any) -> None:
    assert User.objects.filter(email__in=LEAVERS, is_active=True).count() == 4
    held_link = held.users_delta_link
    held.refresh_from_db()
    assert held.links_held and held.users_delta_link == held_link
    m365.control.delete_user(CONTOSO, ADELE)
    again = sync(held)
    assert again.status == RunStatus.HELD and again.held == 5  # the next run starts from the held link, adds Adele
    assert Deactivation.objects.filter(settings=held, state=DeactivationState.PENDING).count() == 5


def test_confirm_applies_the_held_deactivations(held: Any, admin_a: Any) -> None:
    assert deactivations_confirm(settings=held, actor=admin_a) == 4
    assert User.objects.filter(email__in=LEAVERS, is_active=True).count() == 0
    assert AuditEvent.objects.filter(action="user_sync.deactivations_confirmed", actor=admin_a).exists()
    assert sync(held).status == RunStatus.SUCCEEDED


def test_keep_leaves_the_users_active_marked_kept_by_the_admin(held: Any, admin_a: Any) -> None:
    assert deactivations_keep(settings=held, actor=admin_a) == 4
    kept = Deactivation.objects.filter(settings=held, state=DeactivationState.KEPT)
    assert kept.count() == 4 and {k.decided_by for k in kept} == {admin_a.email}
    run = sync(held)
    assert run.status == RunStatus.SUCCEEDED and run.deactivated == 0
    assert User.objects.filter(email__in=LEAVERS, is_active=True).count() == 4


@pytest.mark.parametrize(
    ("name", "said", "still_active"),
    [("user_sync:confirm", "4 users deactivated.", 0), ("user_sync:keep", "4 users kept active.", 4)],
)
def test_the_page_confirms_or_keeps_the_held_deactivations_and_lets_the_links_go(
    held: Any, admin_a_client: Client, name: str, said: str, still_active: int
) -> None:
    page = admin_a_client.post(reverse(name, args=[held.pk]), follow=True)
    assert said in page.content.decode()
    assert User.objects.filter(email__in=LEAVERS, is_active=True).count() == still_active
    held.refresh_from_db()
    assert not held.links_held
    assert not Deactivation.objects.filter(settings=held, state=DeactivationState.PENDING).exists()


def test_an_expired_delta_link_starts_a_full_read_noted_in_the_history(m365: Any, sync_settings: Any) -> None:
    sync(sync_settings)
    m365.control.update_user(CONTOSO, ADELE, displayName="Adele Expired")
    m365.control.expire_delta_tokens(CONTOSO)
    run = sync(sync_settings)
    assert run.status == RunStatus.SUCCEEDED and run.full_read
    assert any("no longer accepted the stored change tracking" in note for note in run.notes)
    assert User.objects.get(email=ADELE).full_name == "Adele Expired"
    assert run.unchanged == CONTOSO_ENABLED_MEMBERS - 1 and run.created == 0


def test_a_410_resync_starts_over_from_microsofts_location(m365: Any, sync_settings: Any) -> None:
    sync(sync_settings)
    m365.control.require_resync(CONTOSO)
    run = sync(sync_settings)
    assert run.status == RunStatus.SUCCEEDED and run.full_read and run.deactivated == 0


def test_throttling_no_request_before_retry_after(m365: Any, sync_settings: Any) -> None:
    m365.control.inject_fault("graph", status=429, retry_after=120)
    run = run_start(settings=sync_settings, actor=None)
    assert run_step(run_id=run.pk) != "skipped"
    run.refresh_from_db()
    assert run.status == RunStatus.WAITING
    assert run.next_attempt_at >= timezone.now() + timedelta(seconds=115)
    m365.control.clear_requests()
    assert run_step(run_id=run.pk) == "skipped"  # not due: no request
    assert m365.control.requests_received("graph") == []
    SyncRun.objects.filter(pk=run.pk).update(next_attempt_at=timezone.now())  # as if the 2 minutes went by
    assert steps(run).status == RunStatus.SUCCEEDED


def test_a_refusal_of_a_page_read_ahead_is_answered_when_that_page_is_due(m365: Any, sync_settings: Any) -> None:
    """The reader reads pages in a row ahead of the writes: a 429 on one of them ends that reading, the pages
    before it are written, and the run waits as if that page had been read then (no request for it before
    Retry-After)."""
    m365.control.set_graph_options(delta_page_size=4)
    m365.control.clear_requests()
    m365.control.inject_fault("graph", status=429, retry_after=120, skip=3)  # the 4th page (3rd read ahead)
    run = run_start(settings=sync_settings, actor=None)
    assert run_step(run_id=run.pk) != "skipped"
    run.refresh_from_db()
    assert run.status == RunStatus.WAITING and run.pages == 3 and "$skiptoken" in run.position
    assert run.next_attempt_at >= timezone.now() + timedelta(seconds=115)
    assert len(m365.control.requests_received("graph")) == 4
    assert run_step(run_id=run.pk) == "skipped"  # not due: no request
    assert len(m365.control.requests_received("graph")) == 4
    SyncRun.objects.filter(pk=run.pk).update(next_attempt_at=timezone.now())  # as if the 2 minutes went by
    done = steps(run)
    assert done.status == RunStatus.SUCCEEDED and done.created == CONTOSO_ENABLED_MEMBERS
    assert User.objects.filter(directory_tenant_id=CONTOSO).count() == CONTOSO_ENABLED_MEMBERS


def test_one_run_at_a_time(sync_settings: Any) -> None:
    run = run_start(settings=sync_settings, actor=None)
    with pytest.raises(RunInProgress):
        run_start(settings=sync_settings, actor=None)
    with pytest.raises(RunInProgress):
        run_start(settings=sync_settings, kind=RunKind.PREVIEW, actor=None)
    assert SyncRun.objects.filter(settings=sync_settings).count() == 1
    assert steps(run).status == RunStatus.SUCCEEDED


def test_a_step_whose_worker_died_is_taken_over_from_the_saved_position(
    m365: Any, sync_settings: Any, settings: Any
) -> None:
    """Pages of 5 users: a worker claims a step and dies (its lease runs out); the next worker resumes from the
    position of the last committed page, so no user is created twice and no page is read from the start."""
    settings.USER_SYNC_TURN_SECONDS = 0  # one page a task, to stop after the third
    m365.control.set_graph_options(delta_page_size=5)
    run = run_start(settings=sync_settings, actor=None)
    for _ in range(3):
        run_step(run_id=run.pk)
    run.refresh_from_db()
    assert run.pages == 3 and run.position  # three pages of five users committed
    # A worker claims the next step and dies before committing: its lease runs out.
    from background.claims import work_claim
    from user_sync.services.runs import runs_open

    assert work_claim(runs_open(), run.pk, lease=timedelta(minutes=5)) is not None
    assert run_step(run_id=run.pk) == "skipped"  # held by the dead worker
    SyncRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    m365.control.clear_requests()
    done = steps(run)
    assert done.status == RunStatus.SUCCEEDED and done.created == CONTOSO_ENABLED_MEMBERS
    first = m365.control.requests_received("graph")[0]
    assert "$skiptoken" in first["query"]  # from the saved position, not the first page


def test_a_page_whose_claim_was_lost_writes_nothing(m365: Any, sync_settings: Any, monkeypatch: Any) -> None:
    """A turn takes pages one after the other under one claim: when the claim no longer holds at a transaction's
    commit (another worker took the run over), the writes of its pages are rolled back with its position; what the
    transactions before it wrote stays."""
    from user_sync.services import engine

    m365.control.set_graph_options(delta_page_size=5)
    run = run_start(settings=sync_settings, actor=None)
    applied = engine.users_page_apply
    calls: list[tuple[int, int, int]] = []  # at each apply: (pages, created) committed so far, users stored

    def taken_over_at_the_third_write(**kwargs: Any) -> Any:
        committed = SyncRun.objects.values_list("pages", "created").get(pk=run.pk)
        calls.append((*committed, User.objects.filter(directory_tenant_id=CONTOSO).count()))
        if len(calls) == 3:  # as another worker's claim would (the lease ran out meanwhile)
            SyncRun.objects.filter(pk=run.pk).update(lease_token="another-worker")
        return applied(**kwargs)

    monkeypatch.setattr(engine, "users_page_apply", taken_over_at_the_third_write)
    assert run_step(run_id=run.pk) == "lost"
    run.refresh_from_db()
    pages, created, stored = calls[2]
    assert 0 < pages < 8 and (run.pages, run.created) == (pages, created) and created == stored
    assert User.objects.filter(directory_tenant_id=CONTOSO).count() == stored < CONTOSO_ENABLED_MEMBERS
    assert run.position


def test_pages_read_together_are_written_as_one(m365: Any, sync_settings: Any, monkeypatch: Any) -> None:
    """While pages are written, the reader reads the next PAGES_PER_TRANSACTION in a row; those that have arrived
    (here all, waited for) are written in one transaction (one run UPDATE and commit) and, having no user in common,
    applied as one page (one lookup, one INSERT); the run ends as page by page."""
    from user_sync.services import calls, engine

    m365.control.set_graph_options(delta_page_size=4)  # Contoso's 36 users in 9 pages
    take = calls._Stream.take

    def all_arrived(stream: calls._Stream) -> Any:  # the pages being read are waited for, to make it so
        with stream.changed:
            stream.changed.wait_for(lambda: stream.done)
        return take(stream)

    monkeypatch.setattr(calls._Stream, "take", all_arrived)
    applied: list[int] = []
    users_page_apply, work_renew = engine.users_page_apply, engine.work_renew
    renewed_after: list[int] = []  # at each run UPDATE that renews the claim: how many applies there were

    def counted(**kwargs: Any) -> Any:
        applied.append(len(kwargs["items"]))
        return users_page_apply(**kwargs)

    def renewed(*args: Any, **kwargs: Any) -> bool:
        renewed_after.append(len(applied))
        return work_renew(*args, **kwargs)

    monkeypatch.setattr(engine, "users_page_apply", counted)
    monkeypatch.setattr(engine, "work_renew", renewed)
    run = sync(sync_settings)
    # The first page is read alone; the next eight by two reads ahead of four.
    assert engine.PAGES_PER_TRANSACTION == 4 and applied[:2] == [4, 16] and len(applied) == 3
    assert sum(applied) == run.users_seen and run.pages == 9
    # One run UPDATE for each transaction of pages (the users' last one releases the claim for the next phase).
    assert renewed_after[:2] == [1, 2]
    assert run.status == RunStatus.SUCCEEDED and run.created == CONTOSO_ENABLED_MEMBERS
    assert User.objects.filter(directory_tenant_id=CONTOSO).count() == CONTOSO_ENABLED_MEMBERS


def test_pages_read_together_are_applied_page_by_page_when_an_object_is_on_two() -> None:
    """Applying pages as one is the same as page by page only when no object is on two of them: a user on two
    pages would be created twice; a group's members may continue from page to page (they add up), but not when
    one of its entries removes it."""
    from microsoft.graph import DeltaPage
    from user_sync.services.engine import _applied_together

    def page(*items: dict[str, Any]) -> DeltaPage:
        return DeltaPage(objects=items, next_link="https://graph.example/next", delta_link=None)

    a, b, c = {"id": "A"}, {"id": "b"}, {"id": "c"}
    removed_a = {"id": "a", "@removed": {"reason": "deleted"}}
    assert _applied_together([page(a, b), page(c)], repeats=False) == [[a, b, c]]
    assert _applied_together([page(a, b), page({"id": "a"}, c)], repeats=False) == [(a, b), ({"id": "a"}, c)]
    assert _applied_together([page(a, b), page({"id": "a"}, c)], repeats=True) == [[a, b, {"id": "a"}, c]]
    assert _applied_together([page(a, b), page(removed_a, c)], repeats=True) == [(a, b), (removed_a, c)]
    assert _applied_together([page(removed_a, b), page(c)], repeats=True) == [[removed_a, b, c]]
    assert _applied_together([page(a)], repeats=False) == [(a,)]


def test_automatic_sync_24_hours_after_turned_on_then_every_24_hours(sync_settings: Any, admin_a: Any) -> None:
    from background.kinds import work_kinds
    from user_sync.services.connector import settings_save
    from user_sync.services.runs import automatic_sync_start, automatic_syncs_due

    settings_save(settings=sync_settings, data={"auto_sync": True}, actor=admin_a)
    sync_settings.refresh_from_db()
    first = sync_settings.next_attempt_at
    assert first is not None and timedelta(hours=23, minutes=59) < first - timezone.now() <= timedelta(hours=24)
    assert "user_sync.automatic" in {kind.name for kind in work_kinds()}  # the one sweep queues it when due
    assert automatic_sync_start(settings_id=sync_settings.pk) == "skipped"  # not due yet
    type(sync_settings).objects.filter(pk=sync_settings.pk).update(next_attempt_at=timezone.now())  # a day later
    assert sync_settings.pk in automatic_syncs_due().values_list("pk", flat=True)
    assert automatic_sync_start(settings_id=sync_settings.pk) == "started"
    run = SyncRun.objects.get(settings=sync_settings)
    assert run.trigger == "automatic" and steps(run).status == RunStatus.SUCCEEDED
    sync_settings.refresh_from_db()
    assert sync_settings.next_attempt_at - timezone.now() > timedelta(hours=23, minutes=59)
