"""The token store's background refresh: many credentials of every kind due at once, two Celery workers.

Run: bash scripts/bench.sh token_refresh [COUNT ...]   (default 10000; several sizes show how the cost grows)
A third of the credentials each: app-only (a feature's client credentials), delegated with a secret (a user's
sign-in to the confidential web app) and delegated public (an Exchange Online mailbox's device code sign-in). Each
row holds a real token cache from the emulator (one grant per kind, shared: the emulator lets a refresh token be
presented again). Every 20th token request is answered 429 with `Retry-After: 1`.
- floor: the same refreshes by a bare MSAL loop (two processes, one MSAL application per app, each 429 retried
  after its Retry-After), seeing the same 429s;
- the portal: all rows due; the sweep queues them as the beat does (once a minute) and two workers (one process
  each) run `credentials.refresh`: claim, lock, MSAL, save the rotated cache, audit the state changes.
Figures: wall time of each and their ratio (target 1.5x), database queries per refresh counted in the workers (all
their tasks' queries, duplicates and retries included, over the refreshes; target 5), and credentials not
refreshed or whose rotated refresh token was not kept (target 0).
"""

from __future__ import annotations

import heapq
import json
import multiprocessing
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import SEED, celery_workers, django_start, group_cpu_seconds, result  # noqa: E402

DEFAULT_SIZE = int(os.environ.get("BENCH_CREDENTIALS", 10000))
WORKERS = 2
THROTTLED_EVERY = 20  # 5% of token requests answered 429
RETRY_AFTER = 1
BEAT_SECONDS = 60  # how often the beat runs the sweep
TARGET_RATIO, TARGET_QUERIES, TARGET_LOST = 1.5, 5, 0


def main() -> None:
    from m365_emulator.testing import portal_environment, start_emulator

    sizes = [int(n) for n in sys.argv[1:]] or [DEFAULT_SIZE]
    work = Path(tempfile.mkdtemp(prefix="bench-token-refresh-"))
    with start_emulator(SEED, work / "emulator") as handle:
        extra = {**portal_environment(handle, SEED), "DJANGO_SETTINGS_MODULE": "tests.credentials.worker_settings"}
        env = django_start(work, "bench_token_refresh", extra)
        figures = []
        with celery_workers(WORKERS, env, work) as workers:
            templates = _templates(handle)
            for size in sizes:
                figures.append(run(handle, workers, work, templates, size))
        for size, ratio, queries, lost, floor, portal in figures:
            print(
                f"{size} credentials: floor {floor:.1f} s, portal {portal:.1f} s ({ratio:.2f}x), "
                f"{queries:.1f} queries per refresh, {lost} lost"
            )
        _, ratio, queries, lost, _, _ = figures[-1]
        result("token_refresh_ratio", ratio, "x", TARGET_RATIO)
        result("token_refresh_queries", queries, "queries", TARGET_QUERIES)
        result("token_refresh_lost", lost, "count", TARGET_LOST)


def _templates(handle: Any) -> list[Any]:
    """One stored credential per kind, with a real grant from the emulator."""
    from accounts.models import Tenant
    from credentials.choices import CredentialKind
    from credentials.registry import owner_type_register
    from credentials.services import credential_save
    from microsoft.config import GRAPH_DEFAULT_SCOPE
    from tests.credentials.apps import CONTOSO, DEVICE_APP, TEST_OWNER, TEST_OWNER_TYPE, WEB_APP
    from tests.credentials.conftest import MAIL_SCOPES, WEB_SCOPES, app_only_grant, auth_code_grant, device_code_grant

    owner_type_register(TEST_OWNER)
    tenant = Tenant.objects.create(name="bench-templates", display_name="Bench")
    kinds = [
        (CredentialKind.APP_ONLY, app_only_grant(), WEB_APP, [GRAPH_DEFAULT_SCOPE]),
        (CredentialKind.DELEGATED_CONFIDENTIAL, auth_code_grant(handle), WEB_APP, WEB_SCOPES),
        (CredentialKind.DELEGATED_PUBLIC, device_code_grant(handle), DEVICE_APP, MAIL_SCOPES),
    ]
    return [
        credential_save(
            tenant=tenant,
            owner_type=TEST_OWNER_TYPE,
            owner_id=n + 1,
            kind=kind,
            directory_id=CONTOSO,
            client_id=client_id,
            scopes=scopes,
            grant=grant,
        )
        for n, (kind, grant, client_id, scopes) in enumerate(kinds)
    ]


