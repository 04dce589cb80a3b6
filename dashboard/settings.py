"""Switchboard settings: everything configurable comes from the environment (see .env.example)."""

from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# `make run` and `make test` write a .env with a random key on first use; production sets its own.
SECRET_KEY = env.str("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_tasks",
    "django_tasks_db",
    "axes",
    "ninja",  # serves the API docs' Swagger assets locally (no CDN)
    "dashboard",
    "dashboard.agents",
    "contacts",
    "sms",
    "contacts.imports",
    "sms.campaigns",
    "dashboard.reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "dashboard.permissions.StaffRequiredMiddleware",
    # Last: it answers a locked-out login attempt before the view runs.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

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
                "dashboard.context_processors.navigation",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------------------------
# Embedded default: SQLite in WAL mode, so the web server and the task worker can write at the
# same time. IMMEDIATE transactions take the write lock up front (no "database is locked" on a
# read->write upgrade) and the busy timeout makes writers queue instead of failing.
VAR_DIR.mkdir(exist_ok=True)
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'switchboard.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if DATABASES["default"]["NAME"] != ":memory:":
        DATABASES["default"]["NAME"] = str(BASE_DIR / DATABASES["default"]["NAME"])
    # Django's backend plus a writers' turn, so concurrent writers hand over promptly
    # instead of sleeping in SQLite's busy handler (see dashboard/db/sqlite/base.py).
    DATABASES["default"]["ENGINE"] = "dashboard.db.sqlite"
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=20),
        "init_command": (
            "PRAGMA journal_mode=WAL;"
            "PRAGMA synchronous=NORMAL;"
            "PRAGMA foreign_keys=ON;"
            "PRAGMA cache_size=-64000;"
            "PRAGMA mmap_size=268435456;"
            "PRAGMA temp_store=MEMORY;"
        ),
    }
    # Tests use in-memory databases, one per test process. Said outright because pytest-django
    # only recognises Django's own ENGINE string and would name a test file after this one.
    DATABASES["default"].setdefault("TEST", {}).setdefault("NAME", ":memory:")
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with BEGIN/SAVEPOINT sent along with the next statement and a health
    # check that needs no round trip (see dashboard/db/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "dashboard.db.postgresql"
    # Off behind a pooler in transaction mode (PgBouncer's), which does not keep a session's
    # prepared statements from one transaction to the next.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_statements"] = env.bool(
        "PG_PREPARED_STATEMENTS", default=True
    )
# Persistent connections on both: opening one costs a PostgreSQL login, or on SQLite the file
# open and the PRAGMAs above (~0.9 ms, a seventh of an agent's upsert), on every request.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Background tasks (django.tasks backport; Django 6 ships the same API) --------------------
# Finished background job records kept this many days (failed ones longer: staff retry them).
# Each worker prunes older ones hourly.
TASK_RESULT_RETENTION_DAYS = env.int("TASK_RESULT_RETENTION_DAYS", default=14)
TASK_FAILED_RETENTION_DAYS = env.int("TASK_FAILED_RETENTION_DAYS", default=30)
TASKS = {
    "default": {
        "BACKEND": env.str("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
        "QUEUES": [],
    }
}

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses locked-out logins before checking passwords
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
STAFF_GROUP = "staff"
ADMIN_GROUP = "admin"

# --- I18n / time ----------------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads nothing from it; the token travels in hx-headers.
# A stale token on an htmx request says so in a toast (htmx shows nothing for a 403).
CSRF_FAILURE_VIEW = "dashboard.views.errors.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# On by default outside DEBUG; the local .env turns it off because `make run` serves plain http.
if env.bool("SECURE_COOKIES", default=not DEBUG):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp; Django 6 has the same built in): no inline or third-party
# scripts, and no page may be framed — except signed report embeds, which name the origins in
# EMBED_FRAME_ANCESTORS themselves.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # Inline style attributes only (progress bar widths, chart colours); no inline script.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# Origins whose pages may frame signed report embeds, e.g. https://wiki.example.com (CSP
# frame-ancestors). Every other page of Switchboard refuses to be framed.
EMBED_FRAME_ANCESTORS = env.list("EMBED_FRAME_ANCESTORS", default=[])

# Login throttling (django-axes, database handler: shared by every process and host).
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("LOGIN_COOLOFF_MINUTES", default=15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Reverse proxies (load balancers) in front of Switchboard that append the client's address to
# X-Forwarded-For: login throttling counts per client address, not per balancer.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "dashboard.client_ip.client_ip"

# --- Switchboard ----------------------------------------------------------------------------
# Region used to read phone numbers typed without a country code ("07700 900123").
PHONE_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="GB")
CONTACTS_PAGE_SIZE = env.int("CONTACTS_PAGE_SIZE", default=25)
# Key for the salted hashes on the suppression list. Changing it forgets every suppression.
SUPPRESSION_SALT = env.str("SUPPRESSION_SALT", default=SECRET_KEY)

