"""Every list and detail page makes the same number of queries whatever the number of rows (bench/pages.py measures
them under load on a tenant with a million jobs; this keeps N+1 queries out)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.services import audit_record
from tests.factories import ExternalSystemFactory, IntegrationFactory, UserFactory
from tests.print_jobs.test_pages import many_jobs

# What pages/bench.py measures, as (path, who); the detail pages take the newest object.
PAGES = [
    ("/", "admin"),
    ("/jobs/", "admin"),
    ("/jobs/", "user"),
    ("/administration/audit/", "admin"),
    ("/administration/integrations/", "admin"),
    ("/administration/integrations/microsoft/{integration}/", "admin"),
    ("/settings/external-systems/", "admin"),
    ("/settings/external-systems/{system}/", "admin"),
    ("/administration/universal-print/", "admin"),
    ("/settings/jobs/", "admin"),
    ("/settings/network/", "admin"),
    ("/my-settings/cloud-services/", "user"),
]
MOST_QUERIES = 12  # the most now: 10 (the dashboard, an integration's page)


def grow(tenant, admin, user, n):
    """`n` more of everything a page lists."""
    integrations = [IntegrationFactory(tenant=tenant, name=f"Directory {tenant.pk}-{n}-{i}") for i in range(n)]
    systems = [ExternalSystemFactory(tenant=tenant) for _ in range(n)]
    for i in range(n):
        UserFactory(tenant=tenant)
        audit_record(tenant=tenant, actor=admin, action="test.grown", target=systems[i], details={"i": i})
    many_jobs(admin, n * 30)
    many_jobs(user, n * 30)
    return integrations[-1], systems[-1]


def counts(clients, integration, system):
    result = {}
    for path, who in PAGES:
        url = path.format(integration=integration.pk, system=system.pk)
        clients[who].get(url)  # a first visit may create the page's settings row
        with CaptureQueriesContext(connection) as queries:
            response = clients[who].get(url)
        assert response.status_code == 200, (url, response.status_code)
        result[(path, who)] = len(queries)
    return result


@pytest.mark.django_db
def test_no_page_makes_more_queries_for_more_rows(tenant_a, admin_a, user_a, admin_a_client, user_a_client):
    clients = {"admin": admin_a_client, "user": user_a_client}
    small = counts(clients, *grow(tenant_a, admin_a, user_a, 2))

    large = counts(clients, *grow(tenant_a, admin_a, user_a, 8))

    assert large == small
    assert max(large.values()) <= MOST_QUERIES, large
