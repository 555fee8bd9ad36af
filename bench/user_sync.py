"""User Synchronization at scale against the emulator: a full sync of 100,000 users in 500 groups, then a delta of
1,000 changes, and in the same run the floor: the same pages read by a bare `requests` loop and the same rows
written by one bare bulk upsert.

Run: bash scripts/bench.sh user_sync [USERS] [GROUPS] [CHANGES]   (PostgreSQL, its own database; own emulator)

The run's steps are called here one after the other, as a worker takes them (a step takes Graph pages for a turn,
each page in its own transaction), so the database queries of every page can be counted. Printed: wall time, Graph
requests, rows per second, queries, peak memory (this process's maximum RSS: the emulator is a process of its
own), the ratio to the floor, then the RESULT lines. BENCH_QUERY_TIMES=1 adds the time per kind of query,
BENCH_PROFILE=1 a cProfile of the full sync (BENCH_PROFILE_SORT=tottime to sort by own time,
BENCH_PROFILE_LINES=140 for more lines), BENCH_EXPLAIN=1 (with BENCH_QUERY_TIMES=1) the plan (EXPLAIN ANALYZE) of
a SELECT over BENCH_EXPLAIN_MS (30) ms, a few times per kind.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import SEED, django_start, result  # noqa: E402

USERS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
GROUPS = int(sys.argv[2]) if len(sys.argv) > 2 else 500
CHANGES = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000
CONTOSO = "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
SYNC_APP = "6e1c0a02-7d2b-4c3e-9f10-000000000a02"
QUERY_TIMES: dict[str, float] = {}
EXPLAIN_OVER = float(os.environ.get("BENCH_EXPLAIN_MS", "30")) / 1000
TARGET_RATIO, TARGET_DELTA_SECONDS, TARGET_RSS_MB = 1.5, 3, 300


def main() -> None:
    from m365_emulator.testing import portal_environment, start_emulator

    work = Path(tempfile.mkdtemp(prefix="bench-user-sync-"))
    with start_emulator(SEED, work / "emulator") as handle:
        django_start(work, "bench_user_sync", portal_environment(handle, SEED))
        run(handle)


def feature_ready(handle: Any) -> Any:
    """Contoso's User Synchronization feature, consented at the emulator's page and enabled."""
    from integrations.models import Feature
    from integrations.services.features import feature_enable
    from integrations.services.tokens import feature_app_token_acquire, feature_app_tokens_save
    from tests.factories import AdminFactory, TenantFactory
    from tests.integrations.conftest import connected_automatic, consented, feature_of
    from tests.security.conftest import admin_consent_url, at_microsoft

    admin: Any = AdminFactory(tenant=TenantFactory(name="bench", display_name="Bench"), email="admin@bench.example")
    feature = consented(feature_of(connected_automatic(admin), "user_sync"))
    redirect = "http://127.0.0.1:8000/integrations/consent/callback/"
    at_microsoft(
        handle, admin_consent_url(SYNC_APP, CONTOSO, redirect), ("admin@contoso.onmicrosoft.com", "Contoso-Admin-1")
    )
    grant = feature_app_token_acquire(app=feature.app_registration, directory_id=CONTOSO)
    feature_app_tokens_save(features=[feature], grant=grant, actor=admin)
    feature_enable(feature=feature)
    return Feature.objects.select_related("integration", "app_registration", "tenant").get(pk=feature.pk)


def sync_measured(settings: Any) -> tuple[Any, float, int]:
    """One sync, step by step; (the run, wall seconds, the largest number of queries of one page: a step takes
    pages for a turn, and its claim and release count with its first and last page)."""
    from django.db import connection

    from user_sync.services.engine import run_step
    from user_sync.services.runs import run_start

    begin = time.perf_counter()
    run = run_start(settings=settings, actor=None)
    most = 0
    counted = [0]

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal most
        counted[0] += 1
        if '"pages" = ("user_sync_syncrun"."pages" +' in sql:  # a page's last statement: its count ends
            most, counted[0] = max(most, counted[0]), 0
        if not os.environ.get("BENCH_QUERY_TIMES"):
            return execute(sql, params, many, context)
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            key = " ".join(sql.split()[:4])[:70]
            spent = time.perf_counter() - began
            QUERY_TIMES[key] = QUERY_TIMES.get(key, 0.0) + spent
            if os.environ.get("BENCH_EXPLAIN") and spent > EXPLAIN_OVER and sql.startswith("SELECT") and not many:
                explain(sql, params, spent)

    while True:
        counted[0] = 0
        with connection.execute_wrapper(count):
            outcome = run_step(run_id=run.pk)
        most = max(most, counted[0])
        run.refresh_from_db()
        if not run.is_open:
            break
        assert outcome not in ("skipped", "lost"), outcome
    if os.environ.get("BENCH_QUERY_TIMES"):
        for key, seconds in sorted(QUERY_TIMES.items(), key=lambda kv: -kv[1])[:15]:
            print(f"  {seconds:7.2f} s  {key}")
        QUERY_TIMES.clear()
    return run, time.perf_counter() - begin, most


EXPLAINED: dict[str, int] = {}


def explain(sql: str, params: Any, spent: float) -> None:
    """BENCH_EXPLAIN=1: the plan of a slow SELECT, a few times per kind, with the users table's statistics."""
    import psycopg
    from django.db import connection

    key = sql[:120]
    EXPLAINED[key] = EXPLAINED.get(key, 0) + 1
    if EXPLAINED[key] not in (1, 20, 200):
        return
    with psycopg.ClientCursor(connection.connection) as cursor:
        cursor.execute(
            "SELECT n_live_tup, n_mod_since_analyze, last_analyze, last_autoanalyze FROM pg_stat_user_tables "
            "WHERE relname = 'accounts_user'"
        )
        print(f"--- {spent * 1000:.0f} ms, accounts_user stats {cursor.fetchone()}: {sql[:300]}")
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        for (line,) in cursor.fetchall():
            print("    " + line)


