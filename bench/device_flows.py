"""Device code connections: many pending Exchange Online codes polled by two Celery workers against the emulator.

Run: bash scripts/bench.sh device_flows [CODES ...]   (default 1000; several sizes show how the cost grows)
Each External System's connection is started as the Start button does; two worker processes (`celery worker`,
one process each) take the steps. The emulator asks for Microsoft's 5 s interval; the benchmark approves each code
at a random moment within APPROVE_WINDOW seconds and reads every token request the emulator received (its own
clock), so the figures are what Microsoft would see:
- early polls: a poll of a code that came sooner after the previous one than the interval then in force (5 s, and
  5 s more after each slow_down, as RFC 8628 asks); the emulator answers those with slow_down;
- lag: from the approval to the poll that redeemed the code, less the interval in force (a poll can come at most
  one interval after an approval, so anything beyond it is the workers' delay); target 1 s at the 99th percentile;
- missed: approved codes whose connection did not end connected;
- worker CPU per pending code: the two workers' CPU over the run, per code and per poll.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import SEED, celery_workers, django_start, group_cpu_seconds, percentile, result, wait_for  # noqa: E402

DEFAULT_CODES = int(os.environ.get("BENCH_CODES", 1000))
WORKERS = 2
APPROVE_WINDOW = float(os.environ.get("BENCH_APPROVE_WINDOW", 60))
EXCHANGE_APP = "d3e4f5a6-1111-4b2c-8d3e-00000000e0e1"  # public client, Microsoft's 5 s polling interval
CONTOSO = "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
MAILBOX = "printing@contoso.onmicrosoft.com"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
TARGET_EARLY, TARGET_LAG_SECONDS, TARGET_MISSED = 0, 1.0, 0


def main() -> None:
    from m365_emulator.testing import portal_environment, start_emulator

    sizes = [int(n) for n in sys.argv[1:]] or [DEFAULT_CODES]
    work = Path(tempfile.mkdtemp(prefix="bench-device-flows-"))
    with start_emulator(SEED, work / "emulator") as handle:
        env = django_start(work, "bench_device_flows", portal_environment(handle, SEED))
        figures = []
        with celery_workers(WORKERS, env, work) as workers:
            for codes in sizes:
                figures.append(run(handle, workers, codes))
        for codes, early, lag, missed, cpu_ms in figures:
            print(f"{codes} codes: {early} early polls, p99 lag {lag:.2f} s, {missed} missed, {cpu_ms:.1f} ms CPU/code")
        _, early, lag, missed, _ = figures[-1]
        result("device_flows_early_polls", early, "count", TARGET_EARLY)
        result("device_flows_p99_lag_seconds", lag, "s", TARGET_LAG_SECONDS)
        result("device_flows_missed", missed, "count", TARGET_MISSED)


def run(handle: object, workers: list[int], codes: int) -> tuple[int, int, float, int, float]:
    from accounts.models import Tenant, User
    from external_systems.choices import ConnectionStatus
    from external_systems.models import DeviceCodeConnection, ExternalSystem
    from external_systems.services import connection_start
    from external_systems.types.exchange_online import EXCHANGE_ONLINE_KEY

    control = handle.control  # type: ignore[attr-defined]
    control.clear_requests()
    tenant = Tenant.objects.create(name=f"flows-{codes}-{time.time_ns()}", display_name="Bench")
    admin = User.objects.create_user(tenant=tenant, email=f"admin{codes}@bench.example", password="x", role="admin")
    systems = ExternalSystem.objects.bulk_create(
        ExternalSystem(
            tenant=tenant,
            system_type=EXCHANGE_ONLINE_KEY,
            title=f"Mailbox {n}",
            client_id=EXCHANGE_APP,
            directory_input=CONTOSO,
            directory_id=CONTOSO,
        )
        for n in range(codes)
    )
    cpu_before = sum(group_cpu_seconds(pgid) for pgid in workers)
    begin = time.time()
    for system in systems:
        connection_start(system=system, actor=admin)
    connections = DeviceCodeConnection.objects.filter(tenant=tenant)
    wait_for(
        lambda: connections.filter(status=ConnectionStatus.PENDING).count() == codes,
        timeout=120 + codes / 10,
        what=f"{codes} device codes from the emulator",
    )
    started_seconds = time.time() - begin
    device_codes = {json.loads(c.flow)["device_code"]: c.user_code for c in connections}

    records: list[dict] = []
    stop = threading.Event()

    def collect() -> None:  # the emulator keeps its last 5000 requests: take them as they come
        while not stop.is_set():
            records.extend(r for r in control.requests_received("token", take=True) if _is_poll(r))
            stop.wait(2)

    collector = threading.Thread(target=collect, daemon=True)
    collector.start()

    rng = random.Random(codes)
    schedule = sorted((rng.uniform(0, APPROVE_WINDOW), user_code) for user_code in device_codes.values())
    approved_at: dict[str, float] = {}
    origin = time.monotonic()
    for moment, user_code in schedule:
        delay = moment - (time.monotonic() - origin)
        if delay > 0:
            stop.wait(delay)
        approved_at[user_code] = time.time()  # taken before the call: the lag is never understated
        control.approve_device_code(user_code, MAILBOX)
    wait_for(
        lambda: connections.filter(status=ConnectionStatus.PENDING).count() == 0,
        timeout=120 + codes / 5,
        what="every approved code to be redeemed",
    )
    cpu_seconds = sum(group_cpu_seconds(pgid) for pgid in workers) - cpu_before
    stop.set()
    collector.join()
    records.extend(r for r in control.requests_received("token", take=True) if _is_poll(r))
    missed = connections.exclude(status=ConnectionStatus.CONNECTED).count()

    early, lags, polls = _analyse(records, device_codes, approved_at)
    print(
        f"{codes} pending codes: all issued in {started_seconds:.1f} s; {polls} polls; approvals spread over "
        f"{APPROVE_WINDOW:.0f} s; {early} early polls; lag beyond the interval p50 {percentile(lags, 0.5):.2f} s, "
        f"p99 {percentile(lags, 0.99):.2f} s, max {max(lags, default=0):.2f} s; {missed} not connected"
    )
    print(
        f"  worker CPU {cpu_seconds:.1f} s over {WORKERS} workers: {cpu_seconds * 1000 / codes:.1f} ms per pending "
        f"code (its start, polls and connection), {cpu_seconds * 1000 / max(polls, 1):.1f} ms per poll"
    )
    return codes, early, percentile(lags, 0.99), missed, cpu_seconds * 1000 / codes


def _is_poll(record: dict) -> bool:
    return record["form"].get("grant_type") == DEVICE_GRANT


def _analyse(
    records: list[dict], device_codes: dict[str, str], approved_at: dict[str, float]
) -> tuple[int, list[float], int]:
    by_code: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_code[record["form"].get("device_code", "")].append(record)
    early = 0
    lags = []
    for device_code, user_code in device_codes.items():
        polls = sorted(by_code.get(device_code, []), key=lambda r: r["at"])
        interval = 5.0
        previous = None
        for poll in polls:
            if previous is not None:
                gap = poll["at"] - previous
                if gap < interval:
                    early += 1
                if gap < 5.0 - 0.2:  # what the emulator answered with slow_down: MSAL adds 5 s from then on
                    interval += 5.0
            previous = poll["at"]
        redeemed = [p for p in polls if p["status"] == 200]
        if redeemed and user_code in approved_at:
            lags.append(max(0.0, redeemed[0]["at"] - approved_at[user_code] - interval))
    return early, lags, len(records)


if __name__ == "__main__":
    main()