def run(handle: Any, workers: list[int], work: Path, templates: list[Any], size: int) -> tuple[Any, ...]:
    from django.utils import timezone

    from accounts.models import Tenant
    from background.kinds import work_sweep
    from bench.worker_queries import totals
    from credentials.choices import CredentialState
    from credentials.models import MicrosoftCredential

    control = handle.control
    tenant = Tenant.objects.create(name=f"bench-{size}-{time.time_ns()}", display_name="Bench")
    skip = {"id", "tenant", "owner_id", "created_at", "updated_at"}
    fields = [f.name for f in MicrosoftCredential._meta.concrete_fields if f.name not in skip]
    due = timezone.now() - timedelta(hours=1)  # overdue (say after an outage): the sweep takes them at once
    rows = []
    first_owner = 1000 + MicrosoftCredential.objects.count()  # each size's rows are owned anew
    for n in range(size):
        template = templates[n % len(templates)]
        row = MicrosoftCredential(tenant=tenant, owner_id=first_owner + n, **{f: getattr(template, f) for f in fields})
        row.next_attempt_at = due
        rows.append(row)
    credentials = MicrosoftCredential.objects.filter(tenant=tenant)
    begin = time.perf_counter()
    MicrosoftCredential.objects.bulk_create(rows, batch_size=1000)
    print(f"{size} credentials stored in {time.perf_counter() - begin:.1f} s")
    work_items = [_floor_item(template) for template in templates]

    _throttle(control, size)
    floor_seconds = _floor(handle, [work_items[n % len(work_items)] for n in range(size)])
    control.clear_faults()
    print(f"floor: {size} refreshes by bare MSAL in two processes in {floor_seconds:.1f} s")

    _throttle(control, size)
    before = totals(work / "queries")
    cpu_before = sum(group_cpu_seconds(pgid) for pgid in workers)
    started = timezone.now()
    begin = time.perf_counter()
    refreshed = credentials.filter(state=CredentialState.ACTIVE, refreshed_at__gte=started)
    next_sweep = 0.0
    while refreshed.count() < size:
        if time.perf_counter() - begin >= next_sweep:  # the beat's minute
            work_sweep()
            next_sweep += BEAT_SECONDS
        if time.perf_counter() - begin > 60 + size * 0.5:
            print("gave up waiting for the refreshes")
            break
        time.sleep(0.2)
    portal_seconds = time.perf_counter() - begin
    cpu = sum(group_cpu_seconds(pgid) for pgid in workers) - cpu_before
    control.clear_faults()
    after = totals(work / "queries")
    queries = after["queries"] - before["queries"]
    tasks = after["tasks"] - before["tasks"]
    done = refreshed.count()
    kept = _rotation_kept(credentials, templates)
    lost = size - done + kept["lost"]
    throttled = credentials.filter(attempts__gt=0).count() + credentials.exclude(retrying_since=None).count()
    print(
        f"portal: {done}/{size} refreshed in {portal_seconds:.1f} s by {WORKERS} workers ({tasks} tasks, "
        f"{queries} queries: {queries / max(done, 1):.1f} per refresh; worker CPU {cpu * 1000 / size:.1f} ms per "
        f"refresh); rotated refresh tokens kept {kept['kept']}/{kept['delegated']}; {throttled} still retrying"
    )
    ratio = portal_seconds / floor_seconds
    return size, ratio, queries / max(done, 1), lost, floor_seconds, portal_seconds


