"""Settings of the Celery worker started by the token store tests: the portal's, plus the test owner type."""

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.credentials.apps.TestOwnersConfig"]
