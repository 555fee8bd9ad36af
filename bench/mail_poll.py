"""Jobs via Email benchmark: messages turned into print jobs per second in one poll over IMAP (XOAUTH2, TLS).

Run: .venv/bin/python bench/mail_poll.py   (starts its own emulator with Dovecot and a throwaway SQLite database)
Each message carries one PDF; a poll reads, parses, creates the job, commits, then deletes the message.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import SEED, django_start_sqlite  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_MESSAGES", 100))
TARGET_PER_SECOND = 5  # a busy office mails a few documents a minute; 5/s keeps a backlog of hundreds short


def main() -> None:
    from m365_emulator.testing import portal_environment, start_emulator

    work = Path(tempfile.mkdtemp(prefix="bench-mail-poll-"))
    with start_emulator(SEED, work / "emulator") as handle:
        os.environ.update(portal_environment(handle, SEED))
        django_start_sqlite(work, {"CUSTOM_MAIL_CA_BUNDLE": str(handle.ca_path)})
        run(handle)


def run(handle: object) -> None:
    from accounts.models import User
    from accounts.services import tenant_create
    from mail_jobs.services import mail_source_poll
    from print_jobs.models import PrintJob
    from tests.mail_jobs.conftest import MAILBOX, configure_source, connect_exchange_system
    from tests.mail_jobs.helpers import PDF, mail_with_attachments

    tenant = tenant_create(name="bench", display_name="Bench", admin_email="admin@bench.example", admin_password="x")
    admin = tenant.users.get()
    sender_email = "pat@bench.example"
    User.objects.create_user(tenant=tenant, email=sender_email, password="x")
    system = connect_exchange_system(tenant=tenant, actor=admin, m365=handle)
    source = configure_source(tenant, admin, protocol="imap", kind="exchange", exchange_system=system)
    for n in range(MESSAGES):
        raw = mail_with_attachments(
            sender=sender_email, to=MAILBOX, subject=f"Doc {n}", attachments=[(f"doc-{n}.pdf", "application/pdf", PDF)]
        )
        handle.control.put_mail(MAILBOX, raw)  # type: ignore[attr-defined]

    begin = time.perf_counter()
    processed = 0
    while processed < MESSAGES:
        result = mail_source_poll(source_id=source.pk)
        if result.processed == 0:
            raise SystemExit(f"the poll stopped early: {result.status}")
        processed += result.processed
    elapsed = time.perf_counter() - begin
    jobs = PrintJob.objects.filter(tenant=tenant).count()
    assert jobs == MESSAGES, jobs
    rate = MESSAGES / elapsed
    print(f"{MESSAGES} mails with one PDF each became {jobs} print jobs in {elapsed:.2f} s over IMAP with XOAUTH2")
    print(f"RESULT mail_poll_throughput {rate:.1f} messages/s target {TARGET_PER_SECOND}")


if __name__ == "__main__":
    main()
