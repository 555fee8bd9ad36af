"""The Jobs page over many jobs: pages read from where the last one ended (ui.pagination), never counting."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

from django.utils import timezone

from print_jobs.models import PrintJob

JOB_ROW = re.compile(r'<tr id="job-(\d+)">')
OLDER = re.compile(r'href="\?before=([^"]+)">Older<')
NEWER = re.compile(r'href="\?after=([^"]+)">Newer<')


def many_jobs(owner, count):
    """`count` jobs, three to a minute: rows that share their time are ordered by id."""
    now = timezone.now()
    start = PrintJob.objects.filter(owner=owner).count()
    PrintJob.objects.bulk_create(
        PrintJob(
            tenant=owner.tenant,
            owner=owner,
            source="upload",
            source_key=f"many:{owner.pk}:{start + n}",
            title=f"doc {n}.pdf",
            document=f"print_jobs/many/{n}.pdf",
            size=10,
            content_type="application/pdf",
            received_at=now - timedelta(minutes=n // 3),
        )
        for n in range(count)
    )
    return list(PrintJob.objects.filter(owner=owner).order_by("-received_at", "-id").values_list("pk", flat=True))


def test_older_then_newer_walk_every_job_once_in_order(admin_a, admin_a_client):
    expected = many_jobs(admin_a, 130)

    seen, pages, query = [], [], ""
    while True:
        html = admin_a_client.get(f"/jobs/{query}").content.decode()
        rows = [int(pk) for pk in JOB_ROW.findall(html)]
        pages.append(rows)
        seen += rows
        older = OLDER.search(html)
        if older is None:
            break
        query = f"?before={unescape(older.group(1))}"

    assert seen == expected
    assert [len(rows) for rows in pages] == [50, 50, 30]
    assert "Newer" in html and "Older" not in html

    back = []
    while (newer := NEWER.search(html)) is not None:
        html = admin_a_client.get(f"/jobs/?after={unescape(newer.group(1))}").content.decode()
        back.append([int(pk) for pk in JOB_ROW.findall(html)])
    assert back == [pages[1], pages[0]]


def test_a_cursor_that_does_not_parse_shows_the_newest_jobs(admin_a, admin_a_client):
    expected = many_jobs(admin_a, 60)

    html = admin_a_client.get("/jobs/?before=yesterday_x").content.decode()

    assert [int(pk) for pk in JOB_ROW.findall(html)] == expected[:50]


def test_a_user_pages_through_their_own_jobs_only(admin_a, user_a, user_a_client):
    many_jobs(admin_a, 70)
    own = many_jobs(user_a, 55)

    html = user_a_client.get("/jobs/").content.decode()
    older = OLDER.search(html)
    assert older is not None
    rest = user_a_client.get(f"/jobs/?before={unescape(older.group(1))}").content.decode()

    assert [int(pk) for pk in JOB_ROW.findall(html) + JOB_ROW.findall(rest)] == own