# Imports. Uploads above IMPORT_MAX_BYTES are refused before they are read; files are kept
# (re-encoded to UTF-8) in IMPORT_DIR (shared by every worker) while their job can run or be
# resumed: they hold every row's personal data, so nothing keeps them longer.
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=512 * 1024 * 1024)
IMPORT_DIR = BASE_DIR / env.str("IMPORT_DIR", default="var/imports")
IMPORT_BATCH_SIZE = env.int("IMPORT_BATCH_SIZE", default=5000)
# A finished import's file goes at once; a cancelled or failed one's after this many days
# (it can be resumed until then); an upload never mapped, with its draft, after a day.
IMPORT_FILE_RETENTION_DAYS = env.int("IMPORT_FILE_RETENTION_DAYS", default=7)
IMPORT_DRAFT_RETENTION_HOURS = env.int("IMPORT_DRAFT_RETENTION_HOURS", default=24)
# Processes that clean rows (CSV parsing, phone validation) while the importing one writes.
IMPORT_WORKERS = env.int("IMPORT_WORKERS", default=2)
# Key for the X-Switchboard-Signature HMAC on "import finished" webhooks.
IMPORT_WEBHOOK_SECRET = env.str("IMPORT_WEBHOOK_SECRET", default=SECRET_KEY)
IMPORT_WEBHOOK_ATTEMPTS = env.int("IMPORT_WEBHOOK_ATTEMPTS", default=5)
IMPORT_WEBHOOK_BACKOFF = env.int("IMPORT_WEBHOOK_BACKOFF", default=30)  # seconds, doubled each try
# Whether webhook URLs that staff and agents give may lead to loopback, private or link-local
# addresses (dashboard/outbound.py). Off in production: such a URL would let its author reach
# into this network (SSRF). On for DEBUG, the test suite and `make run` (local receivers).
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=DEBUG)

# --- SMS (sms app) ---------------------------------------------------------------------------
# Which gateway sends: "sandbox" (no network, the default), "mailpro" or "twilio".
SMS_GATEWAY = env.str("SMS_GATEWAY", default="sandbox")
if SMS_GATEWAY not in {"sandbox", "mailpro", "twilio"}:
    raise ImproperlyConfigured(f"SMS_GATEWAY={SMS_GATEWAY!r}: choose sandbox, mailpro or twilio.")
# Seconds the gateway HTTP client waits (connect, read) before giving up on a provider.
SMS_HTTP_TIMEOUT = env.float("SMS_HTTP_TIMEOUT", default=10.0)
# Messages one worker sends at once, and how many it claims per batch. 32 keeps ~600 msg/s in
# flight at 50 ms provider latency; more threads mostly add GIL contention.
SMS_SEND_CONCURRENCY = env.int("SMS_SEND_CONCURRENCY", default=32)
SMS_DISPATCH_BATCH = env.int("SMS_DISPATCH_BATCH", default=500)
SMS_MAX_SEGMENTS = env.int("SMS_MAX_SEGMENTS", default=10)
# How far ahead a single text, and a campaign, may be scheduled (sms/services/horizon.py).
SMS_MAX_SCHEDULE_DAYS = env.int("SMS_MAX_SCHEDULE_DAYS", default=60)
CAMPAIGN_MAX_SCHEDULE_DAYS = env.int("CAMPAIGN_MAX_SCHEDULE_DAYS", default=400)
# Marketing is held outside these local hours of the recipient (HH:MM-HH:MM, wraps midnight).
SMS_QUIET_HOURS = env.str("SMS_QUIET_HOURS", default="21:00-08:00")
# Absolute base URL providers call back on (status reports, inbound), e.g. https://sb.example.com
SMS_PUBLIC_BASE_URL = env.str("SMS_PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
# Secret for the HMAC-SHA256 X-Switchboard-Signature on sandbox and Mailpro callbacks.
SMS_WEBHOOK_SECRET = env.str("SMS_WEBHOOK_SECRET", default=SECRET_KEY)
MAILPRO_API_URL = env.str("MAILPRO_API_URL", default="https://api.mailpro.com/v2")
MAILPRO_CLIENT_ID = env.str("MAILPRO_CLIENT_ID", default="")
MAILPRO_API_KEY = env.str("MAILPRO_API_KEY", default="")
# Set when the Mailpro account drops a repeated message reference (the simulator does).
MAILPRO_DEDUPES_REFERENCE = env.bool("MAILPRO_DEDUPES_REFERENCE", default=False)
TWILIO_API_URL = env.str("TWILIO_API_URL", default="https://api.twilio.com")
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM = env.str("TWILIO_FROM", default="")
# Messages per second each gateway may be sent, shared by all workers ("mailpro=100,twilio=50");
# a gateway not named is not limited.
SMS_RATE_LIMITS = {k: float(v) for k, v in env.dict("SMS_RATE_LIMITS", default={}).items()}
# Seconds after which a message stuck in "sending" (its worker died) is handed over again, for
# gateways that honour our reference (the provider drops the repeat); others fail it later.
SMS_SEND_LEASE = env.float("SMS_SEND_LEASE", default=300.0)
# Campaigns: recipients per message-creating batch, and the heartbeat of a running campaign.
CAMPAIGN_BATCH_SIZE = env.int("CAMPAIGN_BATCH_SIZE", default=2000)
CAMPAIGN_TICK_SECONDS = env.float("CAMPAIGN_TICK_SECONDS", default=2.0)
# Seconds before a claimed fan-out batch whose worker died is taken over by another.
CAMPAIGN_BATCH_LEASE = env.float("CAMPAIGN_BATCH_LEASE", default=60.0)

# --- Agents ---------------------------------------------------------------------------------
AGENT_TOKEN_TTL_SECONDS = env.int("AGENT_TOKEN_TTL_SECONDS", default=3600)
# A gated agent's request that no one decided within this time expires and never runs.
AGENT_APPROVAL_TTL_HOURS = env.int("AGENT_APPROVAL_TTL_HOURS", default=24)
AGENT_IDEMPOTENCY_HOURS = 24
# Where agents reach the MCP server's streamable HTTP, when it is not this site's own /mcp
# (`make run` serves it from a separate ASGI process on MCP_PORT). Shown on the Connect page.
MCP_URL = env.str("MCP_URL", default="")

# LOG_FORMAT=json gives one JSON object per line (for log shippers); plain is for people.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # httpx logs every request URL at INFO; provider URLs can carry API keys.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
