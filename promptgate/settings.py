"""Django settings for PromptGate: every environment variable the project reads is read here, once.

Each goes through one small typed helper (`env_bool`, `env_int`, `env_float`, `env_str`, `env_list`,
`env_ints`), so junk fails at start with the variable's name, and each is documented in the README's
settings table. Code reads `settings.PROMPTGATE_…`, never the environment.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import overload

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def env_bool(name: str, default: bool) -> bool:
    """A boolean variable (true/false/1/0/yes/no); junk fails at start rather than meaning False."""
    try:
        return bool(env.bool(name, default=default))
    except ValueError as exc:  # django-environ raises on junk like DEBUG=maybe
        raise ImproperlyConfigured(f"{name} must be a boolean (true/false/1/0)") from exc


@overload
def env_int(name: str, default: int) -> int: ...
@overload
def env_int(name: str, default: None) -> int | None: ...
def env_int(name: str, default: int | None) -> int | None:
    """An integer variable; unset or empty gives the default, junk fails at start."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


def env_float(name: str, default: float) -> float:
    """A number of seconds (or any float); unset or empty gives the default, junk fails at start."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from exc


def env_str(name: str, default: str) -> str:
    """A string variable, as set (empty included), else the default."""
    return os.environ.get(name, default)


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list; blanks between commas are dropped."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_ints(name: str, default: list[int]) -> list[int]:
    """A comma-separated list of integers (days, percentages)."""
    items = env_list(name, [str(d) for d in default])
    try:
        return [int(item) for item in items]
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be comma-separated integers, got {items!r}") from exc


# Where the embedded SQLite database and the generated development secrets live.
VAR_DIR = Path(env_str("PROMPTGATE_VAR_DIR", "") or BASE_DIR / "var")


def dev_secret(filename: str, make: Callable[[], str]) -> str:
    """A secret generated once into var/ for development runs, so a fresh clone just works."""
    path = VAR_DIR / filename
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    value = make()
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off. On a development checkout run manage.py as "
            "make does, with DEBUG=true (secrets are then generated into var/): "
            "DEBUG=true .venv/bin/python manage.py ..."
        )
    SECRET_KEY = dev_secret("secret_key", lambda: secrets.token_urlsafe(50))

# Comma-separated Fernet keys: the first encrypts, all decrypt (rotation: prepend a new key, then
# run `manage.py rotate_encryption_key`, then drop the old one).
PROMPTGATE_ENCRYPTION_KEYS = env_list("PROMPTGATE_ENCRYPTION_KEYS", [])
if not PROMPTGATE_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("PROMPTGATE_ENCRYPTION_KEYS is required when DEBUG is off")
    PROMPTGATE_ENCRYPTION_KEYS = [dev_secret("encryption_key", lambda: Fernet.generate_key().decode())]
for _key in PROMPTGATE_ENCRYPTION_KEYS:
    try:
        Fernet(_key)
    except ValueError as exc:
        raise ImproperlyConfigured("PROMPTGATE_ENCRYPTION_KEYS holds a key that is not a Fernet key") from exc

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

PROMPTGATE_MAX_PROJECTS = env_int("PROMPTGATE_MAX_PROJECTS", None)
# How long the Responses API keeps a stored response (GET /v1/responses/{id}, previous_response_id).
PROMPTGATE_AI_RESPONSE_TTL_SECONDS = env_int("PROMPTGATE_AI_RESPONSE_TTL_SECONDS", 7 * 24 * 3600)
# Largest request body the management API and the public routes read (bytes); larger gets 413.
PROMPTGATE_MAX_BODY_BYTES = env_int("PROMPTGATE_MAX_BODY_BYTES", 10 * 1024 * 1024)
# Largest HTTP proxy body (request or response, JSON or text) that guardrails read and check; a larger
# one passes unchecked (the verdict says so), or is refused (guardrail_error) under a `block` rule.
PROMPTGATE_GUARDRAILS_MAX_BODY_BYTES = env_int("PROMPTGATE_GUARDRAILS_MAX_BODY_BYTES", 1024 * 1024)
# Bounded queue of the batched writers (request logs, last-used stamps); beyond it rows are dropped
# and counted rather than growing memory while the database is slow.
PROMPTGATE_WRITER_QUEUE_SIZE = env_int("PROMPTGATE_WRITER_QUEUE_SIZE", 10_000)
PROMPTGATE_WRITER_BATCH_SIZE = env_int("PROMPTGATE_WRITER_BATCH_SIZE", 500)
PROMPTGATE_WRITER_FLUSH_SECONDS = env_float("PROMPTGATE_WRITER_FLUSH_SECONDS", 1.0)
# Request logs are written by a child process of each serving process (gateways/common/log_process.py),
# off the serving process's GIL; false writes them from a thread of the serving process.
PROMPTGATE_REQUEST_LOG_PROCESS = env_bool("PROMPTGATE_REQUEST_LOG_PROCESS", True)
# Retention (audit/retention.py): raw request-log rows and the hourly/daily rollups, in days. A project
# may set shorter ones (LogRetention). The request-log processes prune on their own, one at a time
# across hosts (a lease row), every PROMPTGATE_LOG_PRUNE_INTERVAL_SECONDS (0: never; `prune_logs` then).
PROMPTGATE_LOG_RETENTION_DAYS = env_int("PROMPTGATE_LOG_RETENTION_DAYS", 30)
PROMPTGATE_ROLLUP_RETENTION_DAYS = env_int("PROMPTGATE_ROLLUP_RETENTION_DAYS", 400)
PROMPTGATE_LOG_PRUNE_INTERVAL_SECONDS = env_int("PROMPTGATE_LOG_PRUNE_INTERVAL_SECONDS", 3600)
# Rows one pruning step deletes (SQLite, and PostgreSQL's per-project overrides): each step is one
# short transaction, so writers wait at most one step.
PROMPTGATE_LOG_PRUNE_BATCH = env_int("PROMPTGATE_LOG_PRUNE_BATCH", 5000)
# PostgreSQL: daily partitions of the request log made this many days ahead.
PROMPTGATE_LOG_PARTITIONS_AHEAD = env_int("PROMPTGATE_LOG_PARTITIONS_AHEAD", 7)
for _name in ("PROMPTGATE_LOG_RETENTION_DAYS", "PROMPTGATE_ROLLUP_RETENTION_DAYS"):
    if (globals()[_name] or 0) < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1 (days)")
# Serving processes freeze their startup heap and collect young garbage every this many allocations
# (gateways/common/heap.py); 0 leaves Python's collector as it is.
PROMPTGATE_GC_GEN0_THRESHOLD = env_int("PROMPTGATE_GC_GEN0_THRESHOLD", 20_000)
# How often each process re-reads the shared config version (a revoked token is refused everywhere
# within this delay plus one flush).
PROMPTGATE_CONFIG_POLL_SECONDS = env_float("PROMPTGATE_CONFIG_POLL_SECONDS", 0.5)
# CIDRs and host names admitted past the SSRF guard (for private upstreams you mean to reach).
PROMPTGATE_SSRF_ALLOW = env_list("PROMPTGATE_SSRF_ALLOW", [])
# When Redis is configured but down: "closed" refuses limited traffic (503), "open" lets it through.
PROMPTGATE_RATE_LIMIT_FAILURE_MODE = env_str("PROMPTGATE_RATE_LIMIT_FAILURE_MODE", "closed")
if PROMPTGATE_RATE_LIMIT_FAILURE_MODE not in ("open", "closed"):
    raise ImproperlyConfigured("PROMPTGATE_RATE_LIMIT_FAILURE_MODE must be 'open' or 'closed'")
# Webhooks (webhooks/): how many `webhook_worker` processes gunicorn starts beside the server (0: run
# them yourself), the per-attempt timeout, how long a worker holds a delivery before another may take
# it (must exceed the timeout), how often each worker runs its upkeep, when `token.expiring` is sent
# (days before expires_at) and the budget percentages that send `budget.threshold_crossed`.
PROMPTGATE_WEBHOOK_WORKERS = env_int("PROMPTGATE_WEBHOOK_WORKERS", 1)
PROMPTGATE_WEBHOOK_TIMEOUT_SECONDS = env_float("PROMPTGATE_WEBHOOK_TIMEOUT_SECONDS", 15.0)
PROMPTGATE_WEBHOOK_LEASE_SECONDS = env_float(
    "PROMPTGATE_WEBHOOK_LEASE_SECONDS", PROMPTGATE_WEBHOOK_TIMEOUT_SECONDS + 15
)
PROMPTGATE_WEBHOOK_UPKEEP_SECONDS = env_float("PROMPTGATE_WEBHOOK_UPKEEP_SECONDS", 10.0)
PROMPTGATE_TOKEN_EXPIRY_WARNING_DAYS = env_ints("PROMPTGATE_TOKEN_EXPIRY_WARNING_DAYS", [7, 1])
PROMPTGATE_BUDGET_ALERT_PERCENTS = env_ints("PROMPTGATE_BUDGET_ALERT_PERCENTS", [50, 80, 100])
# The window of one `guardrail.blocked` event (its count sums the window's blocks; Redis sums them
# across processes when REDIS_URL is set). Tests shorten it.
PROMPTGATE_GUARDRAIL_EVENT_SECONDS = env_int("PROMPTGATE_GUARDRAIL_EVENT_SECONDS", 60)

# AI gateway: one provider attempt's timeout before failover moves on (a template's `timeout` option
# wins), and the largest AI endpoint variable and rendered prompt (characters).
PROMPTGATE_AI_ATTEMPT_TIMEOUT = env_float("PROMPTGATE_AI_ATTEMPT_TIMEOUT", 120.0)
PROMPTGATE_AI_MAX_VARIABLE_CHARS = env_int("PROMPTGATE_AI_MAX_VARIABLE_CHARS", 100_000)
PROMPTGATE_AI_MAX_PROMPT_CHARS = env_int("PROMPTGATE_AI_MAX_PROMPT_CHARS", 400_000)

# MCP gateway: the largest JSON-RPC message (or batch) accepted on POST (413 past it); how long an
# unused session lives; how long an upstream's list pages are reused (config changes drop them at
# once); the most items one list answer holds before the gateway pages with its own cursor; browser
# origins allowed besides the gateway's own host.
PROMPTGATE_MCP_MAX_MESSAGE_BYTES = env_int("PROMPTGATE_MCP_MAX_MESSAGE_BYTES", 1024 * 1024)
PROMPTGATE_MCP_SESSION_TTL_SECONDS = env_int("PROMPTGATE_MCP_SESSION_TTL_SECONDS", 3600)
PROMPTGATE_MCP_LIST_CACHE_SECONDS = env_float("PROMPTGATE_MCP_LIST_CACHE_SECONDS", 30.0)
PROMPTGATE_MCP_LIST_MAX_ITEMS = max(1, env_int("PROMPTGATE_MCP_LIST_MAX_ITEMS", 1000))
PROMPTGATE_MCP_ALLOWED_ORIGINS = frozenset(
    origin.rstrip("/").lower() for origin in env_list("PROMPTGATE_MCP_ALLOWED_ORIGINS", [])
)

# The upstream HTTP client's connection pool, per process: all hosts (0: unbounded) and per host.
PROMPTGATE_UPSTREAM_MAX_CONNECTIONS = env_int("PROMPTGATE_UPSTREAM_MAX_CONNECTIONS", 0)
PROMPTGATE_UPSTREAM_MAX_PER_HOST = env_int("PROMPTGATE_UPSTREAM_MAX_PER_HOST", 1024)

# OAuth presets' provider URLs rebased onto local stand-ins, {preset: base URL}. Not read from the
# environment: the test suite sets it, so the OAuth flows run against a local provider.
PROMPTGATE_OAUTH_PRESET_OVERRIDES: dict[str, str] = {}

INSTALLED_APPS = [
    "console.apps.ConsoleAdminConfig",  # Django's admin with PromptGate's site (console/site.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "audit",
    "projects",
    "credentials",
    "gateways.common",
    "gateways.http",
    "gateways.ai",
    "gateways.mcp",
    "gateways.guardrails",
    "django_tasks",
    "django_tasks_db",
    "webhooks",
]

# Background work (webhook deliveries) through Django's Tasks API: task rows in the main database,
# run by `manage.py webhook_worker` processes (an RQ or Celery backend is a setting away).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "webhooks"]}}

MIDDLEWARE = [
    "audit.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "promptgate.middleware.ManagementSlashMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "promptgate.middleware.PasswordChangeRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "promptgate.urls"
CSRF_FAILURE_VIEW = "promptgate.errors.csrf_failure"
ASGI_APPLICATION = "promptgate.asgi.application"
WSGI_APPLICATION = "promptgate.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            # The console's filters (console/ is the admin app's config, not an app of its own).
            "libraries": {"humanize_console": "console.templatetags.humanize_console"},
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", "")
# PostgreSQL connections in each process's pool.
PROMPTGATE_DB_POOL_SIZE = env_int("PROMPTGATE_DB_POOL_SIZE", 10)
# Tests: the test database's name (PostgreSQL), or its file under var/ (SQLite), so two suites can
# share one server.
PROMPTGATE_TEST_DB_NAME = env_str("PROMPTGATE_TEST_DB_NAME", "")
# Set by a serving process for its request-log child (gateways/common/log_process.py): the database
# the parent writes to, which under tests is the test database the parent was switched to.
PROMPTGATE_LOG_PROCESS_DB_NAME = env_str("PROMPTGATE_LOG_PROCESS_DB_NAME", "")
if DATABASE_URL:
    try:
        _db = env.db_url_config(DATABASE_URL)
    except (ImproperlyConfigured, KeyError) as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from exc
else:
    _db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "promptgate.sqlite3")}

# Under ASGI a persistent connection per thread leaks; PostgreSQL gets Django's pool instead.
_db["CONN_MAX_AGE"] = 0
if _db["ENGINE"] == "django.db.backends.postgresql":
    _db["ENGINE"] = "django.db.backends.postgresql"
    _db.setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": PROMPTGATE_DB_POOL_SIZE,
        "timeout": 10,
    }
    _db["TEST"] = {"NAME": PROMPTGATE_TEST_DB_NAME or "test_promptgate"}
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the data plane read while the writer flushes; the timeout rides out short locks.
    _db.setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file (not :memory:) so threads and helper processes in the tests see one database.
    _db["TEST"] = {"NAME": str(VAR_DIR / (PROMPTGATE_TEST_DB_NAME or "test.sqlite3"))}
if PROMPTGATE_LOG_PROCESS_DB_NAME:
    _db["NAME"] = PROMPTGATE_LOG_PROCESS_DB_NAME
# Every management request is one transaction: nothing is half written.
_db["ATOMIC_REQUESTS"] = True
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Redis ------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
# Prefix for every key PromptGate writes to Redis, so tests and several installs can share one.
PROMPTGATE_REDIS_PREFIX = env_str("PROMPTGATE_REDIS_PREFIX", "pg")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": PROMPTGATE_REDIS_PREFIX,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

SESSION_ENGINE = "django.contrib.sessions.backends.db"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]  # the console's own style (no CDN: served by the gateway)
DATA_UPLOAD_MAX_MEMORY_SIZE = PROMPTGATE_MAX_BODY_BYTES

# --- Management API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DOT's class, except that a client-credentials token acts as its application's owner.
        "projects.api.authentication.ApplicationUserOAuth2Authentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "promptgate.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "promptgate.errors.drf_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PromptGate management API",
    "DESCRIPTION": "Automation API for projects, tokens, endpoints and the audit trail.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/manage/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI's scripts, styles and favicon from our own static files, not a CDN: the docs page
    # works on a machine without internet (issue 21 point 6).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several resources have a `provider` or `status` field with different choices: name each set.
    "ENUM_NAME_OVERRIDES": {
        "AIProviderEnum": "gateways.ai.providers.registry.PROVIDER_CHOICES",
        "OAuthStatusEnum": "credentials.models.OAuthStatus",
        "TokenStatusEnum": ["active", "expired", "revoked"],
    },
}
OAUTH2_PROVIDER = {
    "SCOPES": {"manage": "Use the PromptGate management API"},
    "DEFAULT_SCOPES": ["manage"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
    # Store access and refresh tokens as digests, never as plaintext (RFC 9700 section 4.14).
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    # Client secrets are hashed by DOT (shown once by create_api_client).
}

LOGIN_URL = "/admin/login/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # httpx logs every URL it calls at INFO, query strings included: those may carry secrets.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
