"""Settings for the Roger Microsoft 365 portal, read from the environment (see .env.example)."""

from __future__ import annotations

import sys
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config.keys import development_fernet_key

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

DEBUG = env.bool("DEBUG", default=False)
TESTING = "pytest" in sys.modules

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG and not TESTING:
        raise ImproperlyConfigured("SECRET_KEY is not set. Set it in the environment (see .env.example).")
    SECRET_KEY = "django-insecure-development-only-key"

# Encryption keys for secrets at rest: newest first; separate from SECRET_KEY so either can rotate alone.
FERNET_KEYS = env.list("FERNET_KEYS", default=[])
if not FERNET_KEYS:
    if not DEBUG and not TESTING:
        raise ImproperlyConfigured(
            "FERNET_KEYS is not set. Generate one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'` "
            "and set FERNET_KEYS (newest key first)."
        )
    FERNET_KEYS = [development_fernet_key(VAR_DIR)]

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_celery_beat",
    "background",
    "ui",
    "accounts",
    "health",
    "audit",
    "credentials",
    "integrations",
    "integrations.legacy",
    "external_systems",
    "mail_servers",
    "outgoing_mail",
    "notifications",
    "mail_jobs",
    "print_jobs",
    "onedrive",
    "universal_print",
    "user_sync",
    "microsoft_login",
    "users_admin",
    "throttling",
    "operations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "operations.middleware.RequestContextMiddleware",  # correlation id, actor and address; one log line
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.CurrentTenantMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.portal",
                "onedrive.context_processors.onedrive",
            ],
            # {% url %} reversed once per URL name (ui.reversing): a list page writes a few links a row.
            "builtins": ["ui.templatetags.urls"],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if str(DATABASES["default"]["ENGINE"]).endswith("sqlite3"):
    # The demo's web, worker and beat write to one SQLite file: transactions take the write lock when they begin
    # and wait for it, instead of failing with "database is locked" when two upgrade their locks at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
if TESTING and env.str("TEST_DATABASE_NAME", default=""):
    DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.TenantEmailBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = DEBUG or TESTING
STATICFILES_DIRS = [BASE_DIR / "static"]
# Administration > Users > Import: the largest file accepted (the vendor documents 100 MB), checked while uploading.
USER_IMPORT_MAX_BYTES = env.int("USER_IMPORT_MAX_BYTES", default=100 * 1024 * 1024)
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and not TESTING
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Security: production defaults; the http demo (DEBUG) and the test client's http relax only the https ones.
_HTTPS_ONLY = not DEBUG and not TESTING
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_HTTPS_ONLY)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # a load balancer's health probe may speak plain HTTP to a web node
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=_HTTPS_ONLY)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=_HTTPS_ONLY)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if _HTTPS_ONLY else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _HTTPS_ONLY
SECURE_HSTS_PRELOAD = _HTTPS_ONLY
# Reverse proxies of ours (load balancer, ingress) in front of the portal. 0: clients connect directly and the
# connection's peer is the client; N: the Nth entry from the right of X-Forwarded-For is (throttling/clients.py).
# Forwarded headers are believed only from them: with 0, a client's X-Forwarded-For and -Proto are ignored.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY_COUNT > 0 else None
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"