def floor(handle: Any, feature: Any, select: list[str]) -> tuple[float, float, int, int]:
    """The same pages by a bare requests loop, the same rows by one bulk upsert: (read s, write s, requests, rows)."""
    from django.db import connection

    from integrations.services.tokens import feature_app_token
    from microsoft.graph import groups_delta_url, users_delta_url

    session = handle.session()
    headers = {"Authorization": f"Bearer {feature_app_token(feature)}"}
    rows: list[tuple[str, str, str]] = []
    links: list[tuple[str, str]] = []
    requests = 0
    begin = time.perf_counter()
    for url in (users_delta_url(select=select), groups_delta_url(select=["displayName"], members=True)):
        next_url: str | None = url
        while next_url:
            body = session.get(next_url, headers=headers, timeout=60).json()
            requests += 1
            if "users/delta" in url:
                rows += [
                    (u["id"], (u.get("mail") or u.get("userPrincipalName") or "").lower(), u.get("displayName") or "")
                    for u in body["value"]
                ]
            else:
                links += [(g["id"], m["id"]) for g in body["value"] for m in g.get("members@delta", ())]
            next_url = body.get("@odata.nextLink")
    read = time.perf_counter() - begin
    begin = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE floor_users (object_id text PRIMARY KEY, email text, name text)")
        cursor.execute(
            "INSERT INTO floor_users SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]) "
            "ON CONFLICT (object_id) DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name",
            [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
        )
        cursor.execute(
            "CREATE TEMPORARY TABLE floor_members (group_id text, member_id text, UNIQUE (group_id, member_id))"
        )
        cursor.execute(
            "INSERT INTO floor_members SELECT * FROM unnest(%s::text[], %s::text[]) ON CONFLICT DO NOTHING",
            [[link[0] for link in links], [link[1] for link in links]],
        )
    write = time.perf_counter() - begin
    return read, write, requests, len(rows) + len(links)


def run(handle: Any) -> None:
    from accounts.models import User
    from user_sync.choices import RunStatus
    from user_sync.services.engine import users_select
    from user_sync.services.runs import settings_for

    generated = handle.control.generate_directory(CONTOSO, users=USERS, groups=GROUPS, seed=1)
    made = f"{generated['users']:,} users, {generated['groups']} groups, {generated['memberships']:,} memberships"
    print(f"directory: {made}")
    feature = feature_ready(handle)
    settings = settings_for(feature)
    settings.sync_groups, settings.threshold_percent = True, 100
    settings.save()

    if os.environ.get("BENCH_PROFILE"):
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        full, full_seconds, full_queries = sync_measured(settings)
        profiler.disable()
        pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_PROFILE_SORT", "cumulative")).print_stats(
            int(os.environ.get("BENCH_PROFILE_LINES", "45"))
        )
    else:
        full, full_seconds, full_queries = sync_measured(settings)
    assert full.status == RunStatus.SUCCEEDED, full.notes
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    users = User.objects.filter(directory_tenant_id=CONTOSO).count()
    print(
        f"full sync: {full_seconds:.1f} s, {full.pages} pages ({full.graph_requests} Graph requests), "
        f"{full.users_seen:,} users and {full.groups_seen} groups read, {full.created:,} created "
        f"({users:,} users stored), {full.users_seen / full_seconds:,.0f} users/s, at most {full_queries} queries "
        f"a page, peak RSS {rss_mb:.0f} MB"
    )

    changed = list(User.objects.filter(directory_tenant_id=CONTOSO).values_list("email", flat=True)[:CHANGES])
    for number, email in enumerate(changed):
        handle.control.update_user(CONTOSO, email, displayName=f"Changed Person {number}")
    settings.refresh_from_db()
    delta, delta_seconds, delta_queries = sync_measured(settings)
    assert delta.status == RunStatus.SUCCEEDED and delta.updated == len(changed), (delta.updated, delta.notes)
    print(
        f"delta: {len(changed):,} changes in {delta_seconds:.2f} s, {delta.pages} pages "
        f"({delta.graph_requests} Graph requests), at most {delta_queries} queries a page"
    )

    read, write, requests, rows = floor(handle, feature, users_select(settings))
    floor_seconds = read + write
    print(
        f"floor: {requests} requests read in {read:.1f} s, {rows:,} rows (users, memberships) upserted in "
        f"{write:.2f} s: "
        f"{floor_seconds:.1f} s, {rows / floor_seconds:,.0f} rows/s"
    )
    result("user_sync_full_ratio", full_seconds / floor_seconds, "x", TARGET_RATIO)
    result("user_sync_delta_seconds", delta_seconds, "s", TARGET_DELTA_SECONDS)
    result("user_sync_peak_rss_mb", rss_mb, "MB", TARGET_RSS_MB)
    result("user_sync_queries_per_page", max(full_queries, delta_queries), "queries", "constant")


if __name__ == "__main__":
    main()
