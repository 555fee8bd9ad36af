from __future__ import annotations

from pathlib import Path

import pytest
from django.db import IntegrityError
from django.urls import reverse

from print_jobs.models import PrintJob
from print_jobs.services import NewPrintJob, print_job_create, print_jobs_create
from tests.factories import PrintJobFactory, UserFactory

pytestmark = pytest.mark.django_db


def make_job(owner, key, title="doc.pdf"):
    return PrintJobFactory(owner=owner, source="email", source_key=key, title=title)


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


def test_a_job_from_a_file_is_copied_in_and_shows_where_it_came_from(user_a, user_a_client, tmp_path):
    from print_jobs.services import queue_create

    queue = queue_create(tenant=user_a.tenant, name="Follow-Me", actor=None)
    source = tmp_path / "download.bin"
    source.write_bytes(b"%PDF-1.7 " + b"x" * 200_000)
    with source.open("rb") as file:
        job, created = print_job_create(
            owner=user_a,
            source="universal_print",
            source_key="dir:printer:1:doc",
            title="Quarterly.pdf",
            content=file,
            content_type="application/pdf",
            source_label="Secure Print (Follow-Me)",
            queue=queue,
        )

    assert created and job.size == source.stat().st_size and job.document.read() == source.read_bytes()
    page = user_a_client.get(reverse("print_jobs:list")).content.decode()
    assert "Secure Print (Follow-Me)" in page and "Queue: Follow-Me" in page


def test_queue_names_are_unique_per_tenant_in_any_case(tenant_a, tenant_b):
    from print_jobs.errors import QueueNameTaken
    from print_jobs.services import queue_create

    queue_create(tenant=tenant_a, name="Follow-Me", actor=None)
    queue_create(tenant=tenant_b, name="Follow-Me", actor=None)
    with pytest.raises(QueueNameTaken):
        queue_create(tenant=tenant_a, name="  follow-me ", actor=None)


def test_a_batch_stores_each_document_once_in_its_tenants_folder(admin_a, admin_b, settings):
    """print_jobs_create stores a batch's documents in one pass (the first of a tenant through the storage, the
    others straight into its folder): each readable as sent, with the storage's permissions, under a fresh name."""
    settings.FILE_UPLOAD_PERMISSIONS = 0o640
    jobs = [
        NewPrintJob(owner, f"batch:{n}", f"doc-{n}.pdf", f"content {n}".encode() * (n + 1), "application/pdf")
        for n, owner in enumerate([admin_a, admin_b, admin_a, admin_a, admin_b])
    ]
    created = print_jobs_create(source="email", jobs=jobs)

    stored = {job.source_key: PrintJob.objects.get(pk=job.pk) for job in created}
    assert len(stored) == 5 and len({job.document.name for job in stored.values()}) == 5
    for new in jobs:
        job = stored[new.source_key]
        assert job.document.name.startswith(f"jobs/{new.owner.tenant_id}/") and job.document.name.endswith(".pdf")
        assert job.document.read() == new.content and job.size == len(new.content)
        assert Path(job.document.path).stat().st_mode & 0o777 == 0o640
    assert print_jobs_create(source="email", jobs=jobs) == []  # every key has its job: nothing stored again
    assert len(list(Path(settings.MEDIA_ROOT).rglob("*.pdf"))) == 5


def test_a_batch_the_database_refuses_leaves_no_document_behind(admin_a, settings, monkeypatch):
    """The documents are stored before the INSERT (no job ever names a missing file): when the INSERT fails (a
    delivery of the same key won meanwhile), they are removed."""

    def collides(*args, **kwargs):
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(PrintJob.objects, "bulk_create", collides)
    jobs = [NewPrintJob(admin_a, f"batch:{n}", f"doc-{n}.pdf", b"%PDF", "application/pdf") for n in range(3)]
    with pytest.raises(IntegrityError):
        print_jobs_create(source="email", jobs=jobs)
    assert not PrintJob.objects.exists()
    assert [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()] == []
