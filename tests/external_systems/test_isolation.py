"""Every external systems URL: another tenant's admin gets 404 on tenant A's objects, a plain user gets 403."""

from __future__ import annotations

import pytest
from django.urls import reverse

from external_systems.choices import ConnectionStatus
from external_systems.models import DeviceCodeConnection, ExternalSystem
from tests.external_systems.conftest import start

pytestmark = pytest.mark.django_db

SYSTEM_URLS = [("detail", "get"), ("detail", "post"), ("reconnect", "post"), ("delete", "get"), ("delete", "post")]
CONNECTION_URLS = [
    ("connection", "get"),
    ("connection_cancel", "post"),
    ("connection_restart", "post"),
    ("connection_email", "post"),
    ("connection_switch", "post"),
]


@pytest.fixture
def connection_a(system_a, admin_a) -> DeviceCodeConnection:
    return start(system_a, admin_a)


def _urls(system: ExternalSystem, connection: DeviceCodeConnection) -> list[tuple[str, str]]:
    return [(reverse(f"external_systems:{name}", args=[system.pk]), method) for name, method in SYSTEM_URLS] + [
        (reverse(f"external_systems:{name}", args=[connection.pk]), method) for name, method in CONNECTION_URLS
    ]


def test_another_tenants_admin_gets_404_on_every_object_url(admin_b_client, system_a, connection_a):
    for url, method in _urls(system_a, connection_a):
        response = getattr(admin_b_client, method)(url, {"recipient": "x@example.com", "decision": "switch"})
        assert response.status_code == 404, (method, url)
    connection_a.refresh_from_db()
    assert connection_a.status == ConnectionStatus.STARTING
    assert ExternalSystem.objects.filter(pk=system_a.pk).exists()


def test_another_tenants_admin_cannot_open_a_pop_up_through_the_list(admin_b_client, connection_a):
    response = admin_b_client.get(reverse("external_systems:list"), {"connection": connection_a.pk})
    assert response.status_code == 404


def test_another_tenants_list_does_not_show_the_system(admin_b_client, system_a):
    assert system_a.title not in admin_b_client.get(reverse("external_systems:list")).content.decode()


def test_a_plain_user_gets_403_everywhere(user_a_client, system_a, connection_a):
    urls = [
        (reverse("external_systems:list"), "get"),
        (reverse("external_systems:add", args=["exchange_online"]), "get"),
        (reverse("external_systems:add", args=["exchange_online"]), "post"),
        *_urls(system_a, connection_a),
    ]
    for url, method in urls:
        assert getattr(user_a_client, method)(url).status_code == 403, (method, url)


def test_the_operator_in_django_admin_sees_systems_without_secrets(client, system_a, connection_a):
    from accounts.models import User

    operator = User.objects.create_superuser("operator", "op@example.com", "pw")
    client.force_login(operator)
    DeviceCodeConnection.objects.filter(pk=connection_a.pk).update(flow='{"device_code": "SECRET-DEVICE-CODE"}')

    listing = client.get(reverse("admin:external_systems_externalsystem_changelist"))
    detail = client.get(reverse("admin:external_systems_devicecodeconnection_change", args=[connection_a.pk]))

    assert listing.status_code == 200 and system_a.title in listing.content.decode()
    assert detail.status_code == 200 and "SECRET-DEVICE-CODE" not in detail.content.decode()
