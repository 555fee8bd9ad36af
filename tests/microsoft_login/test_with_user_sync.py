"""The users User Synchronization creates sign in with Microsoft (the same identity link), and one deactivated in
Roger does not."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.choices import UserSource
from accounts.models import User
from accounts.services import user_deactivate
from tests.integrations.conftest import consented, feature_of
from tests.microsoft_login.conftest import ALEX, microsoft_sign_in, signed_in_as
from tests.security.conftest import page_text
from tests.user_sync.conftest import sync, sync_feature_enabled
from user_sync.services.runs import settings_for

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]

ALEX_ID = "a1b2c3d4-0003-4000-8000-00000000c003"


def test_a_synchronized_user_signs_in_until_deactivated(m365, client, admin_a):
    sync_feature = sync_feature_enabled(m365, admin_a)
    settings = settings_for(sync_feature)
    settings.threshold_percent = 100
    settings.save()
    sync(settings)
    alex = User.objects.get(tenant=admin_a.tenant, directory_object_id=ALEX_ID)
    assert alex.source == UserSource.SYNCED and not alex.has_usable_password()
    login = consented(feature_of(sync_feature.integration, "login"))
    login.enabled, login.enabled_at = True, timezone.now()
    login.save()

    microsoft_sign_in(m365, client, login, ALEX)
    assert signed_in_as(client) == alex.pk

    client.logout()
    user_deactivate(alex, actor=admin_a, reason="Left the company.")
    final = microsoft_sign_in(m365, client, login, ALEX)
    assert signed_in_as(client) is None and "is deactivated" in page_text(final)
