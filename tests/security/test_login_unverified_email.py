"""nOAuth: Microsoft's `email` claim is the account's mail attribute, which an administrator of the person's
directory may set to anybody's address. Registering with Login with Microsoft takes the address only when Microsoft
says its domain is verified by that directory (`xms_edov`), never the unverified claim and never the user principal
name instead; otherwise nobody is registered, nothing is linked, and the person is told to ask for an account."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from audit.models import AuditEvent
from microsoft_login.models import LoginSettings
from tests.microsoft_login.conftest import ALEX, CONTOSO, login_feature, microsoft_sign_in, signed_in_as
from tests.security.conftest import page_text

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]

LOGIN_APP = "6e1c0a01-7d2b-4c3e-9f10-000000000a01"
MALLORY = ("mallory@contoso.onmicrosoft.com", "Mallory-1")


def spoofing_user(m365, address: str) -> str:
    """A user of the Roger tenant's own directory whose mail an administrator set to `address`, on a domain the
    directory does not own; returns the object id."""
    made = m365.control.add_user(CONTOSO, MALLORY[0], mail=address, password=MALLORY[1], displayName="Mallory", id=None)
    return str(made["id"])


def refused_details(tenant) -> list[dict]:
    return [
        event.details
        for event in AuditEvent.objects.filter(tenant=tenant, action="user.microsoft_sign_in_refused").order_by("pk")
    ]


def test_an_unverified_email_registers_nobody(m365, admin_a):
    feature = login_feature(admin_a)
    LoginSettings.objects.create(tenant=admin_a.tenant, allow_registration=True)
    mallory = spoofing_user(m365, "ceo@alpha.example")
    users_before = set(User.objects.values_list("pk", flat=True))
    browser = Client()

    final = microsoft_sign_in(m365, browser, feature, MALLORY)

    text = page_text(final)
    assert final.status_code == 403 and signed_in_as(browser) is None
    assert set(User.objects.values_list("pk", flat=True)) == users_before
    assert not User.objects.filter(email="ceo@alpha.example").exists()
    assert not User.objects.filter(directory_object_id=mallory).exists()
    assert "did not confirm" in text and "Ask your Roger administrator to add you" in text
    assert "AADSTS" not in text
    assert not AuditEvent.objects.filter(action__in=["user.registered", "user.signed_in"]).exists()
    [details] = refused_details(admin_a.tenant)
    assert details["reason"] == "unverified_email" and details["object_id"] == mallory


def test_the_address_of_an_existing_user_is_neither_taken_nor_confirmed(m365, admin_a):
    feature = login_feature(admin_a)
    LoginSettings.objects.create(tenant=admin_a.tenant, allow_registration=True)
    mallory = spoofing_user(m365, admin_a.email)  # the Roger tenant's own administrator's address
    browser = Client()

    final = microsoft_sign_in(m365, browser, feature, MALLORY)

    text = page_text(final)
    assert signed_in_as(browser) is None
    assert "already exists" not in text  # a forged address learns nothing about who has an account
    assert "did not confirm" in text
    admin_a.refresh_from_db()
    assert admin_a.directory_object_id == "" and not User.objects.filter(directory_object_id=mallory).exists()


def test_without_xms_edov_in_the_token_nobody_registers_not_even_by_the_principal_name(m365, admin_a):
    """An app registration whose manifest lacks the optional claim: the address cannot be checked, so it is not
    used, and the UPN (mutable, documented as not for authorization) is no substitute."""
    feature = login_feature(admin_a)
    LoginSettings.objects.create(tenant=admin_a.tenant, allow_registration=True)
    m365.control.set_id_token_optional_claims(LOGIN_APP, [])
    browser = Client()

    final = microsoft_sign_in(m365, browser, feature, ALEX)  # mail and UPN both on contoso.onmicrosoft.com

    assert signed_in_as(browser) is None and not User.objects.filter(email=ALEX[0]).exists()
    assert "Ask your Roger administrator to add you" in page_text(final)
    [details] = refused_details(admin_a.tenant)
    assert details["reason"] == "unverified_email"
