from __future__ import annotations

import pytest
from django.urls import reverse

from print_jobs.services import print_job_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def make_job(owner, key, title="doc.pdf"):
    return print_job_create(
        owner=owner,
        source="email",
        source_key=key,
        title=title,
        content=b"%PDF-1.4 test",
        content_type="application/pdf",
    )[0]


def test_a_redelivered_item_makes_no_second_job(admin_a):
    first, created = print_job_create(
        owner=admin_a,
        source="email",
        source_key="1:7:42:0",
        title="a.pdf",
        content=b"x",
        content_type="application/pdf",
    )
    again, created_again = print_job_create(
        owner=admin_a,
        source="email",
        source_key="1:7:42:0",
        title="a.pdf",
        content=b"x",
        content_type="application/pdf",
    )
    assert created and not created_again and first.pk == again.pk


def test_user_sees_own_jobs_admin_sees_tenants(admin_a, user_a, admin_a_client, user_a_client, admin_b):
    make_job(admin_a, "a", "admin-doc.pdf")
    make_job(user_a, "b", "user-doc.pdf")
    make_job(admin_b, "c", "other-tenant.pdf")
    user_page = user_a_client.get(reverse("print_jobs:list")).content.decode()
    admin_page = admin_a_client.get(reverse("print_jobs:list")).content.decode()
    assert "user-doc.pdf" in user_page and "admin-doc.pdf" not in user_page
    assert "user-doc.pdf" in admin_page and "admin-doc.pdf" in admin_page and "other-tenant.pdf" not in admin_page


def test_user_cannot_download_a_colleagues_job(admin_a, user_a_client):
    job = make_job(admin_a, "z")
    assert user_a_client.get(reverse("print_jobs:document", args=[job.pk])).status_code == 404


def test_owner_downloads_the_document(user_a, user_a_client):
    job = make_job(user_a, "y")
    response = user_a_client.get(reverse("print_jobs:document", args=[job.pk]))
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"%PDF-1.4 test"


def test_tenant_user_factory_builds_username(tenant_a):
    user = UserFactory(tenant=tenant_a, email="Mixed@Example.com")
    assert user.username == "alpha/mixed@example.com"
