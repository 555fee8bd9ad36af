"""What a consent granted is learned from Microsoft afterwards, never from the consent answer itself.

The admin-consent redirect echoes the requested `/.default`, which names nothing, and its `tenant` is not signed.
Application permissions are read from the `roles` of a freshly fetched app-only token; roles can lag the consent
by minutes, so a missing one is rechecked before it is called missing; an unreadable token is "checked on first
use", never "Missing".
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations.models import AppRegistration, Feature, Integration
from integrations.services.integrations import integration_create_automatic
from integrations.services.permissions import app_roles_recheck_due
from tests.security.conftest import (
    CONTOSO,
    CONTOSO_ADMIN,
    at_microsoft,
    get_consent_answer,
    page_text,
    post_sign_in_answer,
)

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]

USER_SYNC_PERMISSIONS = ("User.Read.All", "Group.Read.All")


def _connected(client: Client, m365: Any, admin: Any) -> Integration:
    """Create automatically, then Select tenant as Contoso's Global Administrator."""
    integration = integration_create_automatic(tenant=admin.tenant, actor=admin, name="Contoso")
    start = client.post(reverse("integrations:select_tenant", args=[integration.pk]))
    post_sign_in_answer(client, at_microsoft(m365, start["Location"], CONTOSO_ADMIN))
    integration.refresh_from_db()
    assert integration.directory_id == CONTOSO
    return integration


def _consent(client: Client, m365: Any, feature: Feature) -> str:
    start = client.post(reverse("integrations:feature_consent", args=[feature.integration_id, feature.pk]))
    answer = at_microsoft(m365, start["Location"], CONTOSO_ADMIN)
    assert answer["scope"] == "https://graph.microsoft.com/.default", "Microsoft echoes the request, naming nothing"
    return page_text(get_consent_answer(client, answer))


def _permissions(client: Client, feature: Feature) -> dict[str, str]:
    """The Permissions cell of the feature's row: each permission with what the page says of it (its text)."""
    page = page_text(client.get(reverse("integrations:detail", args=[feature.integration_id])))
    row = re.search(rf'<tr id="feature-{feature.feature_type}">(.*?)</tr>', page, re.DOTALL)
    assert row
    lines = re.findall(r'<div(?: class="permission"[^>]*)?>(.*?<code>([^<]+)</code>.*?)</div>', row.group(1), re.DOTALL)
    return {name: " ".join(re.sub(r"<[^>]+>", " ", line).split()) for line, name in lines}


def _recheck(feature: Feature, *, now: Any = None) -> None:
    from integrations.services.permissions import app_roles_recheck

    app_roles_recheck(app=feature.app_registration, now=now or timezone.now())


def test_a_dot_default_consent_shows_what_a_fresh_app_token_holds(m365: Any, admin_a: Any, admin_a_client: Client):
    integration = _connected(admin_a_client, m365, admin_a)
    user_sync = integration.features.get(feature_type="user_sync")

    page = _consent(admin_a_client, m365, user_sync)

    assert "Consent granted for User Synchronization." in page
    shown = _permissions(admin_a_client, user_sync)
    assert set(shown) == set(USER_SYNC_PERMISSIONS)
    assert all(status.startswith("✓") for status in shown.values()), shown
    user_sync.refresh_from_db()
    assert sorted(user_sync.granted_application) == sorted(USER_SYNC_PERMISSIONS)
    grants = [r["form"].get("grant_type") for r in m365.control.requests_received("token")]
    assert "client_credentials" in grants, "the roles come from an app token fetched after the consent"


def test_roles_that_lag_the_consent_are_rechecked_before_they_are_called_missing(
    m365: Any, admin_a: Any, admin_a_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    integration = _connected(admin_a_client, m365, admin_a)
    user_sync = integration.features.get(feature_type="user_sync")
    m365.control.set_role_lag(300)

    with django_capture_on_commit_callbacks(execute=False) as queued:
        _consent(admin_a_client, m365, user_sync)

    assert queued, "a background recheck is queued"
    shown = _permissions(admin_a_client, user_sync)
    assert "Missing" not in " ".join(shown.values()), shown
    assert all("Appearing" in status for status in shown.values()), shown

    app = user_sync.app_registration
    app.refresh_from_db()
    assert app.next_attempt_at is not None, "the recheck is background work of the app: a lost task is swept up"

    m365.control.advance_clock(301)
    AppRegistration.objects.filter(pk=app.pk).update(next_attempt_at=timezone.now())  # its time has come
    assert app_roles_recheck_due(app_id=app.pk) is False, "all roles there: no further look"

    assert all(status.startswith("✓") for status in _permissions(admin_a_client, user_sync).values())
    app.refresh_from_db()
    assert app.next_attempt_at is None and app.attempts == 1 and not app.lease_token


def test_a_role_still_absent_when_the_rechecks_end_is_missing(m365: Any, admin_a: Any, admin_a_client: Client):
    integration = _connected(admin_a_client, m365, admin_a)
    user_sync = integration.features.get(feature_type="user_sync")
    m365.control.set_role_lag(10**9)  # never appears
    _consent(admin_a_client, m365, user_sync)

    _recheck(user_sync, now=timezone.now() + timedelta(hours=1))

    shown = _permissions(admin_a_client, user_sync)
    assert all("Missing" in status for status in shown.values()), shown


def test_an_unreadable_app_token_means_checked_on_first_use_never_missing(
    m365: Any, admin_a: Any, admin_a_client: Client
) -> None:
    integration = _connected(admin_a_client, m365, admin_a)
    user_sync = integration.features.get(feature_type="user_sync")
    m365.control.set_opaque_tokens(user_sync.app_registration.client_id)

    _consent(admin_a_client, m365, user_sync)
    _recheck(user_sync, now=timezone.now() + timedelta(hours=1))

    shown = _permissions(admin_a_client, user_sync)
    assert all(status.endswith("checked on first use") for status in shown.values()), shown
