"""Tenant isolation of Administration > Users: another tenant's admin reaches none of these users or imports."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from accounts.models import Alias
from tests.factories import UserFactory
from users_admin.choices import ImportStatus
from users_admin.models import UserImport, UserImportRow

pytestmark = pytest.mark.django_db


@pytest.fixture
def alpha_import(tenant_a, admin_a):
    user_import = UserImport(tenant=tenant_a, created_by=admin_a, file_name="a.csv", file_format="csv")
    user_import.file.save("a.csv", ContentFile(b"Email\nsecret@alpha.example\n"), save=False)
    user_import.status = ImportStatus.PREVIEW
    user_import.save()
    UserImportRow.objects.create(user_import=user_import, phase="preview", number=2, email="secret@alpha.example",
                                 action="create")  # fmt: skip
    return user_import


USER_PAGES = [
    ("get", "users_admin:user_edit"),
    ("post", "users_admin:user_edit"),
    ("post", "users_admin:user_deactivate"),
    ("post", "users_admin:user_reactivate"),
    ("post", "users_admin:user_password_reset"),
]
IMPORT_PAGES = [
    ("get", "users_admin:import_detail", ()),
    ("get", "users_admin:import_status", ()),
    ("post", "users_admin:import_apply", ()),
    ("get", "users_admin:import_result", ("preview",)),
    ("get", "users_admin:import_result", ("apply",)),
]


@pytest.mark.parametrize(("method", "name"), USER_PAGES)
def test_another_tenants_user_is_not_found(admin_b_client, user_a, method, name):
    before = (user_a.email, user_a.is_active, user_a.full_name)
    data = {"email": "x@bravo.example", "role": "user", "reason": "x"}
    response = getattr(admin_b_client, method)(reverse(name, args=[user_a.pk]), data)
    assert response.status_code == 404
    user_a.refresh_from_db()
    assert (user_a.email, user_a.is_active, user_a.full_name) == before


@pytest.mark.parametrize(("method", "name", "extra"), IMPORT_PAGES)
def test_another_tenants_import_is_not_found(admin_b_client, alpha_import, method, name, extra):
    response = getattr(admin_b_client, method)(reverse(name, args=[alpha_import.pk, *extra]))
    assert response.status_code == 404
    alpha_import.refresh_from_db()
    assert alpha_import.status == ImportStatus.PREVIEW


def test_the_list_search_and_export_show_the_own_tenant_only(admin_b_client, admin_b, user_a, alpha_import):
    Alias.objects.create(user=user_a, name="shared-prefix")
    UserFactory(tenant=admin_b.tenant, email="mine@bravo.example")
    listed = admin_b_client.get(reverse("users_admin:users"))
    assert {u.email for u in listed.context["page"]} == {"admin@bravo.example", "mine@bravo.example"}
    assert not list(listed.context["imports"])
    assert not list(admin_b_client.get(reverse("users_admin:users"), {"q": "shared"}).context["page"])
    assert not list(admin_b_client.get(reverse("users_admin:users"), {"q": "user@"}).context["page"])
    export = b"".join(admin_b_client.get(reverse("users_admin:users_export")).streaming_content).decode()
    assert "alpha.example" not in export and "mine@bravo.example" in export


def test_added_users_belong_to_the_admins_tenant(admin_b_client, admin_b, user_a):
    response = admin_b_client.post(
        reverse("users_admin:user_add"), {"email": user_a.email, "full_name": "", "role": "user", "aliases": ""}
    )
    assert response.status_code == 302  # the same email in another tenant is another account
    assert user_a.__class__.objects.get(tenant=admin_b.tenant, email=user_a.email)


def test_every_users_page_needs_a_tenant_admin(client, user_a_client, user_a, alpha_import):
    pages = [reverse("users_admin:users"), reverse("users_admin:user_add"), reverse("users_admin:users_export"),
             reverse("users_admin:import_upload"), reverse("users_admin:user_edit", args=[user_a.pk]),
             reverse("users_admin:import_detail", args=[alpha_import.pk])]  # fmt: skip
    for page in pages:
        assert client.get(page).status_code == 302, page  # to the sign-in
        assert user_a_client.get(page).status_code == 403, page
