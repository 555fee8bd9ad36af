"""Real Celery workers on the real broker: a worker killed in the middle of a sync leaves the run to the next
worker, which resumes from the last committed page: no user twice, no page applied twice, never from the start."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import User
from background.kinds import work_sweep
from tests.conftest import WorkerProcess, wait_until
from tests.user_sync.conftest import CONTOSO, CONTOSO_ENABLED_MEMBERS, sync_feature_enabled
from user_sync.choices import RunStatus
from user_sync.models import SyncRun
from user_sync.services.runs import run_start, settings_for

pytestmark = [pytest.mark.emulator, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 3
PAGE = 4  # users per delta page: Contoso's 36 users in 9 pages


def test_a_worker_killed_mid_sync_resumes_from_the_saved_position(
    m365: Any, admin_a: Any, celery_worker_env: dict[str, str], tmp_path: Any, settings: Any
) -> None:
    settings.USER_SYNC_LEASE_SECONDS = LEASE_SECONDS
    env = {**celery_worker_env, "USER_SYNC_LEASE_SECONDS": str(LEASE_SECONDS)}
    sync_settings = settings_for(sync_feature_enabled(m365, admin_a))
    m365.control.set_graph_options(delta_page_size=PAGE)
    m365.control.clear_requests()
    # The fourth page's request hangs (and its connection drops): the worker is killed while it waits for it.
    m365.control.inject_fault("graph", latency_ms=30_000, drop=True, skip=3, count=1)
    first = WorkerProcess(env, tmp_path / "first.log")
    first.start()
    try:
        run = run_start(settings=sync_settings, actor=admin_a)
        wait_until(lambda: SyncRun.objects.get(pk=run.pk).pages == 3, timeout=60, message="three pages committed")
        wait_until(lambda: len(m365.control.requests_received("graph")) >= 4, timeout=30, message="the 4th request")
    finally:
        first.kill()
    run.refresh_from_db()
    assert run.is_open and run.pages == 3 and "$skiptoken" in run.position
    assert User.objects.filter(directory_tenant_id=CONTOSO).count() == 3 * PAGE - 1  # the disabled one is skipped
    m365.control.clear_faults()

    second = WorkerProcess(env, tmp_path / "second.log")
    second.start()
    try:
        # The dead worker's lease runs out; the sweep (every minute in production) queues the run again.
        wait_until(
            lambda: work_sweep() is not None and not SyncRun.objects.get(pk=run.pk).is_open,
            timeout=90,
            interval=1,
            message="the run finished by the second worker",
        )
    finally:
        second.stop()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.notes
    assert run.created == CONTOSO_ENABLED_MEMBERS
    assert User.objects.filter(directory_tenant_id=CONTOSO).count() == CONTOSO_ENABLED_MEMBERS
    first_pages = [r for r in m365.control.requests_received("graph") if r["path"].endswith("/users/delta")]
    assert len([r for r in first_pages if "$skiptoken" not in r["query"]]) == 1  # never read from the start again
