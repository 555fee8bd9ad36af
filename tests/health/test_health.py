"""One health vocabulary: its rules, its one partial, and the dashboard's "Needs attention" that collects it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from credentials.models import MicrosoftCredential
from credentials.selectors import credential_health
from external_systems.choices import SystemStatus
from external_systems.models import ExternalSystem
from health import Health, HealthState
from health.attention import attention_for
from tests.factories import ExternalSystemFactory
from ui.choices import Colour, Severity

NOW = timezone.now()


def test_colours_say_what_to_expect():
    assert Health.ok("Connected").colour == Colour.OK
    assert Health.working("Refreshing").colour == Colour.INFO
    assert Health.retrying(cause="Busy", since=NOW, next_try=None).colour == Colour.WARN
    assert Health.needs_action("Needs reconnect", reason="Revoked").colour == Colour.ERROR
    assert Health.needs_action("Secret expires", reason="Soon", deadline=NOW.date() + timedelta(days=3)).colour == (
        Colour.WARN
    ), "it still works until its deadline"
    assert Health.needs_action("Secret expired", reason="Gone", deadline=NOW.date() - timedelta(days=1)).colour == (
        Colour.ERROR
    )
    assert Health.off("Not connected").colour == Colour.NEUTRAL


def test_what_needs_attention():
    assert Health.needs_action("Needs consent", reason="Removed").needs_attention()
    assert not Health.retrying(cause="Busy", since=NOW - timedelta(hours=2), next_try=None).needs_attention()
    assert Health.retrying(cause="Busy", since=NOW - timedelta(days=1, minutes=1), next_try=None).needs_attention()
    assert not Health.working("Waiting for sign-in").needs_attention()
    assert not Health.off("Not connected").needs_attention()
    assert Health.needs_action("Decide", reason="Another mailbox", still_works=True).level == Severity.WARNING


def test_the_partial_shows_the_cause_the_next_try_and_the_fix_with_its_link():
    now = timezone.now()
    retrying = Health.retrying(
        cause="Microsoft is limiting how fast this service may call it.",
        since=now - timedelta(days=2),
        next_try=now + timedelta(minutes=10, seconds=30),
    )
    html = render_to_string("partials/health.html", {"health": retrying})
    assert "badge-warn" in html and "limiting how fast" in html
    assert "Retrying by itself since" in html and "next try in 10\xa0minutes" in html

    broken = Health.needs_action("Needs reconnect", reason="Revoked.", fix_url="/fix/", fix_label="Reconnect")
    assert 'href="/fix/">Reconnect</a>' in render_to_string("partials/health.html", {"health": broken})
    assert "/fix/" not in render_to_string("partials/health.html", {"health": broken, "hide_link": True})


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("state", "expected", "fix_label"),
    [
        ("active", HealthState.OK, ""),
        ("refreshing", HealthState.WORKING, ""),
        ("retrying", HealthState.RETRYING, ""),
        ("needs_consent", HealthState.NEEDS_ACTION, "Grant consent"),
        ("needs_reconnect", HealthState.NEEDS_ACTION, "Reconnect"),
    ],
)
def test_a_credential_presents_its_state_as_health(tenant_a: Any, state: str, expected: str, fix_label: str):
    credential = MicrosoftCredential.objects.create(
        tenant=tenant_a,
        owner_type="external_system",
        owner_id=7,
        kind="delegated_public",
        directory_id="d",
        client_id="c",
        state=state,
        state_reason="Because.",
        retrying_since=NOW,
        next_attempt_at=NOW + timedelta(minutes=1),
    )

    health = credential_health(credential)

    assert health.state == expected and health.fix_label == fix_label
    if expected == HealthState.NEEDS_ACTION:
        assert health.reason == "Because." and health.fix_url == reverse("external_systems:detail", args=[7])
    if expected == HealthState.RETRYING:
        assert (health.since, health.next_try) == (NOW, NOW + timedelta(minutes=1))


def _broken_system(tenant: Any, title: str) -> ExternalSystem:
    system = ExternalSystemFactory(
        tenant=tenant, title=title, directory_id="d", mailbox="printing@contoso.com", status=SystemStatus.CONNECTED
    )
    MicrosoftCredential.objects.create(
        tenant=tenant,
        owner_type="external_system",
        owner_id=system.pk,
        kind="delegated_public",
        directory_id="d",
        client_id="c",
        state="needs_reconnect",
        state_reason="The sign-in was revoked.",
    )
    return system


@pytest.mark.django_db
def test_the_dashboard_lists_what_needs_attention_of_its_own_tenant_only(admin_a_client, admin_b_client, tenant_a):
    system = _broken_system(tenant_a, "Alpha printing")

    (item,) = attention_for(tenant=tenant_a)
    assert item.subject == "External system “Alpha printing”" and item.label == "Needs reconnect"
    page = admin_a_client.get(reverse("dashboard")).content.decode()
    assert "Alpha printing" in page and "The sign-in was revoked." in page
    assert f'href="{reverse("external_systems:detail", args=[system.pk])}"' in page
    assert "Alpha printing" not in admin_b_client.get(reverse("dashboard")).content.decode()


@pytest.mark.django_db
def test_plain_users_see_no_attention(user_a_client, tenant_a):
    _broken_system(tenant_a, "Alpha printing")

    assert "Alpha printing" not in user_a_client.get(reverse("dashboard")).content.decode()