# Mail: the portal's own mail is queued (OutboundEmail) and sent by Celery through the tenant's configured server
# (Settings > Network), or through OPERATOR_EMAIL_BACKEND for mail of no tenant (the console when unset; set it to
# django.core.mail.backends.smtp.EmailBackend to use the EMAIL_* server below).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="outgoing_mail.backends.QueuedEmailBackend")
OPERATOR_EMAIL_BACKEND = env.str("OPERATOR_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Roger <noreply@roger.example>")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))  # for the file-based backend
# Exchange Online takes 30 messages a minute per mailbox over SMTP AUTH; the queue stays under it (per mailbox,
# shared by every worker through a database row lock: outgoing_mail/limiter.py).
OUTGOING_MAIL_RATE_LIMIT = env.int("OUTGOING_MAIL_RATE_LIMIT", default=30)
OUTGOING_MAIL_RATE_WINDOW_SECONDS = env.float("OUTGOING_MAIL_RATE_WINDOW_SECONDS", default=60.0)
OUTGOING_MAIL_RETRY_BASE_SECONDS = env.float("OUTGOING_MAIL_RETRY_BASE_SECONDS", default=30.0)
OUTGOING_MAIL_MAX_ATTEMPTS = env.int("OUTGOING_MAIL_MAX_ATTEMPTS", default=8)
# A mail worker takes this many due messages at a time, tenants in turns: one tenant's backlog delays another
# tenant's first message by at most one batch.
OUTGOING_MAIL_BATCH = env.int("OUTGOING_MAIL_BATCH", default=50)
# CA bundle for tenants' custom mail servers (SMTP, IMAP, POP3) with a private certificate authority.
# Unset: the system's trust store. Microsoft's own servers use MICROSOFT_CA_BUNDLE.
CUSTOM_MAIL_CA_BUNDLE = env.str("CUSTOM_MAIL_CA_BUNDLE", default="") or None
# Mail servers a tenant admin types are reached only on the public internet; these networks (CIDR) are allowed
# too, e.g. a relay of the operator's that tenants may use. The demo and the tests allow the emulator this way.
TENANT_MAIL_ALLOWED_NETWORKS = env.list("TENANT_MAIL_ALLOWED_NETWORKS", default=[])
# A tenant's password (or token) is never sent over a connection without TLS, unless this is true.
TENANT_MAIL_ALLOW_PLAINTEXT_PASSWORDS = env.bool("TENANT_MAIL_ALLOW_PLAINTEXT_PASSWORDS", default=False)
# Seconds: to connect, for each read, and for a whole conversation with a tenant's SMTP server (one message) or
# mailbox (one poll: it goes on at the next poll).
TENANT_MAIL_CONNECT_TIMEOUT = env.float("TENANT_MAIL_CONNECT_TIMEOUT", default=10.0)
TENANT_MAIL_READ_TIMEOUT = env.float("TENANT_MAIL_READ_TIMEOUT", default=30.0)
TENANT_MAIL_SMTP_TIME_LIMIT = env.float("TENANT_MAIL_SMTP_TIME_LIMIT", default=120.0)
TENANT_MAIL_MAILBOX_TIME_LIMIT = env.float("TENANT_MAIL_MAILBOX_TIME_LIMIT", default=600.0)

# Jobs via Email (mail_jobs): how long a poll holds its mailbox before another poll may take over (a worker
# that died mid-batch leaves it behind).
MAIL_JOBS_POLL_LEASE_SECONDS = env.int("MAIL_JOBS_POLL_LEASE_SECONDS", default=300)

# OneDrive (print from it, scan to it): largest file printed from OneDrive and largest scan delivered to it (bytes);
# how long a worker holds a transfer between renewals (a killed worker's transfer is taken up again after it).
ONEDRIVE_PRINT_MAX_BYTES = env.int("ONEDRIVE_PRINT_MAX_BYTES", default=100 * 1024 * 1024)
ONEDRIVE_SCAN_MAX_BYTES = env.int("ONEDRIVE_SCAN_MAX_BYTES", default=250 * 1024 * 1024)
ONEDRIVE_WORK_LEASE_SECONDS = env.int("ONEDRIVE_WORK_LEASE_SECONDS", default=60)
# Universal Print: the largest document Roger takes from a job (a larger one is aborted with the reason).
UNIVERSAL_PRINT_MAX_DOCUMENT_MB = env.int("UNIVERSAL_PRINT_MAX_DOCUMENT_MB", default=100)
# How long a worker holds a connection or a job it is taking before another may take over (a worker that died
# mid-way leaves it behind).
UNIVERSAL_PRINT_LEASE_SECONDS = env.int("UNIVERSAL_PRINT_LEASE_SECONDS", default=300)
# How long a worker holds a User Synchronization run while it reads and writes one page (renewed by each page).
USER_SYNC_LEASE_SECONDS = env.int("USER_SYNC_LEASE_SECONDS", default=300)
# How long one task goes on reading and writing a run's pages before it queues the next (each page commits its
# position; 0: one page a task). Longer saves a task per page, shorter lets other tenants' runs in sooner.
USER_SYNC_TURN_SECONDS = env.float("USER_SYNC_TURN_SECONDS", default=10.0)

