"""Every list and detail page of a large tenant under gunicorn at a fixed open-loop request rate.

Run: bash scripts/bench.sh pages [SCALE ...]   (default 0.1 1: a tenth of the issue's tenant, then all of it)
At scale 1 the tenant has 1,000 integrations (each with its app registration and four features), 200 external
systems, 100,000 users and 1,000,000 print jobs (rows written in bulk: INSERT ... SELECT generate_series). The
portal runs as in production (DEBUG off, collected static files) under gunicorn with two sync workers; the
benchmark sends each page REQUESTS_PER_SECOND requests a second for SECONDS seconds, each at its planned moment
whether or not the previous ones were answered (open loop: no tool in Debian's or PyPI's reach here does a fixed
rate with latency taken from the planned moment, wrk2 and vegeta are not packaged, so the loop is here), and
takes each latency from the planned moment, so a page that falls behind shows it. The floor is a trivial Django
view (bench/pages_urls.py) at the same rate in the same run. Each response says how many queries it made
(`X-Queries`, a middleware of bench/pages_settings.py).
Figures per page and scale: p50 and p95 latency, queries; RESULT: the worst page's p95 over the trivial view's
(target 3x) and the largest query count of any page (a test, tests/bench/test_page_queries.py, keeps the counts
constant whatever the row count).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import SEED, django_start, percentile, result, wait_for  # noqa: E402

FULL = {"integrations": 1000, "systems": 200, "users": 100_000, "jobs": 1_000_000}
REQUESTS_PER_SECOND = float(os.environ.get("BENCH_RATE", 4))
SECONDS = float(os.environ.get("BENCH_SECONDS", 10))
TIMEOUT = 120.0  # a request not answered by then counts as answered then (status 0)
TARGET_RATIO, TARGET_QUERIES = 3.0, 12


def main() -> None:
    from m365_emulator.testing import portal_environment, start_emulator

    scales = [float(s) for s in sys.argv[1:]] or [0.1, 1.0]
    work = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    with start_emulator(SEED, work / "emulator") as handle:
        env = django_start(work, "bench_pages", portal_environment(handle, SEED))
        tenant, admin = _tenant()
        summaries = []
        for scale in scales:
            sizes = {name: int(count * scale) for name, count in FULL.items()}
            begin = time.perf_counter()
            _grow(tenant, sizes)
            print(f"scale {scale}: {sizes} built in {time.perf_counter() - begin:.0f} s", flush=True)
            with _gunicorn(env, work) as base:
                summaries.append((scale, _measure(base, tenant, admin)))
        for scale, (ratio, max_queries, _) in summaries:
            print(f"scale {scale}: worst p95 {ratio:.2f}x the trivial view's, at most {max_queries} queries a page")
        ratio, max_queries, _ = summaries[-1][1]
        result("pages_p95_ratio", ratio, "x", TARGET_RATIO)
        result("pages_max_queries", max_queries, "queries", TARGET_QUERIES)


# --- the tenant -------------------------------------------------------------------------------------------


def _tenant() -> tuple[Any, Any]:
    from accounts.models import Tenant, User

    tenant = Tenant.objects.create(name="big", display_name="Big Tenant")
    admin = User.objects.create_user(tenant=tenant, email="admin@big.example", password="x", role="admin")
    return tenant, admin


def _grow(tenant: Any, sizes: dict[str, int]) -> None:
    """Bring the tenant up to `sizes` (rows already there are kept)."""
    from django.db import connection

    from accounts.models import User
    from external_systems.models import ExternalSystem
    from integrations.models import Integration
    from print_jobs.models import PrintJob
    from tests.factories import ExternalSystemFactory, IntegrationFactory

    have = Integration.objects.filter(tenant=tenant).count()
    for n in range(have, sizes["integrations"]):
        IntegrationFactory(tenant=tenant, name=f"Directory {n:05d}", directory_id=f"{n:08x}-0000-4000-8000-{n:012x}")
    have = ExternalSystem.objects.filter(tenant=tenant).count()
    for n in range(have, sizes["systems"]):
        ExternalSystemFactory(tenant=tenant, title=f"Mailbox {n:04d}")

    have = User.objects.filter(tenant=tenant).count() - 1  # less the admin
    template = User.objects.filter(tenant=tenant).first()
    assert template is not None
    batch = []
    for n in range(have, sizes["users"]):
        email = f"user{n:06d}@big.example"
        batch.append(
            User(
                tenant=tenant,
                username=f"{tenant.name}/{email}",
                email=email,
                full_name=f"User {n:06d}",
                password=template.password,
            )
        )
        if len(batch) == 5000:
            User.objects.bulk_create(batch)
            batch = []
    User.objects.bulk_create(batch)

    have = PrintJob.objects.filter(tenant=tenant).count()
    wanted = sizes["jobs"] - have
    if wanted > 0:
        owners = list(User.objects.filter(tenant=tenant).order_by("pk").values_list("pk", flat=True))
        with connection.cursor() as cursor:
            cursor.execute("CREATE TEMPORARY TABLE bench_owners (n integer PRIMARY KEY, owner_id bigint)")
            cursor.executemany("INSERT INTO bench_owners VALUES (%s, %s)", list(enumerate(owners)))
            # One job a minute going back in time, owners in turn; a tenth printed.
            cursor.execute(
                f"""
                INSERT INTO {PrintJob._meta.db_table}
                    (tenant_id, owner_id, source, source_key, source_label, queue_id, title, document, size,
                     content_type, status, received_at, printed_at, source_note)
                SELECT %s, o.owner_id, 'upload', 'bench:' || g, '', NULL, 'Document ' || g || '.pdf',
                       'print_jobs/bench/' || g || '.pdf', 20000 + g %% 100000, 'application/pdf',
                       CASE WHEN g %% 10 = 0 THEN 'printed' ELSE 'ready' END,
                       now() - make_interval(mins => g), NULL, ''
                  FROM generate_series(%s, %s) AS g
                  JOIN bench_owners o ON o.n = g %% %s
                """,
                [tenant.pk, have + 1, sizes["jobs"], len(owners)],
            )
            cursor.execute("DROP TABLE bench_owners")
            cursor.execute("ANALYZE")


# --- the server ---------------------------------------------------------------------------------------------


class _gunicorn:
    def __init__(self, env: dict[str, str], work: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.env = {
            **env,
            "DEBUG": "false",
            "DJANGO_SETTINGS_MODULE": "bench.pages_settings",
            "SECURE_SSL_REDIRECT": "false",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "LOG_LEVEL": "WARNING",
        }
        self.log = work / "gunicorn.log"

    def __enter__(self) -> str:
        command = [sys.executable, "-m", "gunicorn", "config.wsgi", "--workers", "2", "--bind"]
        command += [f"127.0.0.1:{self.port}", "--timeout", "120"]
        with self.log.open("ab") as log:
            collect = [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"]  # as a deployment does
            subprocess.run(collect, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, check=True)
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{self.port}"
        import requests

        def ready() -> bool:
            try:
                return requests.get(f"{base}/bench/trivial/", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, timeout=60, what="gunicorn")
        return base

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


# --- the load ---------------------------------------------------------------------------------------------------


def _pages(tenant: Any, admin: Any) -> list[tuple[str, str, str]]:
    """(name, path, who): who is 'admin' or 'user' (a plain user with their own jobs)."""
    from external_systems.models import ExternalSystem
    from integrations.models import Integration

    integration = Integration.objects.filter(tenant=tenant).order_by("pk").last()
    system = ExternalSystem.objects.filter(tenant=tenant).order_by("pk").last()
    pages = [
        ("trivial view (floor)", "/bench/trivial/", "admin"),
        ("dashboard", "/", "admin"),
        ("jobs", "/jobs/", "admin"),
        ("jobs, 1,000 pages on", f"/jobs/?before={quote(_cursor_at(tenant, 50_000))}", "admin"),
        ("jobs of a user", "/jobs/", "user"),
        ("audit log", "/administration/audit/", "admin"),
        ("integrations", "/administration/integrations/", "admin"),
        ("external systems", "/settings/external-systems/", "admin"),
        ("universal print", "/administration/universal-print/", "admin"),
        ("jobs via email", "/settings/jobs/", "admin"),
        ("network", "/settings/network/", "admin"),
        ("cloud services", "/my-settings/cloud-services/", "user"),
    ]
    if integration is not None:
        pages.append(("integration", f"/administration/integrations/microsoft/{integration.pk}/", "admin"))
    if system is not None:
        pages.append(("external system", f"/settings/external-systems/{system.pk}/", "admin"))
    return pages


def _cursor_at(tenant: Any, offset: int) -> str:
    """The Older link's cursor after `offset` jobs (what a person clicking Older a thousand times reaches)."""
    from print_jobs.models import PrintJob

    jobs = PrintJob.objects.filter(tenant=tenant).order_by("-received_at", "-id")
    job = jobs[min(offset, max(jobs.count() - 1, 0))]
    return f"{job.received_at.isoformat()}_{job.pk}"


