"""The sign-in's two steps, the button only where Login is enabled, sign-out with and without Microsoft, the settings
page, and tenant isolation: an identity linked in one Roger tenant signs in nowhere else."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from integrations.services.features import feature_disable
from microsoft_login.models import LoginSettings
from tests.factories import AdminFactory
from tests.microsoft_login.conftest import (
    ADELE,
    ADELE_ID,
    CONTOSO,
    FABRIKAM,
    linked,
    login_feature,
    microsoft_sign_in,
    microsoft_start,
    signed_in_as,
)
from tests.security.conftest import page_text

pytestmark = pytest.mark.django_db


def test_the_tenancy_name_comes_first_then_the_tenants_page(client, admin_a):
    first = client.get(reverse("accounts:login"))
    assert "Tenancy name" in page_text(first) and "Password" not in page_text(first)
    response = client.post(reverse("accounts:login") + "?next=/jobs/", {"tenancy_name": "Alpha"})
    assert response.status_code == 302 and response.url == reverse("accounts:login_tenancy", args=["alpha"]) + (
        "?next=%2Fjobs%2F"
    )
    page = page_text(client.get(response.url))
    assert "Sign in to alpha" in page and "Password" in page and "Sign in with Microsoft" not in page
    signed = client.post(response.url, {"email": admin_a.email, "password": "wrong"})
    assert "The tenancy name, email or password is not right" in page_text(signed)


def test_the_microsoft_button_shows_only_while_a_login_feature_is_enabled(client, admin_a, tenant_b):
    feature = login_feature(admin_a)
    assert "Sign in with Microsoft" in page_text(client.get(reverse("accounts:login_tenancy", args=["alpha"])))
    assert "Sign in with Microsoft" not in page_text(client.get(reverse("accounts:login_tenancy", args=["bravo"])))
    feature_disable(feature=feature)
    assert "Sign in with Microsoft" not in page_text(client.get(reverse("accounts:login_tenancy", args=["alpha"])))
    refused = microsoft_start(client, "alpha", feature)
    assert refused.status_code == 302 and refused.url == reverse("accounts:login_tenancy", args=["alpha"])


@pytest.mark.emulator
def test_the_email_typed_is_microsofts_login_hint(m365, client, admin_a):
    feature = login_feature(admin_a)
    start = microsoft_start(client, "alpha", feature, email=ADELE[0])
    assert parse_qs(urlsplit(start["Location"]).query)["login_hint"] == [ADELE[0]]


@pytest.mark.emulator
def test_sign_out_offers_microsofts_sign_out_only_after_a_microsoft_sign_in(m365, client, admin_a, admin_a_client):
    feature = login_feature(admin_a)
    plain = admin_a_client.post(reverse("accounts:logout"))
    assert plain.status_code == 302 and plain.url == reverse("accounts:login")

    linked(admin_a.tenant, ADELE[0], ADELE_ID)
    microsoft_sign_in(m365, client, feature, ADELE)
    page = client.post(reverse("accounts:logout"))
    assert signed_in_as(client) is None
    text = page_text(page)
    assert "You are signed out of Roger" in text and "Sign out of Microsoft too" in text
    url = next(line for line in text.split('"') if "/oauth2/v2.0/logout?" in line)
    query = parse_qs(urlsplit(url.replace("&amp;", "&")).query)
    assert query["post_logout_redirect_uri"] == ["http://127.0.0.1:8000" + reverse("accounts:login")]


@pytest.mark.emulator
def test_an_identity_linked_in_one_roger_tenant_signs_in_nowhere_else(m365, client, admin_a, tenant_b):
    admin_b = AdminFactory(tenant=tenant_b, email="admin@bravo.example")
    login_feature(admin_a)
    feature_b = login_feature(admin_b)
    linked(admin_a.tenant, ADELE[0], ADELE_ID)
    final = microsoft_sign_in(m365, client, feature_b, ADELE, tenancy="bravo")
    assert signed_in_as(client) is None and "Roger has no user" in page_text(final)
    assert AuditEvent.objects.filter(tenant=tenant_b, action="user.microsoft_sign_in_refused").count() == 1
    assert not AuditEvent.objects.filter(tenant=admin_a.tenant, action="user.microsoft_sign_in_refused").exists()


def test_a_tenancy_cannot_start_with_another_tenants_login_feature(client, admin_a, tenant_b):
    feature = login_feature(admin_a)
    response = microsoft_start(client, "bravo", feature)
    assert response.status_code == 302 and response.url == reverse("accounts:login_tenancy", args=["bravo"])


def test_settings_are_tenant_admins_own(admin_a_client, user_a_client, admin_a, admin_b_client, tenant_b):
    assert user_a_client.get(reverse("microsoft_login:settings")).status_code == 403
    response = admin_a_client.post(
        reverse("microsoft_login:settings"),
        {"allow_registration": "on", "registration_directory_ids": f"{FABRIKAM}\nnot-a-guid"},
    )
    assert "is not a Directory (Tenant) ID" in page_text(response)
    admin_a_client.post(
        reverse("microsoft_login:settings"),
        {"allow_registration": "on", "registration_directory_ids": f"{FABRIKAM.upper()}\n{CONTOSO}"},
    )
    settings = LoginSettings.objects.get(tenant=admin_a.tenant)
    assert settings.allow_registration and settings.registration_directory_ids == sorted([FABRIKAM, CONTOSO])
    assert not settings.allow_personal_accounts
    assert FABRIKAM not in page_text(admin_b_client.get(reverse("microsoft_login:settings")))
    assert not LoginSettings.objects.filter(tenant=tenant_b).exists()


def test_my_settings_links_only_through_the_users_own_tenants_feature(user_a_client, admin_b, admin_a):
    other = login_feature(admin_b)
    assert user_a_client.post(reverse("microsoft_login:link", args=[other.pk])).status_code == 404
    assert "nothing to link" in page_text(user_a_client.get(reverse("microsoft_login:account")))
