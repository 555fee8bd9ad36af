"""Tenant isolation for the foundation's pages: another tenant gets 404, a plain user 403 on admin pages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import PrintJobFactory

pytestmark = pytest.mark.django_db

ADMIN_PAGES = [
    "audit_log",
    "integrations:list",
    "external_systems:list",
    "outgoing_mail:network",
    "mail_jobs:settings",
]


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_plain_user_gets_403_on_admin_pages(user_a_client, name):
    assert user_a_client.get(reverse(name)).status_code == 403


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_admin_opens_admin_pages(admin_a_client, name):
    assert admin_a_client.get(reverse(name)).status_code == 200


@pytest.mark.parametrize("name", [*ADMIN_PAGES, "dashboard", "print_jobs:list"])
def test_anonymous_is_sent_to_sign_in(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and reverse("accounts:login") in response.url


def test_other_tenant_gets_404_on_a_print_job(admin_a, admin_b_client):
    job = PrintJobFactory(owner=admin_a)
    assert admin_b_client.get(reverse("print_jobs:document", args=[job.pk])).status_code == 404


def test_audit_log_shows_only_own_tenant(admin_a_client, admin_a, admin_b):
    from audit.services import audit_record

    audit_record(tenant=admin_a.tenant, actor=admin_a, action="alpha.thing")
    audit_record(tenant=admin_b.tenant, actor=admin_b, action="bravo.thing")
    page = admin_a_client.get(reverse("audit_log")).content.decode()
    assert "alpha.thing" in page and "bravo.thing" not in page


def test_operator_without_tenant_cannot_open_tenant_pages(client, db):
    from accounts.models import User

    operator = User.objects.create_superuser("operator", "op@example.com", "pw")
    client.force_login(operator)
    assert client.get(reverse("dashboard")).status_code == 403
    assert client.get("/operator/").status_code == 200