# Celery: Redis when REDIS_URL is set, else kombu's serverless filesystem transport under var/.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
        "global_keyprefix": env.str("CELERY_KEY_PREFIX", default=""),
    }
else:
    _queue_dir = VAR_DIR / "celery-queue"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "control_folder": str(VAR_DIR / "celery-control"),  # kombu's default is ./control in the working dir
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULER = "operations.beat:HeartbeatScheduler"  # django-celery-beat's, writing beat's heartbeat
CELERY_TIMEZONE = TIME_ZONE

# /healthz: a queue is unhealthy when no worker took its heartbeat (sent every minute) for this long; beat when
# it has not ticked for this long; the broker when it does not answer in this time.
HEALTH_WORKER_MAX_AGE_SECONDS = env.int("HEALTH_WORKER_MAX_AGE_SECONDS", default=180)
HEALTH_BEAT_MAX_AGE_SECONDS = env.int("HEALTH_BEAT_MAX_AGE_SECONDS", default=180)
HEALTH_BROKER_TIMEOUT_SECONDS = env.float("HEALTH_BROKER_TIMEOUT_SECONDS", default=3.0)

# Microsoft endpoints: production defaults are Microsoft's hosts (see microsoft/config.py);
# the demo and the tests point them at m365_emulator.
MICROSOFT_AUTHORITY_HOST = env.str("MICROSOFT_AUTHORITY_HOST", default="")
MICROSOFT_GRAPH_URL = env.str("MICROSOFT_GRAPH_URL", default="")
MICROSOFT_SMTP_HOST = env.str("MICROSOFT_SMTP_HOST", default="")
MICROSOFT_SMTP_PORT = env.int("MICROSOFT_SMTP_PORT", default=587)
MICROSOFT_IMAP_HOST = env.str("MICROSOFT_IMAP_HOST", default="")
MICROSOFT_IMAP_PORT = env.int("MICROSOFT_IMAP_PORT", default=993)
MICROSOFT_POP_HOST = env.str("MICROSOFT_POP_HOST", default="")
MICROSOFT_POP_PORT = env.int("MICROSOFT_POP_PORT", default=995)
MICROSOFT_CA_BUNDLE = env.str("MICROSOFT_CA_BUNDLE", default="") or None
MICROSOFT_HTTP_TIMEOUT = env.float("MICROSOFT_HTTP_TIMEOUT", default=15.0)

# Operator-owned apps: the four split apps and the two apps of the setup from before integrations.
MICROSOFT_APP_NAMES = ("LOGIN", "USER_SYNC", "UNIVERSAL_PRINT", "ONEDRIVE", "LEGACY", "LEGACY_USER_SYNC")
_DEFAULT_APP_DISPLAY_NAMES = {
    "LOGIN": "Roger Login",
    "USER_SYNC": "Roger Entra ID Connector",
    "UNIVERSAL_PRINT": "Roger for Universal Print",
    "ONEDRIVE": "Roger for OneDrive",
    "LEGACY": "Roger (legacy)",
    "LEGACY_USER_SYNC": "Roger User Synchronization (legacy)",
}
MICROSOFT_APPS = {
    name: {
        "client_id": env.str(f"MICROSOFT_APP_{name}_CLIENT_ID", default=""),
        "client_secret": env.str(f"MICROSOFT_APP_{name}_CLIENT_SECRET", default=""),
        "display_name": env.str(f"MICROSOFT_APP_{name}_DISPLAY_NAME", default=_DEFAULT_APP_DISPLAY_NAMES[name]),
    }
    for name in MICROSOFT_APP_NAMES
}

