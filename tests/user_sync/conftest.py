"""User Synchronization in a known state against the emulator: a Contoso integration whose User Synchronization
feature has the operator app's admin consent (granted at the emulator's page) and is enabled, and helpers that run
a sync's steps here, as the worker would, one page per step."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from integrations.models import Feature
from integrations.services.features import feature_enable
from integrations.services.tokens import feature_app_token_acquire, feature_app_tokens_save
from tests.integrations.conftest import connected_automatic, consented, feature_of
from tests.security.conftest import admin_consent_url, at_microsoft
from user_sync.choices import RunKind
from user_sync.models import SyncRun, SyncSettings
from user_sync.services.engine import run_step
from user_sync.services.runs import run_start, settings_for

CONTOSO = "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
FABRIKAM = "9e8d7c6b-5a49-4382-a716-f5e4d3c2b1a0"
SYNC_APP = "6e1c0a02-7d2b-4c3e-9f10-000000000a02"
CONTOSO_ADMIN = ("admin@contoso.onmicrosoft.com", "Contoso-Admin-1")
FABRIKAM_ADMIN = ("admin@fabrikam.onmicrosoft.com", "Fabrikam-Admin-1")
CONSENT_REDIRECT = "http://127.0.0.1:8000/integrations/consent/callback/"
ADELE = "adele.vance@contoso.onmicrosoft.com"
ALEX = "alex.wilber@contoso.onmicrosoft.com"
# Contoso's member users in the seed that are enabled (the guest and the disabled former employee are not synced).
CONTOSO_ENABLED_MEMBERS = 32
COST_CENTERS_ROOT = "a1b2c3d4-1001-4000-8000-00000000c101"
MARKETING_TEAM = "a1b2c3d4-1011-4000-8000-00000000c111"
COLOR_PRINTING = "a1b2c3d4-1010-4000-8000-00000000c110"


def sync_feature_enabled(m365: Any, admin: Any, *, directory_id: str = CONTOSO, name: str = "Contoso") -> Feature:
    account = CONTOSO_ADMIN if directory_id == CONTOSO else FABRIKAM_ADMIN
    integration = connected_automatic(admin, name=name, directory_id=directory_id)
    feature = consented(feature_of(integration, "user_sync"))
    at_microsoft(m365, admin_consent_url(SYNC_APP, directory_id, CONSENT_REDIRECT), account)
    grant = feature_app_token_acquire(app=feature.app_registration, directory_id=directory_id)
    feature_app_tokens_save(features=[feature], grant=grant, actor=admin)
    feature_enable(feature=feature)
    return Feature.objects.select_related("integration", "app_registration", "tenant").get(pk=feature.pk)


@pytest.fixture
def sync_feature(m365: Any, admin_a: Any) -> Feature:
    return sync_feature_enabled(m365, admin_a)


@pytest.fixture
def sync_settings(sync_feature: Feature) -> SyncSettings:
    settings = settings_for(sync_feature)
    settings.threshold_percent = 100  # tests about the threshold set their own
    settings.save()
    return settings


def steps(run: SyncRun, *, limit: int = 2000) -> SyncRun:
    """Run the run's steps here until it is over (or waits for Microsoft); the run as it ended."""
    for _ in range(limit):
        run.refresh_from_db()
        if not run.is_open or run.next_attempt_at is None or run.next_attempt_at > timezone.now():
            return run
        outcome = run_step(run_id=run.pk)
        assert outcome not in ("skipped", "lost"), outcome
    raise AssertionError("the run did not end")


def sync(settings: SyncSettings, *, kind: RunKind = RunKind.SYNC, actor: Any = None) -> SyncRun:
    settings.refresh_from_db()
    return steps(run_start(settings=settings, kind=kind, actor=actor))
