"""A test owner type for the token store, installed as an app so a real Celery worker registers it too.

The worker runs with DJANGO_SETTINGS_MODULE=tests.credentials.worker_settings (see conftest.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig

from credentials.registry import OwnerType
from microsoft.config import AppCredentials

if TYPE_CHECKING:
    from credentials.models import MicrosoftCredential

TEST_OWNER_TYPE = "test_owner"
CONTOSO = "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
DEVICE_APP = "7e570001-0000-4000-8000-000000000001"  # public client (device code)
WEB_APP = "7e570003-0000-4000-8000-000000000003"  # confidential, consented in Contoso
WEB_APP_SECRET = "web~Secret.Value.0003"

# What each owner would hold for its app registration. The device app has a secret typed in by mistake:
# the store must still never send it, because a public client's credential is refreshed without one.
APP_SECRETS: dict[str, str | None] = {
    DEVICE_APP: "typed~By.Mistake",
    WEB_APP: WEB_APP_SECRET,
}


def _app_for(credential: MicrosoftCredential) -> AppCredentials:
    return AppCredentials(credential.client_id, APP_SECRETS.get(credential.client_id))


TEST_OWNER = OwnerType(
    name=TEST_OWNER_TYPE,
    app_for=_app_for,
    label_for=lambda credential: f"Test owner #{credential.owner_id}",
    fix_url_for=lambda credential: f"/test-owners/{credential.owner_id}/reconnect/",
)


class TestOwnersConfig(AppConfig):
    name = "tests.credentials"
    label = "credentials_test_owners"

    def ready(self) -> None:
        from credentials.registry import owner_type_register

        owner_type_register(TEST_OWNER)
