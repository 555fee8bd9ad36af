"""User Synchronization at scale against the emulator: a full sync of 100,000 users in 500 groups, then a delta of
1,000 changes, and in the same run the floor: the same pages read by a bare `requests` loop and the same rows
written by one bare bulk upsert per table, into the product's own tables (accounts_user, accounts_group,
accounts_groupmembership: their indexes, constraints and WAL, each statement committed) in a tenant made for the
floor and deleted afterwards. The floor first measured, the same upserts into TEMPORARY tables (no WAL, one key),
is printed beside it; the RESULT ratio is against the product's tables.

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
        from django.conf import settings

        # The sync runs as in a production worker: DEBUG (which gave the set-up its development keys) also keeps a
        # log of every statement's SQL, pages of arrays included, which no worker keeps.
        settings.DEBUG = False
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
    """One sync, step by step; (the run, wall seconds, the largest number of queries a page: a step takes pages
    for a turn, and its claim and release count with its first and last transaction; a transaction's queries are
    divided by its pages, rounded up)."""
    from django.db import connection

    from user_sync.services import engine
    from user_sync.services.engine import run_step
    from user_sync.services.runs import run_start

    begin = time.perf_counter()
    run = run_start(settings=settings, actor=None)
    most = 0
    counted = [0]
    pages = [0]  # pages applied since the last run UPDATE (a transaction takes the pages read ahead that arrived)
    originals = engine.users_page_apply, engine.groups_page_apply

    def counting(apply: Any) -> Any:
        def applied(**kwargs: Any) -> Any:
            pages[0] += 1
            return apply(**kwargs)

        return applied

    engine.users_page_apply, engine.groups_page_apply = counting(originals[0]), counting(originals[1])

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal most
        counted[0] += 1
        if '"pages" = ("user_sync_syncrun"."pages" +' in sql:  # a transaction's last statement: its count ends
            most, counted[0], pages[0] = max(most, -(-counted[0] // max(pages[0], 1))), 0, 0
            TRANSACTIONS[0] += 1
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

    try:
        while True:
            counted[0] = pages[0] = 0
            with connection.execute_wrapper(count):
                outcome = run_step(run_id=run.pk)
            most = max(most, -(-counted[0] // max(pages[0], 1)))
            run.refresh_from_db()
            if not run.is_open:
                break
            assert outcome not in ("skipped", "lost"), outcome
    finally:
        engine.users_page_apply, engine.groups_page_apply = originals
    if os.environ.get("BENCH_QUERY_TIMES"):
        for key, seconds in sorted(QUERY_TIMES.items(), key=lambda kv: -kv[1])[:15]:
            print(f"  {seconds:7.2f} s  {key}")
        QUERY_TIMES.clear()
    return run, time.perf_counter() - begin, most


EXPLAINED: dict[str, int] = {}
TRANSACTIONS = [0]  # a sync's transactions that wrote pages (one run UPDATE each)


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


def floor(handle: Any, feature: Any, select: list[str]) -> tuple[float, float, float, int, int]:
    """The same pages by a bare requests loop, the same rows by one bare bulk upsert per table: (read s, write s
    into temporary tables, write s into the product's tables, requests, rows)."""
    from integrations.services.tokens import feature_app_token
    from microsoft.graph import groups_delta_url, users_delta_url

    session = handle.session()
    headers = {"Authorization": f"Bearer {feature_app_token(feature)}"}
    rows: list[tuple[str, str, str]] = []
    groups: list[tuple[str, str]] = []
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
                groups += [(g["id"], g.get("displayName") or g["id"]) for g in body["value"] if "displayName" in g]
                links += [(g["id"], m["id"]) for g in body["value"] for m in g.get("members@delta", ())]
            next_url = body.get("@odata.nextLink")
    read = time.perf_counter() - begin
    temporary = floor_write_temporary(rows, links)
    real = floor_write_real(rows, groups, links)
    return read, temporary, real, requests, len(rows) + len(links)


def floor_write_temporary(rows: list[tuple[str, str, str]], links: list[tuple[str, str]]) -> float:
    """The floor as first measured: TEMPORARY tables (no WAL, one key each), not the rows the product writes."""
    from django.db import connection

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
        cursor.execute("DROP TABLE floor_users, floor_members")
    return time.perf_counter() - begin


# The product's rows: a synced user (every column the sync writes; an unusable password of the product's length),
# a directory group, a membership by the two ids. Into the product's tables with all their indexes, constraints and
# WAL, committed statement by statement (autocommit, as Django runs), in a tenant of their own deleted afterwards.
FLOOR_USERS = """
INSERT INTO accounts_user (password, last_login, is_superuser, tenant_id, username, email, full_name, role, source,
    directory_tenant_id, directory_object_id, microsoft_reconnect_required, card, pin_hash, is_active,
    deactivated_at, deactivation_reason, session_epoch, is_staff, date_joined, cost_center_id)
SELECT %(password)s, NULL, false, %(tenant)s, %(prefix)s || v.email, v.email, v.name, 'user', 'synced',
    %(directory)s, v.object_id, false, '', '', true, NULL, '', 0, false, now(), NULL
FROM unnest(%(ids)s::text[], %(emails)s::text[], %(names)s::text[]) AS v(object_id, email, name)
ON CONFLICT (tenant_id, directory_tenant_id, directory_object_id) WHERE directory_object_id <> ''
DO UPDATE SET email = EXCLUDED.email, username = EXCLUDED.username, full_name = EXCLUDED.full_name
RETURNING directory_object_id, id
"""
FLOOR_GROUPS = """
INSERT INTO accounts_group (name, directory_tenant_id, directory_object_id, created_at, tenant_id)
SELECT v.name, %(directory)s, v.object_id, now(), %(tenant)s FROM unnest(%(ids)s::text[], %(names)s::text[])
    AS v(object_id, name)
ON CONFLICT (tenant_id, directory_tenant_id, directory_object_id) WHERE directory_object_id <> ''
DO UPDATE SET name = EXCLUDED.name
RETURNING directory_object_id, id
"""
FLOOR_MEMBERSHIPS = """
INSERT INTO accounts_groupmembership (group_id, user_id) SELECT * FROM unnest(%(groups)s::bigint[], %(users)s::bigint[])
ON CONFLICT DO NOTHING
"""


def floor_write_real(
    rows: list[tuple[str, str, str]], groups: list[tuple[str, str]], links: list[tuple[str, str]]
) -> float:
    """The same rows into the product's tables (accounts_user, accounts_group, accounts_groupmembership), one bare
    upsert per table, each its own committed transaction, in a tenant made for the floor and deleted afterwards (not
    timed): what no sync can beat."""
    from django.db import connection

    from accounts.lookups import array_literal
    from accounts.models import Tenant

    tenant = Tenant.objects.create(name="bench-floor", display_name="Floor")
    names = dict(groups)
    begin = time.perf_counter()
    with connection.cursor() as cursor:
        common: dict[str, Any] = {"tenant": tenant.pk, "directory": CONTOSO}
        cursor.execute(
            FLOOR_USERS,
            {
                **common,
                "password": "!" + "x" * 40,
                "prefix": f"{tenant.name}/",
                "ids": array_literal([r[0] for r in rows]),
                "emails": array_literal([r[1] for r in rows]),
                "names": array_literal([r[2] for r in rows]),
            },
        )
        written = [cursor.rowcount]
        users = dict(cursor.fetchall())
        cursor.execute(
            FLOOR_GROUPS, {**common, "ids": array_literal(list(names)), "names": array_literal(list(names.values()))}
        )
        written.append(cursor.rowcount)
        ids = dict(cursor.fetchall())
        # The memberships by the ids the two upserts returned (a join on the object ids is planned on the floor
        # tenant's statistics, none yet: a nested loop over the groups for each membership).
        pairs = [(ids[g], users[m]) for g, m in links if g in ids and m in users]
        cursor.execute(
            FLOOR_MEMBERSHIPS,
            {"groups": array_literal([g for g, _ in pairs]), "users": array_literal([u for _, u in pairs])},
        )
        written.append(cursor.rowcount)
    spent = time.perf_counter() - begin
    print(
        f"floor rows in the product's tables: {written[0]:,} users, {written[1]:,} groups, {written[2]:,} memberships"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM accounts_groupmembership WHERE group_id IN "
            "(SELECT id FROM accounts_group WHERE tenant_id = %s)",
            [tenant.pk],
        )
        cursor.execute("DELETE FROM accounts_user WHERE tenant_id = %s", [tenant.pk])
        cursor.execute("DELETE FROM accounts_group WHERE tenant_id = %s", [tenant.pk])
    tenant.delete()
    return spent


def broker_connected() -> None:
    """The broker's transport loaded and connected, as in a worker that has been running: the first publish of this
    process imported kombu's Redis transport (0.3 s), which the timed sync would otherwise pay once."""
    from config.celery import app

    with app.producer_or_acquire() as producer:
        producer.connection.ensure_connection(max_retries=1)


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
    broker_connected()

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
        f"a page, peak RSS {rss_mb:.0f} MB, {TRANSACTIONS[0]} transactions wrote the pages"
    )
    TRANSACTIONS[0] = 0

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

    read, temporary, real, requests, rows = floor(handle, feature, users_select(settings))
    old_floor, floor_seconds = read + temporary, read + real
    print(
        f"floor: {requests} requests read in {read:.1f} s, {rows:,} rows (users, memberships) upserted in "
        f"{real:.2f} s into the product's tables ({temporary:.2f} s into temporary tables): {floor_seconds:.1f} s "
        f"({old_floor:.1f} s with temporary tables), {rows / floor_seconds:,.0f} rows/s"
    )
    print(f"ratio against the temporary-table floor: {full_seconds / old_floor:.2f} x")
    result("user_sync_full_ratio", full_seconds / floor_seconds, "x", TARGET_RATIO)
    result("user_sync_delta_seconds", delta_seconds, "s", TARGET_DELTA_SECONDS)
    result("user_sync_peak_rss_mb", rss_mb, "MB", TARGET_RSS_MB)
    result("user_sync_queries_per_page", max(full_queries, delta_queries), "queries", "constant")


if __name__ == "__main__":
    main()
