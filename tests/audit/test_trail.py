"""The audit trail: what a record keeps, and the Administration > Audit log page."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import audit_record, audit_record_many
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_record_keeps_who_and_what_after_the_user_is_gone(admin_a: Any) -> None:
    user = UserFactory(tenant=admin_a.tenant, email="leaver@alpha.example")
    label = str(user)
    event = audit_record(tenant=admin_a.tenant, actor=user, action="thing.changed", target=user, details={"n": 1})
    user.delete()

    event.refresh_from_db()
    assert event.actor is None, "the user is gone"
    assert (event.actor_label, event.target_label) == ("leaver@alpha.example", label)
    assert event.target_type == "accounts.User"
    assert event.details == {"n": 1}


def test_a_record_is_of_its_targets_tenant_unless_told(admin_a: Any) -> None:
    user = UserFactory(tenant=admin_a.tenant)
    assert audit_record(actor=None, action="thing.changed", target=user).tenant == admin_a.tenant
    assert audit_record(tenant=None, actor=None, action="thing.changed", target=user).tenant is None
    with pytest.raises(TypeError):
        audit_record(actor=None, action="thing.swept")


def test_the_system_acts_as_system(admin_a: Any) -> None:
    event = audit_record(tenant=admin_a.tenant, actor=None, action="thing.swept")
    assert (event.actor_label, event.target_type, event.target_id) == ("system", "", "")


def test_many_targets_are_one_event_each(admin_a: Any) -> None:
    users = [UserFactory(tenant=admin_a.tenant) for _ in range(3)]
    written = audit_record_many(tenant=admin_a.tenant, actor=admin_a, action="user.touched", targets=users)
    assert written == 3
    assert sorted(AuditEvent.objects.filter(action="user.touched").values_list("target_id", flat=True)) == sorted(
        str(user.pk) for user in users
    )


def test_the_page_lists_the_newest_first_for_admins_only(admin_a: Any, admin_a_client: Any, client: Any) -> None:
    audit_record(tenant=admin_a.tenant, actor=admin_a, action="first.thing")
    audit_record(tenant=admin_a.tenant, actor=admin_a, action="second.thing")

    page = admin_a_client.get(reverse("audit_log")).content.decode()
    assert page.index("second.thing") < page.index("first.thing")

    user = UserFactory(tenant=admin_a.tenant)
    client.force_login(user)
    assert client.get(reverse("audit_log")).status_code == 403


@pytest.mark.parametrize(
    ("proxies", "headers", "client"),
    [
        (0, {"REMOTE_ADDR": "203.0.113.5"}, "203.0.113.5"),
        (1, {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "192.0.2.1, 198.51.100.23"}, "198.51.100.23"),
    ],
)
def test_a_service_called_by_a_page_records_the_client_address_without_being_given_it(  # type: ignore[no-untyped-def]
    admin_a_client, admin_a, settings, proxies, headers, client
) -> None:
    """The page passes neither the address nor the actor for the trail: the request context knows both."""
    settings.TRUSTED_PROXY_COUNT = proxies
    form = {"mode": "custom", "custom_host": "smtp.alpha.example", "custom_port": "587"}
    form |= {"custom_security": "starttls", "custom_username": "relay@alpha.example", "custom_password": "x"}
    form |= {"from_address": "print@alpha.example", "from_name": "Alpha Print"}

    response = admin_a_client.post(reverse("outgoing_mail:network"), form, **headers)

    assert response.status_code == 302
    event = AuditEvent.objects.get(action="outgoing_mail.settings_changed")
    assert (event.actor, event.ip_address) == (admin_a, client)