def _throttle(control: Any, size: int) -> None:
    """Every THROTTLED_EVERY-th token request answered 429 with Retry-After, for the whole run."""
    control.clear_faults()
    for _ in range(size // THROTTLED_EVERY + 10):
        control.inject_fault("token", status=429, retry_after=RETRY_AFTER, skip=THROTTLED_EVERY - 1)


def _refresh_tokens(token_cache: str) -> set[str]:
    return {entry["secret"] for entry in json.loads(token_cache or "{}").get("RefreshToken", {}).values()}


def _rotation_kept(credentials: Any, templates: list[Any]) -> dict[str, int]:
    """Each delegated row must hold the refresh token Microsoft rotated to, not the one it started with."""
    from credentials.choices import CredentialKind

    old = set().union(*(_refresh_tokens(t.token_cache) for t in templates))
    delegated = credentials.exclude(kind=CredentialKind.APP_ONLY)
    kept = sum(
        1 for cache in delegated.values_list("token_cache", flat=True).iterator() if _refresh_tokens(cache) - old
    )
    total = delegated.count()
    return {"kept": kept, "delegated": total, "lost": total - kept}


# --- the floor: a bare MSAL loop ----------------------------------------------------------------------------


def _floor_item(credential: Any) -> dict[str, Any]:
    from credentials.choices import CredentialKind
    from tests.credentials.apps import APP_SECRETS

    secret = None if credential.kind == CredentialKind.DELEGATED_PUBLIC else APP_SECRETS[credential.client_id]
    return {
        "kind": str(credential.kind),
        "client_id": credential.client_id,
        "secret": secret,
        "directory": credential.directory_id,
        "scopes": list(credential.scopes),
        "refresh_token": next(iter(_refresh_tokens(credential.token_cache)), ""),
    }


def _floor(handle: Any, items: list[dict[str, Any]]) -> float:
    authority = f"{handle.https_url}/{items[0]['directory']}"
    halves = [items[0::2], items[1::2]]
    begin = time.perf_counter()
    # Spawned, not forked: a child must not inherit the parent's open TLS connections (microsoft.http keeps them).
    with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:
        done = sum(pool.starmap(_floor_loop, [(authority, str(handle.ca_path), half) for half in halves]))
    seconds = time.perf_counter() - begin
    assert done == len(items), (done, len(items))
    return seconds


def _floor_loop(authority: str, ca_path: str, items: list[dict[str, Any]]) -> int:
    import msal

    from m365_emulator.testing import trusting_session

    session = trusting_session(ca_path)
    apps: dict[tuple[str, bool], Any] = {}

    def app_for(item: dict[str, Any]) -> Any:
        key = (item["client_id"], item["secret"] is None)
        if key not in apps:
            options = {"authority": authority, "http_client": session, "instance_discovery": False}
            apps[key] = (
                msal.PublicClientApplication(item["client_id"], **options)
                if item["secret"] is None
                else msal.ConfidentialClientApplication(item["client_id"], client_credential=item["secret"], **options)
            )
        return apps[key]

    queue: list[tuple[float, int]] = [(0.0, n) for n in range(len(items))]
    done = 0
    while queue:
        at, n = heapq.heappop(queue)
        wait = at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        item = items[n]
        app = app_for(item)
        if item["kind"] == "app_only":
            app.token_cache = msal.TokenCache()  # a new token every time, as the store's refresh gets
            answer = app.acquire_token_for_client(scopes=item["scopes"])
        else:
            answer = app.acquire_token_by_refresh_token(item["refresh_token"], scopes=item["scopes"])
        if "access_token" in answer:
            done += 1
        else:  # the 429: try again after its Retry-After, meanwhile the others
            heapq.heappush(queue, (time.monotonic() + RETRY_AFTER, n))
    return done


if __name__ == "__main__":
    main()
