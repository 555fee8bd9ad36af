"""User import benchmark: a 100,000-row file checked (the preview) and applied, in bounded memory.

Run: bash scripts/bench.sh user_import [ROWS] [FORMAT]   (default 100000 csv; FORMAT csv or xlsx)
It writes a file of ROWS users (every 50th row refused: a bad email, a duplicate, a role that does not exist), runs
the preview and the import in this process as the worker does (users_admin.imports.import_work), then imports the
same file again (everything unchanged). Printed: wall time and rows per second of each phase, database queries per
1,000-row batch, peak memory over the process's memory before the file was read, and the Users page's queries at
that size (first page, a deep page, a prefix search). Ends with RESULT lines.

The users and aliases tables are analyzed once the tenant and its admin exist, and not again until the imports are
done: as on a running server (autovacuum is off here, and lags a large import anywhere), PostgreSQL plans each
batch's lookups on statistics that say the tenant has no users, however many the import has created so far
(BENCH_STATISTICS=never leaves the tables never analyzed instead). Each phase prints its batches' rows per second,
first ten against last ten, and the plans (EXPLAIN (ANALYZE, BUFFERS)) of the first import's lookups at its middle
batch and its last one.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import django_start, result

if TYPE_CHECKING:
    from users_admin.imports import Row
    from users_admin.models import UserImport

TARGET_PEAK_RSS_MB = 300


def rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_now_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def write_file(path: Path, rows: int, file_format: str) -> None:
    def lines():
        yield ["Email", "Name", "Role", "Aliases", "Card"]
        for n in range(rows):
            if n % 50 == 49:
                bad = n % 150
                if bad < 50:
                    yield [f"broken-{n}", "Broken Email", "user", "", ""]
                elif bad < 100:
                    yield [f"person{n - 1}@bench.example", "Duplicate", "user", "", ""]
                else:
                    yield [f"person{n}@bench.example", "Wrong Role", "manager", "", ""]
                continue
            role = "admin" if n % 1000 == 0 else "user"
            yield [f"person{n}@bench.example", f"Person {n:06d}", role, f"p{n};person.{n}", f"{900000 + n}"]

    if file_format == "csv":
        import csv

        with path.open("w", newline="", encoding="utf-8") as out:
            csv.writer(out).writerows(lines())
        return
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    for line in lines():
        sheet.append(line)
    book.save(path)


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    file_format = sys.argv[2] if len(sys.argv) > 2 else "csv"
    work = Path(tempfile.mkdtemp(prefix="bench-user-import-"))
    django_start(work, "bench_user_import")
    from django.conf import settings

    settings.DEBUG = False  # no query log kept in memory: what is measured is the import's own memory
    run(work, rows, file_format)


class QueryCounter:
    """Counts the queries; while `explaining`, prints the plan of each lookup of the users and their aliases."""

    def __init__(self) -> None:
        self.count = 0
        self.explaining = ""

    def __call__(self, execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        self.count += 1
        if self.explaining and sql.startswith("SELECT") and ('FROM "accounts_' in sql) and not many:
            explain(self.explaining, sql, params)
        return execute(sql, params, many, context)


def explain(label: str, sql: str, params: Any) -> None:
    import psycopg
    from django.db import connection

    with psycopg.ClientCursor(connection.connection) as cursor:
        cursor.execute(
            "SELECT s.relname, c.reltuples::bigint, s.n_live_tup, s.n_mod_since_analyze FROM pg_stat_user_tables s "
            "JOIN pg_class c ON c.oid = s.relid WHERE s.relname IN ('accounts_user', 'accounts_alias')"
        )
        print(f"--- {label}, statistics (table, reltuples, live, changed since ANALYZE) {cursor.fetchall()}")
        print(f"    {sql[:160]} ...")
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        for (line,) in cursor.fetchall():
            print("    " + (line if len(line) < 200 else line[:200] + " ..."))


class BatchTimer:
    """Wraps users_admin.imports._batch: the seconds of each batch of the phase under way."""

    def __init__(self, batch: Any, counter: QueryCounter) -> None:
        self.batch, self.counter = batch, counter
        self.seconds: list[float] = []
        self.explain_at: dict[int, str] = {}

    def start(self, explain_at: dict[int, str]) -> None:
        self.seconds, self.explain_at = [], explain_at

    def __call__(self, user_import: UserImport, rows: list[Row]) -> Any:
        number = len(self.seconds) + 1
        self.counter.explaining = self.explain_at.pop(number, "")
        started = time.perf_counter()
        try:
            done = self.batch(user_import, rows)
        finally:
            explained, self.counter.explaining = self.counter.explaining, ""
        if not explained:  # a batch that ran its lookups twice is not timed; the next one is, in its place
            self.seconds.append(time.perf_counter() - started)
        return done

    def summary(self) -> tuple[float, float]:
        """Rows per second of the first ten batches and of the last ten (full batches only)."""
        from users_admin.imports import BATCH

        full = self.seconds[:-1] if len(self.seconds) > 20 else self.seconds
        early, late = full[:10] or [1.0], full[-10:] or [1.0]
        return BATCH * len(early) / sum(early), BATCH * len(late) / sum(late)


def run(work: Path, rows: int, file_format: str) -> None:
    from django.core.files import File
    from django.db import connection
    from django.http import QueryDict

    from accounts.choices import Role
    from accounts.models import Tenant, User
    from ui.pagination import keyset_page
    from users_admin import imports
    from users_admin.imports import import_apply, import_start, import_work
    from users_admin.selectors import users_count, users_for_page, users_search
    from users_admin.views import SEARCH_COUNT_CAP

    path = work / f"users.{file_format}"
    started = time.perf_counter()
    write_file(path, rows, file_format)
    size_mb = path.stat().st_size / 1e6
    print(f"wrote {rows} rows of {file_format} ({size_mb:.1f} MB) in {time.perf_counter() - started:.1f}s")

    tenant = Tenant.objects.create(name="bench", display_name="Bench")
    admin = User.objects.create_user(tenant=tenant, email="admin@bench.example", password="x", role=Role.ADMIN)
    statistics = os.environ.get("BENCH_STATISTICS", "before")
    if statistics == "before":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE accounts_user, accounts_alias")  # the last ANALYZE before the imports
    print(f"statistics of the users and aliases: {statistics} the imports")
    counter = QueryCounter()
    timer = BatchTimer(imports._batch, counter)
    imports._batch = timer  # type: ignore[assignment]
    batches = -(-rows // imports.BATCH)
    baseline = rss_now_mb()
    print(f"memory before the import: {baseline:.0f} MB (peak so far {rss_peak_mb():.0f} MB)")

    figures: dict[str, float] = {}
    for attempt in ("first", "again"):
        with path.open("rb") as upload:
            user_import = import_start(tenant=tenant, actor=admin, upload=File(upload, name=path.name))
        for phase in ("preview", "apply"):
            if phase == "apply":
                assert import_apply(user_import, actor=admin)
            counter.count = 0
            middle = batches // 2
            first_apply = (attempt, phase) == ("first", "apply")
            timer.start({middle: f"batch {middle}", batches - 1: f"batch {batches - 1}"} if first_apply else {})
            started = time.perf_counter()
            with connection.execute_wrapper(counter):
                worked = import_work(import_id=user_import.pk)
            seconds = time.perf_counter() - started
            early, late = timer.summary()
            print(
                f"{attempt:5} {phase:7}: batches' rows/s, first ten {early:6.0f}, last ten {late:6.0f}; "
                "every tenth batch (ms): " + " ".join(f"{s * 1000:.0f}" for s in timer.seconds[::10])
            )
            figures[f"{attempt}_{phase}_early_rows_per_second"] = early
            figures[f"{attempt}_{phase}_late_rows_per_second"] = late
            assert worked is not None and not worked.error, worked and worked.error
            user_import = worked
            print(
                f"{attempt:5} {phase:7}: {seconds:6.1f}s, {rows / seconds:7.0f} rows/s, "
                f"{counter.count / batches:5.1f} queries per {imports.BATCH}-row batch, counts {user_import.counts}"
            )
            figures[f"{attempt}_{phase}_seconds"] = seconds
            figures[f"{attempt}_{phase}_queries_per_batch"] = counter.count / batches
    peak = rss_peak_mb()
    print(f"peak memory: {peak:.0f} MB ({peak - baseline:.0f} MB over the {baseline:.0f} MB before the import)")
    users = User.objects.filter(tenant=tenant).count()
    print(f"users in the tenant: {users}")

    def timed(label: str, query: str = "", before: str = "") -> None:
        started = time.perf_counter()
        counter.count = 0
        with connection.execute_wrapper(counter):
            found = users_search(tenant=tenant, query=query)
            total, _ = users_count(found, cap=SEARCH_COUNT_CAP if query else None)
            params = QueryDict(mutable=True)
            params["before"] = before
            shown = list(keyset_page(users_for_page(found), field="email", params=params, descending=False))
        milliseconds = (time.perf_counter() - started) * 1000
        print(f"Users page, {label}: {milliseconds:.0f} ms, {counter.count} queries, {len(shown)} of {total} shown")
        figures[f"page_{label}_ms"] = milliseconds

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # as autovacuum does after a large import
    timed("page 1")
    turn = users_search(tenant=tenant)[49_949]  # the last row of page 999: where page 1,000 starts
    timed("page 1000", before=f"{turn.email}_{turn.pk}")
    timed("search name", query="person 0009")
    timed("search everyone", query="person")
    timed("search email", query="person4242@")
    timed("search alias", query="p4242")

    result("user_import_rows_per_second", rows / figures["first_apply_seconds"], "rows/s", "-")
    result("user_import_preview_seconds", figures["first_preview_seconds"], "s", "-")
    result("user_import_apply_seconds", figures["first_apply_seconds"], "s", "-")
    result("user_import_apply_early_rows_per_second", figures["first_apply_early_rows_per_second"], "rows/s", "-")
    result("user_import_apply_late_rows_per_second", figures["first_apply_late_rows_per_second"], "rows/s", "-")
    result("user_import_again_seconds", figures["again_apply_seconds"], "s", "-")
    result("user_import_queries_per_batch", figures["first_apply_queries_per_batch"], "queries", "constant")
    result("user_list_search_ms", max(v for k, v in figures.items() if k.startswith("page_search")), "ms", 100)
    result("user_list_page_ms", max(v for k, v in figures.items() if k.startswith("page_page")), "ms", 100)
    result("user_import_peak_rss_mb", peak, "MB", TARGET_PEAK_RSS_MB)


if __name__ == "__main__":
    main()
