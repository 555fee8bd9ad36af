"""Settings of the gunicorn that bench/pages.py loads: the portal's, plus a trivial view (the floor) and a header
with the number of database queries each response took."""

from config.settings import *  # noqa: F403
from config.settings import MIDDLEWARE

ROOT_URLCONF = "bench.pages_urls"
MIDDLEWARE = ["bench.pages_urls.QueryCountMiddleware", *MIDDLEWARE]
