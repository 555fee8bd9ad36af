"""Jobs via Email at scale: messages with a PDF each in an Exchange Online mailbox (the emulator's Dovecot, XOAUTH2 over
TLS) turned into print jobs, over IMAP and over POP3, against a bare fetch of the same messages.

Run: bash scripts/bench.sh mail_ingest [MESSAGES ...]   (default 1000; several sizes show how the cost grows)
For each protocol and size: the messages are put in the mailbox; the floor fetches every one of them with bare
`imaplib` (one connection, `BODY.PEEK[]` each, so they stay unread) or `poplib` (one connection, RETR each, no
DELE), with the same token; then the same floor fetches them again and deletes them as the portal does (IMAP: flag
them deleted, CLOSE expunges; POP3: DELE each, QUIT commits), and the messages are put in again; then the
portal's polls (as the worker runs them, one after the other, each due at once) read, parse, create the jobs,
record each message and delete it, until every message is a job.
Figures: the wall times and the ratios to both floors, per protocol; RESULT lines for the largest size against the
issue's floor, the bare fetch. The ratio to the floor that deletes is printed beside it: the server's own time to
delete 1,000 messages (1.7-2.2 s on Dovecot over POP3) is a cost the portal cannot avoid, which the fetch leaves out.
BENCH_PROFILE=1 a cProfile of the portal's polls at the largest size, each protocol (every thread: the profiler is
the interpreter's; BENCH_PROFILE_SORT=cumulative for the callers' view, BENCH_PROFILE_LINES=80 for more lines).
"""

from __future__ import annotations

import base64
import cProfile
import imaplib
import os
import poplib
import pstats
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import SEED, django_start, result  # noqa: E402

DEFAULT_MESSAGES = int(os.environ.get("BENCH_MESSAGES", 1000))
PDF_BYTES = int(os.environ.get("BENCH_PDF_BYTES", 30_000))  # a one-page scan
SENDER = "pat@bench.example"
IMAP_SCOPE = "https://outlook.office.com/IMAP.AccessAsUser.All"
POP_SCOPE = "https://outlook.office.com/POP.AccessAsUser.All"
TARGET_RATIO = 2.0


def main() -> None:
    from m365_emulator.testing import portal_environment, start_emulator

    sizes = [int(n) for n in sys.argv[1:]] or [DEFAULT_MESSAGES]
    work = Path(tempfile.mkdtemp(prefix="bench-mail-ingest-"))
    with start_emulator(SEED, work / "emulator") as handle:
        extra = {**portal_environment(handle, SEED), "CUSTOM_MAIL_CA_BUNDLE": str(handle.ca_path)}
        django_start(work, "bench_mail_ingest", extra)
        tenant, admin, system = _tenant(handle)
        ratios: dict[str, float] = {}
        for protocol in ("imap", "pop3"):
            for size in sizes:
                fetch, floor, portal = run(handle, tenant, admin, system, protocol, size)
                print(
                    f"{protocol} {size} messages: floor {fetch:.2f} s fetching ({size / fetch:.0f}/s), {floor:.2f} s "
                    f"fetching and deleting; portal {portal:.2f} s ({size / portal:.0f}/s): {portal / fetch:.2f}x "
                    f"the fetch ({portal / floor:.2f}x the fetch that deletes)",
                    flush=True,
                )
                ratios[protocol] = portal / fetch
        result("mail_ingest_imap_ratio", ratios["imap"], "x", TARGET_RATIO)
        result("mail_ingest_pop3_ratio", ratios["pop3"], "x", TARGET_RATIO)


def _tenant(handle: Any) -> tuple[Any, Any, Any]:
    from accounts.models import User
    from accounts.services import tenant_create
    from tests.mail_jobs.conftest import connect_exchange_system

    tenant = tenant_create(name="bench", display_name="Bench", admin_email="admin@bench.example", admin_password="x")
    admin = tenant.users.get()
    User.objects.create_user(tenant=tenant, email=SENDER, password="x")
    return tenant, admin, connect_exchange_system(tenant=tenant, actor=admin, m365=handle)