def _session_cookie(user: Any) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def _measure(base: str, tenant: Any, admin: Any) -> tuple[float, int, dict[str, Any]]:
    import requests

    from accounts.models import User

    user = User.objects.filter(tenant=tenant, role="user").order_by("pk").first()
    cookies = {"admin": _session_cookie(admin), "user": _session_cookie(user)}
    local = threading.local()

    def fetch(url: str, cookie: str, planned: float) -> tuple[float, int, int]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        try:
            response = local.session.get(url, cookies={"sessionid": cookie}, allow_redirects=False, timeout=TIMEOUT)
        except requests.Timeout:  # counted at the time limit: the page fell that far behind
            return time.perf_counter() - planned, 0, -1
        return time.perf_counter() - planned, response.status_code, int(response.headers.get("X-Queries", -1))

    figures: dict[str, Any] = {}
    count = int(REQUESTS_PER_SECOND * SECONDS)
    print(f"{'page':<24} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}  status", flush=True)
    with ThreadPoolExecutor(max_workers=64) as pool:
        for name, path, who in _pages(tenant, admin):
            fetch(base + path, cookies[who], time.perf_counter())  # warm: templates, connections
            origin = time.perf_counter() + 0.05
            futures = []
            for n in range(count):
                planned = origin + n / REQUESTS_PER_SECOND
                delay = planned - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                futures.append(pool.submit(fetch, base + path, cookies[who], planned))
            answers = [f.result() for f in futures]
            latencies = [a[0] * 1000 for a in answers]
            statuses = sorted({a[1] for a in answers})
            queries = max(a[2] for a in answers)
            figures[name] = {"p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95), "queries": queries}
            print(
                f"{name:<24} {figures[name]['p50']:>8.1f} {figures[name]['p95']:>8.1f} {queries:>8}  {statuses}",
                flush=True,
            )
            if set(statuses) - {200, 0}:
                raise SystemExit(f"{name} ({path}) answered {statuses}")  # 0: timed out, still a figure
    floor = figures.pop("trivial view (floor)")
    worst = max(figures, key=lambda name: figures[name]["p95"])
    ratio = figures[worst]["p95"] / floor["p95"]
    print(f"worst p95: {worst}, {figures[worst]['p95']:.1f} ms against the trivial view's {floor['p95']:.1f} ms")
    return ratio, max(f["queries"] for f in figures.values()), figures


if __name__ == "__main__":
    main()