# Integrations warn (page, dashboard, one email) this many days before a custom app's secret expires.
INTEGRATIONS_SECRET_EXPIRY_WARNING_DAYS = env.int("INTEGRATIONS_SECRET_EXPIRY_WARNING_DAYS", default=30)

# Sign-in lockout (the tenant sign-in and the operator's /operator/): five failures in 15 minutes lock an account
# for 15 minutes; a per-client cap stops one client from guessing across many accounts.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=15 * 60)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=15 * 60)
LOGIN_ADDRESS_FAILURE_LIMIT = env.int("LOGIN_ADDRESS_FAILURE_LIMIT", default=30)

# Abuse limits on what anyone can make the portal do on request ("<scope>.<dimension>": "COUNT/PERIOD", PERIOD
# as s, m, h or d, e.g. 10/15m). Per recipient address, per tenant, per client (an IPv6 client counts by /64).
# THROTTLE_RATES in the environment overrides single entries: THROTTLE_RATES=password_reset.client=20/h,...
_DEFAULT_THROTTLE_RATES = {
    "password_reset.address": "3/h",
    "password_reset.tenant": "50/h",
    "password_reset.client": "10/h",
    "test_email.address": "10/h",
    "test_email.tenant": "20/h",
    "test_email.client": "30/h",
    "device_code_email.address": "5/h",
    "device_code_email.tenant": "20/h",
    "device_code_email.client": "30/h",
    # Jobs via Email's "not printed" replies: anyone can forge the sender they go to.
    "rejection_reply.address": "5/h",
    "rejection_reply.tenant": "200/h",
    # Print from OneDrive requests and scans delivered to OneDrive, per user and per tenant: each costs Graph calls
    # made with the user's token, which Microsoft throttles per user and per app.
    "onedrive_print.address": "60/h",
    "onedrive_print.tenant": "2000/h",
    "onedrive_scan.address": "120/h",
    "onedrive_scan.tenant": "5000/h",
    # Sign-in with Microsoft starts (each costs a flow row and a discovery call), per client and per tenancy.
    "microsoft_sign_in.client": "30/15m",
    "microsoft_sign_in.tenant": "600/15m",
}
THROTTLE_RATES = {**_DEFAULT_THROTTLE_RATES, **env.dict("THROTTLE_RATES", default={})}

# Prometheus metrics, off by default. On: django-prometheus counts requests and queries at /metrics of each web
# node, and each worker serves its Celery task counts and durations (per task, queue, outcome) on
# METRICS_WORKER_PORT. With several processes per node set PROMETHEUS_MULTIPROC_DIR (docs/operations.md).
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=False)
METRICS_WORKER_PORT = env.int("METRICS_WORKER_PORT", default=9808)
if METRICS_ENABLED:
    INSTALLED_APPS.append("django_prometheus")
    MIDDLEWARE = [
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        *MIDDLEWARE,
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    ]
    _engine = str(DATABASES["default"]["ENGINE"])
    if _engine in ("django.db.backends.postgresql", "django.db.backends.sqlite3"):
        DATABASES["default"]["ENGINE"] = _engine.replace("django.db.backends", "django_prometheus.db.backends")

# Logs: one line per request (operations.request) and per task (operations.task), every line with the flow's
# correlation id and tenant id. LOG_FORMAT=json writes one JSON object per line for a log collector.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "operations.logging.ContextFilter"},
        "without_query": {"()": "operations.logging.WithoutQueryString"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s tenant=%(tenant_id)s] %(message)s"},
        "json": {"()": "operations.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "msal": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        # runserver's access log: our request line replaces it; its warnings and errors lose the query string,
        # which can carry codes.
        "django.server": {"level": "WARNING", "filters": ["without_query"]},
    },
}
