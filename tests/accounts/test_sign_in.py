from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from audit.models import AuditEvent
from tests.conftest import throttle_windows_age
from throttling.models import ThrottleWindow

pytestmark = pytest.mark.django_db


def sign_in(client, *, tenancy="alpha", email="admin@alpha.example", password="x", address="10.0.0.1"):
    return client.post(
        reverse("accounts:login"), {"tenancy_name": tenancy, "email": email, "password": password}, REMOTE_ADDR=address
    )


def test_sign_in_with_tenancy_email_and_password_reaches_the_dashboard(client, admin_a, password):
    response = sign_in(client, password=password)
    assert response.status_code == 302 and response.url == reverse("dashboard")
    assert "Welcome" in client.get(reverse("dashboard")).content.decode()
    assert AuditEvent.objects.filter(tenant=admin_a.tenant, action="user.signed_in").exists()


def test_same_email_in_another_tenancy_is_another_account(client, admin_a, tenant_b, password):
    response = sign_in(client, tenancy="bravo", password=password)
    assert response.status_code == 200
    assert "The tenancy name, email or password is not right" in response.content.decode()


def test_wrong_password_is_explained_and_recorded(client, admin_a):
    response = sign_in(client, password="wrong")
    assert "The tenancy name, email or password is not right" in response.content.decode()
    assert [len(window.hits) for window in ThrottleWindow.objects.filter(key__startswith="sign_in:")] == [1, 1]


def test_five_failures_lock_the_email_for_fifteen_minutes_then_lift(client, admin_a, password):
    for _ in range(5):
        sign_in(client, password="wrong")
    response = sign_in(client, password=password)
    assert "Too many failed sign-ins" in response.content.decode()
    throttle_windows_age(16 * 60)
    assert sign_in(client, password=password).status_code == 302


def test_lockout_is_per_tenant_and_email(client, admin_a, user_a, password):
    for _ in range(5):
        sign_in(client, password="wrong")
    assert sign_in(client, email="user@alpha.example", password=password).status_code == 302


def test_one_address_cannot_lock_out_everybody(client, admin_a, password, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 8
    for n in range(8):
        sign_in(client, email=f"guess{n}@alpha.example", password="wrong", address="203.0.113.9")
    blocked = sign_in(client, password=password, address="203.0.113.9")
    assert "Too many failed sign-ins" in blocked.content.decode()
    assert sign_in(client, password=password, address="198.51.100.7").status_code == 302


def test_password_reset_mails_a_link_that_sets_a_new_password(client, admin_a, admin_b):
    response = client.post(
        reverse("accounts:password_reset"), {"tenancy_name": "alpha", "email": "admin@alpha.example"}
    )
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and "alpha" in mail.outbox[0].body
    link = next(line for line in mail.outbox[0].body.splitlines() if "/accounts/reset/" in line)
    path = link.split("://", 1)[1].split("/", 1)[1]
    form_page = client.get("/" + path, follow=True)
    new_password = "a brand new passphrase 42"
    done = client.post(form_page.redirect_chain[-1][0], {"new_password1": new_password, "new_password2": new_password})
    assert done.status_code == 302
    assert sign_in(client, password=new_password).status_code == 302


def test_password_reset_for_unknown_account_says_the_same_and_sends_nothing(client, admin_a):
    response = client.post(
        reverse("accounts:password_reset"), {"tenancy_name": "bravo", "email": "admin@alpha.example"}
    )
    assert response.status_code == 302 and mail.outbox == []


def test_sign_out_is_a_post(admin_a_client):
    assert admin_a_client.get(reverse("accounts:logout")).status_code == 405
    assert admin_a_client.post(reverse("accounts:logout")).status_code == 302
