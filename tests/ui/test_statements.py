"""`ui.statements.PageRead` gives what its queryset gives, for any values, from a statement built once."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.db.models import Exists, OuterRef
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from print_jobs.models import PrintJob
from tests.factories import UserFactory
from tests.print_jobs.test_pages import many_jobs
from ui.statements import PageRead

built = []


def recent(*, tenant, owner, since, before):
    built.append(since)
    others = PrintJob.objects.filter(tenant=tenant, pk__lt=OuterRef("pk"))
    return (
        PrintJob.objects.filter(tenant=tenant, received_at__gte=since, received_at__date__lt=before)
        .exclude(owner=owner)
        .filter(Exists(others))
        .order_by("pk")
    )


@pytest.mark.django_db
def test_rows_and_exists_are_those_of_the_queryset_for_any_values(tenant_a, tenant_b, admin_a, admin_b):
    read = PageRead(recent)
    user_a, user_b = UserFactory(tenant=tenant_a), UserFactory(tenant=tenant_b)
    for owner, count in ((admin_a, 12), (user_a, 7), (admin_b, 9), (user_b, 4)):
        many_jobs(owner, count)
    now = timezone.now()
    tomorrow = timezone.localdate(now) + timedelta(days=1)
    cases = [
        (tenant, owner, now - timedelta(minutes=minutes), before)
        for tenant, owner in ((tenant_a, admin_a), (tenant_a, user_a), (tenant_b, admin_b), (tenant_b, user_a))
        for minutes in (0, 1, 2, 100)
        for before in (tomorrow, date(2000, 1, 1))
    ]
    built.clear()
    for tenant, owner, since, before in cases:
        values = {"tenant": tenant, "owner": owner, "since": since, "before": before}
        expected = list(recent(**values))
        assert read.rows(**values) == expected, values
        assert read.exists(**values) is bool(expected), values
    assert any(read.rows(tenant=tenant_a, owner=user_a, since=now - timedelta(hours=1), before=tomorrow))
    assert len([since for since in built if since.year != 1111]) == len(cases)  # the expected ones only


@pytest.mark.django_db
def test_rows_come_with_their_prefetches_and_in_one_statement(tenant_a, admin_a):
    many_jobs(admin_a, 3)
    read = PageRead(recent)
    values = {"tenant": tenant_a, "owner": UserFactory(tenant=tenant_a), "since": timezone.now() - timedelta(days=1)}
    values["before"] = date(2999, 1, 1)
    read.rows(**values)
    with CaptureQueriesContext(connection) as queries:
        rows = read.rows(prefetch=("owner",), **values)
        assert [row.owner for row in rows] == [admin_a] * 2
    assert len(queries) == 2  # the rows, then their owners


@pytest.mark.django_db
def test_values_it_cannot_stand_in_for_build_the_queryset_every_call(tenant_a, admin_a):
    many_jobs(admin_a, 3)
    read = PageRead(lambda *, tenant, title: PrintJob.objects.filter(tenant=tenant, title=title))
    assert [job.title for job in read.rows(tenant=tenant_a, title="doc 1.pdf")] == ["doc 1.pdf"]
    assert read.exists(tenant=tenant_a, title="doc 2.pdf")
    assert not read.exists(tenant=tenant_a, title="doc 9.pdf")


@pytest.mark.django_db
def test_joined_rows_are_read_by_the_orm_every_call(tenant_a, admin_a):
    many_jobs(admin_a, 2)
    read = PageRead(lambda *, tenant: PrintJob.objects.filter(tenant=tenant).select_related("owner").order_by("pk"))
    for _ in range(2):
        rows = read.rows(tenant=tenant_a)
        assert [(row.pk, row.owner.email) for row in rows] == [
            (job.pk, admin_a.email) for job in PrintJob.objects.filter(tenant=tenant_a).order_by("pk")
        ]