def run(handle: Any, tenant: Any, admin: Any, system: Any, protocol: str, size: int) -> tuple[float, float, float]:
    from django.utils import timezone

    from external_systems.services import exchange_access_token
    from mail_jobs.models import MailJobSource
    from mail_jobs.services import mail_source_poll
    from print_jobs.models import PrintJob
    from tests.mail_jobs.conftest import MAILBOX, configure_source
    from tests.mail_jobs.helpers import PDF, mail_with_attachments

    source = configure_source(tenant, admin, protocol=protocol, kind="exchange", exchange_system=system)
    document = PDF + b"%" + b"x" * max(0, PDF_BYTES - len(PDF) - 2) + b"\n"
    messages = [
        mail_with_attachments(
            sender=SENDER,
            to=MAILBOX,
            subject=f"{protocol} doc {n}",
            attachments=[(f"{protocol}-{n}.pdf", "application/pdf", document)],
        )
        for n in range(size)
    ]
    for raw in messages:
        handle.control.put_mail(MAILBOX, raw)

    token = exchange_access_token(system=system, scopes=[IMAP_SCOPE if protocol == "imap" else POP_SCOPE])
    context = ssl.create_default_context(cafile=str(handle.ca_path))
    read = _imap_fetch if protocol == "imap" else _pop3_fetch
    begin = time.perf_counter()
    fetched = read(context, token, size)
    fetch = time.perf_counter() - begin
    assert fetched == size, (fetched, size)
    begin = time.perf_counter()
    fetched = read(context, token, size, delete=True)
    floor = time.perf_counter() - begin
    assert fetched == size and not handle.control.mail_messages(MAILBOX), fetched
    for raw in messages:
        handle.control.put_mail(MAILBOX, raw)

    before = PrintJob.objects.filter(tenant=tenant).count()
    profiler = _profiler(size)
    begin = time.perf_counter()
    processed = 0
    while processed < size:
        MailJobSource.objects.filter(pk=source.pk).update(next_attempt_at=timezone.now())  # due again at once
        outcome = mail_source_poll(source_id=source.pk)
        if outcome.processed == 0:
            raise SystemExit(f"the {protocol} poll stopped early: {outcome.status}")
        processed += outcome.processed
    portal = time.perf_counter() - begin
    if profiler is not None:
        profiler.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
        sort, lines = os.environ.get("BENCH_PROFILE_SORT", "tottime"), int(os.environ.get("BENCH_PROFILE_LINES", "45"))
        print(f"{protocol} {size} messages, portal {portal:.2f} s under the profiler; the worker's thread:")
        pstats.Stats(profiler).sort_stats(sort).print_stats(lines)
        print(f"{protocol}: the poll's other threads (reading, parsing, cleaning up):")
        pstats.Stats(*THREAD_PROFILES).sort_stats(sort).print_stats(lines)
        THREAD_PROFILES.clear()
    jobs = PrintJob.objects.filter(tenant=tenant).count() - before
    assert jobs == size, (jobs, size)
    return fetch, floor, portal


THREAD_PROFILES: list[cProfile.Profile] = []


def _profiler(size: int) -> cProfile.Profile | None:
    """The profiler of the portal's polls at the largest size, when BENCH_PROFILE asks for it (started), and one of
    each thread started meanwhile (THREAD_PROFILES): cProfile sees only the thread that enables it."""
    if not os.environ.get("BENCH_PROFILE") or size != max([int(n) for n in sys.argv[1:]] or [DEFAULT_MESSAGES]):
        return None

    def thread_started(*_args: Any) -> None:
        THREAD_PROFILES.append(cProfile.Profile())
        THREAD_PROFILES[-1].enable()  # replaces this hook in the new thread

    threading.setprofile(thread_started)
    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def _xoauth2(token: str) -> bytes:
    from tests.mail_jobs.conftest import MAILBOX

    return f"user={MAILBOX}\x01auth=Bearer {token}\x01\x01".encode()


def _imap_fetch(context: ssl.SSLContext, token: str, size: int, *, delete: bool = False) -> int:
    client = imaplib.IMAP4_SSL(
        os.environ["MICROSOFT_IMAP_HOST"], int(os.environ["MICROSOFT_IMAP_PORT"]), ssl_context=context
    )
    client.authenticate("XOAUTH2", lambda _: _xoauth2(token))
    client.select("INBOX")
    _, data = client.uid("SEARCH", None, "ALL")  # type: ignore[arg-type]
    uids = data[0].split()
    for uid in uids:
        _, parts = client.uid("FETCH", uid, "(BODY.PEEK[])")
        assert parts and parts[0] is not None
    if delete:  # as the portal deletes: flagged (it flags a batch at a time), expunged by the CLOSE
        client.uid("STORE", b",".join(uids).decode(), "+FLAGS.SILENT", r"(\Deleted)")
        client.close()
    client.logout()
    return len(uids)


def _pop3_fetch(context: ssl.SSLContext, token: str, size: int, *, delete: bool = False) -> int:
    client = poplib.POP3_SSL(os.environ["MICROSOFT_POP_HOST"], int(os.environ["MICROSOFT_POP_PORT"]), context=context)

    client._shortcmd("AUTH XOAUTH2")  # type: ignore[attr-defined]
    client._shortcmd(base64.b64encode(_xoauth2(token)).decode())  # type: ignore[attr-defined]
    count, _ = client.stat()
    for n in range(1, count + 1):
        client.retr(n)
    for n in range(1, count + 1) if delete else ():
        client.dele(n)
    client.quit()  # commits the deletions
    return int(count)


if __name__ == "__main__":
    main()
