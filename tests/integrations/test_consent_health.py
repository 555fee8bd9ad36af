"""A feature's consent is shown as a Health (health.Health, partials/health.html) on its integration's page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.urls import reverse

from health import HealthState
from integrations.choices import ConsentState
from integrations.selectors import feature_consent_health
from tests.integrations.conftest import connected_automatic, consented, feature_of
from ui.choices import Colour

pytestmark = pytest.mark.django_db


def _consent_cell(page: str, feature_type: str) -> str:
    row = page.split(f'id="feature-{feature_type}"', 1)[1].split("</tr>", 1)[0]
    return row.split('<td class="consent">', 1)[1].split("</td>", 1)[0]


def test_each_consent_state_is_a_health(admin_a: Any) -> None:
    feature = feature_of(connected_automatic(admin_a), "user_sync")

    assert feature_consent_health(feature).state == HealthState.NEEDS_ACTION
    assert feature_consent_health(feature).still_works, "a feature not enabled yet is not broken by it"
    assert not feature_consent_health(feature).fix, "its own Grant consent button is the way"

    consented(feature)
    feature.consent_granted_at = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    feature.consent_granted_by = "admin@contoso.example"
    health = feature_consent_health(feature)
    assert (health.state, health.label) == (HealthState.OK, "Consent granted")
    assert health.reason == "by admin@contoso.example, 3 Nov 2026"

    feature.enabled = True
    feature.consent_state, feature.consent_reason = ConsentState.NEEDS_CONSENT, "Consent was removed."
    health = feature_consent_health(feature)
    assert (health.state, health.reason) == (HealthState.NEEDS_ACTION, "Consent was removed.")
    assert not health.still_works
    assert health.fix and health.colour == Colour.ERROR, "an enabled feature without consent has stopped"

    feature.consent_state = ConsentState.PER_USER
    assert feature_consent_health(feature).state == HealthState.OK


def test_the_integration_page_shows_consent_through_the_health_partial(admin_a: Any, admin_a_client: Any) -> None:
    integration = connected_automatic(admin_a)
    consented(feature_of(integration, "onedrive"))
    removed = feature_of(integration, "user_sync")
    removed.consent_state, removed.consent_reason = ConsentState.NEEDS_CONSENT, "Consent was removed."
    removed.enabled = True
    removed.save()

    page = admin_a_client.get(reverse("integrations:detail", args=[integration.pk])).content.decode()

    granted = _consent_cell(page, "onedrive")
    assert 'data-health="ok"' in granted and "Consent granted" in granted
    needs = _consent_cell(page, "user_sync")
    assert 'data-health="needs_action"' in needs and "Needs consent again" in needs
    assert "Consent was removed." in needs and "Reapply Consents" in needs
