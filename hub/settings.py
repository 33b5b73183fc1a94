"""Hub settings: read from the environment only (see README "Configuration").

With no ``DATABASE_URL`` / ``REDIS_URL`` the embedded servers under ``var/`` are used
(``hub/embedded.py``); with them set, those servers are used. ``DEBUG`` is off unless
asked for, and there is no fallback secret key outside the dev runner and tests.
"""

from __future__ import annotations

import os
import socket
import sys
import tomllib
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from hub import embedded
from hub.env import database_from_url, env, env_bool, env_float, env_int, env_list, env_str
from runtimes.launch_policy import default_allowed_executables
from runtimes.upstream import DEFAULT_SECRET_TTL_S, Network, parse_networks

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = embedded.VAR_DIR

# Test runs and the type checker (django-stubs imports settings) need no secret.
RUNNING_TESTS = "pytest" in sys.modules or "mypy" in sys.modules or env_bool("HUB_TESTING")
DEV_RUNNER = env_bool("HUB_DEV")  # set by `manage.py up` in embedded mode

DEBUG = env_bool("DEBUG", False)

EMBEDDED_DATABASE = not env("DATABASE_URL")
EMBEDDED_REDIS = not env("REDIS_URL")


def _dev_secret_key() -> str:
    """A per-checkout key under var/, so dev sessions survive restarts of `up`."""
    import secrets

    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env("SECRET_KEY") or ""
if not SECRET_KEY:
    if DEBUG or DEV_RUNNER or RUNNING_TESTS or EMBEDDED_DATABASE:
        SECRET_KEY = _dev_secret_key()
    else:
        raise ImproperlyConfigured("SECRET_KEY: must be set (or SECRET_KEY_FILE) when DEBUG is off")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "ninja",  # serves Swagger UI's files itself at /api/docs (no CDN)
    "template_partials",
    "models_admin",
    "runtimes",
]

MIDDLEWARE = [
    "core.context.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves /static/ in every mode (uvicorn under `up`, the image): no web server in front needed.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, so the user is known for its page; still before any view (or CSRF check) reads the body.
    "hub.middleware.BodyLimitMiddleware",
]

ROOT_URLCONF = "hub.urls"
WSGI_APPLICATION = "hub.wsgi.application"
ASGI_APPLICATION = "hub.asgi.application"

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
            ],
        },
    },
]


# Least privilege (docs/security.md, "Database roles"): the app connects as DATABASE_URL's role,
# `manage.py migrate` as DATABASE_OWNER_URL's, then grants the app role rows only (never DDL,
# TRUNCATE or triggers; SELECT/INSERT on the audit table). Unset: migrations run as DATABASE_URL.
DATABASE_OWNER_URL = env("DATABASE_OWNER_URL") or ""
if DATABASE_OWNER_URL and EMBEDDED_DATABASE:
    raise ImproperlyConfigured("DATABASE_OWNER_URL: set DATABASE_URL too (embedded mode makes its own roles)")

# The type checker (django-stubs) only reads settings: it gets addresses, not servers started
# under var/ that would outlive it.
TYPE_CHECKING_ONLY = "mypy" in sys.modules and "pytest" not in sys.modules
if TYPE_CHECKING_ONLY:
    DATABASE_URL = env("DATABASE_URL") or "postgresql://localhost/hub"
    REDIS_URL = env("REDIS_URL") or "redis://localhost:6379/0"
else:
    DATABASE_URL = env("DATABASE_URL") or embedded.postgres_url()
    REDIS_URL = env("REDIS_URL") or embedded.redis_url()

DATABASES = {"default": database_from_url(DATABASE_URL)}
if DATABASE_OWNER_URL:
    _owner, _app = database_from_url(DATABASE_OWNER_URL, "DATABASE_OWNER_URL"), DATABASES["default"]
    if _owner["NAME"] != _app["NAME"]:
        raise ImproperlyConfigured(
            f"DATABASE_OWNER_URL: names database {_owner['NAME']!r}, DATABASE_URL names {_app['NAME']!r}"
        )
    if not _app["USER"]:
        raise ImproperlyConfigured("DATABASE_URL: name the app role's user when DATABASE_OWNER_URL is set")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def celery_url(url: str) -> str:
    """Kombu spells a unix-socket Redis ``redis+socket://``; redis-py spells it ``unix://``."""
    if url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://")
    return url


CELERY_BROKER_URL = celery_url(env("CELERY_BROKER_URL") or REDIS_URL)

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "hub",
    }
}

SESSION_ENGINE = "django.contrib.sessions.backends.db"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "models_admin:model-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Tests serve the sources (below) and collect only into their own folder.
STATIC_ROOT = None if RUNNING_TESTS else VAR_DIR / "staticfiles"
# Served by WhiteNoise from STATIC_ROOT, which `collectstatic` fills (`up` runs it, the image
# runs it at build): compressed copies and content-hashed names, cached for a year. Tests and
# DEBUG serve the source files as they are (no collectstatic needed, edits show at once).
_SOURCE_STATIC = DEBUG or RUNNING_TESTS
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if _SOURCE_STATIC
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = _SOURCE_STATIC

# Security: secure by default; the dev runner and tests serve plain HTTP on loopback.
_PLAIN_HTTP = DEBUG or DEV_RUNNER or RUNNING_TESTS or env_bool("HUB_INSECURE_HTTP")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not _PLAIN_HTTP)
SESSION_COOKIE_SECURE = not _PLAIN_HTTP
CSRF_COOKIE_SECURE = not _PLAIN_HTTP
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if _PLAIN_HTTP else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not _PLAIN_HTTP
SECURE_HSTS_PRELOAD = not _PLAIN_HTTP
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # LOG_FORMAT=json: one JSON object per line with the request id (hub/logging.py).
    "formatters": {"json": {"()": "hub.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            **({"formatter": "json"} if env_str("LOG_FORMAT", "text").lower() == "json" else {}),
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Hub behaviour. Every HUB_* setting is declared here, once, with its type and default; code reads
# it from django.conf.settings (docs/architecture.md, "Add a setting"). Each also accepts
# <NAME>_FILE (hub/env.py).

# Serving. Processes serving the web port (Hub-UI, API, gateway): `up` and the image (hub/serve.py).
# Limits hold across them (Redis); default: one per CPU core.
HUB_GATEWAY_WORKERS = env_int("HUB_GATEWAY_WORKERS", os.cpu_count() or 1)

# Governance. Single-admin installs only: lets the author approve their own revision (the UI warns).
HUB_ALLOW_SELF_APPROVAL = env_bool("HUB_ALLOW_SELF_APPROVAL", False)

# Lifecycle (runtimes/lifecycle/). Beat runs reconcile and health checks this often.
HUB_RECONCILE_INTERVAL_S = env_float("HUB_RECONCILE_INTERVAL_S", 10.0)
HUB_HEALTH_INTERVAL_S = env_float("HUB_HEALTH_INTERVAL_S", 30.0)
HUB_RUNTIME_LOG_DIR = Path(env_str("HUB_RUNTIME_LOG_DIR", str(VAR_DIR / "runtimes")))
# This machine's name as `runtime.host` spells it; its Celery queue is `hub.host.<name>`.
HUB_HOST_NAME = env_str("HUB_HOST_NAME", socket.gethostname())
# Failed starts (or crashes) in a row before an asset is `failed`; backoff between them.
HUB_RESTART_MAX_ATTEMPTS = env_int("HUB_RESTART_MAX_ATTEMPTS", 5)
HUB_BACKOFF_BASE_S = env_float("HUB_BACKOFF_BASE_S", 2.0)
HUB_BACKOFF_CAP_S = env_float("HUB_BACKOFF_CAP_S", 300.0)
# Healthy this long after becoming ready: the failure count starts over.
HUB_STABLE_AFTER_S = env_float("HUB_STABLE_AFTER_S", 60.0)
# Deliveries of one task (its worker died each time) before the asset is `failed`.
HUB_TASK_MAX_DELIVERIES = env_int("HUB_TASK_MAX_DELIVERIES", 3)
# Longest pause between two readiness probes while a runtime starts.
HUB_READY_POLL_MAX_S = env_float("HUB_READY_POLL_MAX_S", 0.1)
# `Retry-After` for a runtime never started before.
HUB_DEFAULT_LOAD_ESTIMATE_S = env_int("HUB_DEFAULT_LOAD_ESTIMATE_S", 10)

# A valid token check is reused this long by the API and the gateway (models_admin/credentials.py);
# a change to a token, user or role still takes effect on the next request (generation counter).
HUB_TOKEN_CACHE_S = env_float("HUB_TOKEN_CACHE_S", 300.0)

# Gateway (runtimes/gateway/). How long a request waits for a model that is waking; how long a
# resolved target is cached; the upstream read timeout; Redis pool size.
HUB_GATEWAY_WAKE_WAIT_S = env_float("HUB_GATEWAY_WAKE_WAIT_S", 30.0)
HUB_GATEWAY_CACHE_TTL_S = env_float("HUB_GATEWAY_CACHE_TTL_S", 60.0)
HUB_GATEWAY_READ_TIMEOUT_S = env_float("HUB_GATEWAY_READ_TIMEOUT_S", 300.0)
HUB_GATEWAY_REDIS_CONNECTIONS = env_int("HUB_GATEWAY_REDIS_CONNECTIONS", 256)

# Usage metrics (runtimes/metrics/): per-minute rollups kept this many days, folded this often.
HUB_USAGE_RETENTION_DAYS = env_int("HUB_USAGE_RETENTION_DAYS", 30)
HUB_USAGE_AGGREGATE_INTERVAL_S = env_float("HUB_USAGE_AGGREGATE_INTERVAL_S", 10.0)
# Who may scrape /metrics without a token (CIDRs; default loopback); empty: a `read` token is needed.
HUB_METRICS_ALLOWED_NETWORKS = env_list("HUB_METRICS_ALLOWED_NETWORKS", ["127.0.0.1/32", "::1/128"])

# What runtimes may be and see (docs/runtimes.md). The allow-list replaces the default when set:
# names are looked up on the PATH, paths match exactly; an empty value allows nothing.
HUB_LAUNCH_ALLOWED_EXECUTABLES = env_list("HUB_LAUNCH_ALLOWED_EXECUTABLES", default_allowed_executables())
HUB_RUNTIME_SECRETS_DIR = env("HUB_RUNTIME_SECRETS_DIR") or None
HUB_RUNTIME_SECRET_CACHE_S = env_float("HUB_RUNTIME_SECRET_CACHE_S", DEFAULT_SECRET_TTL_S)


def _project_version() -> str:
    path = BASE_DIR / "pyproject.toml"
    if not path.is_file():
        return "unknown"
    with path.open("rb") as fh:
        return str(tomllib.load(fh).get("project", {}).get("version") or "unknown")


def _optional_float(name: str) -> float | None:
    """A number from the environment, or None when unset or empty."""
    value = env(name)
    return None if value is None or not value.strip() else env_float(name, 0.0)


def _networks(name: str) -> list[Network]:
    try:
        return parse_networks(env_list(name, []))
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None


HUB_RUNTIME_ALLOWED_NETWORKS = _networks("HUB_RUNTIME_ALLOWED_NETWORKS")

# The longest a concurrency lease is taken or renewed for: a caller that dies holds a slot
# at most this long; one still working renews.
HUB_LEASE_MAX_TTL_S = env_float("HUB_LEASE_MAX_TTL_S", 300.0)
# Input limits (models_admin/limits.py): bad input is a 4xx naming the limit, never a 500.
HUB_MAX_BODY_BYTES = env_int("HUB_MAX_BODY_BYTES", 2 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = HUB_MAX_BODY_BYTES
HUB_MAX_DOCUMENT_BYTES = env_int("HUB_MAX_DOCUMENT_BYTES", 64 * 1024)
HUB_MAX_DOCUMENT_DEPTH = env_int("HUB_MAX_DOCUMENT_DEPTH", 32)
HUB_GATEWAY_MAX_BODY_BYTES = env_int("HUB_GATEWAY_MAX_BODY_BYTES", 32 * 1024 * 1024)
HUB_MAX_JSON_DEPTH = env_int("HUB_MAX_JSON_DEPTH", 64)
# A gateway process's concurrency slots and queue places live this long unless its heartbeat
# (every HUB_GATEWAY_HEARTBEAT_S) renews them: a process that dies frees them within this time.
HUB_GATEWAY_LEASE_TTL_S = env_float("HUB_GATEWAY_LEASE_TTL_S", 8.0)
HUB_GATEWAY_HEARTBEAT_S = env_float("HUB_GATEWAY_HEARTBEAT_S", 2.0)
# A streamed request waiting in a model's queue gets an SSE comment this often (proxies keep it).
HUB_GATEWAY_QUEUE_KEEPALIVE_S = env_float("HUB_GATEWAY_QUEUE_KEEPALIVE_S", 5.0)
# A start waiting this long while no live worker consumes its host's queue is failed.
HUB_START_PICKUP_TIMEOUT_S = env_float("HUB_START_PICKUP_TIMEOUT_S", 60.0)

# Hosts and capacity (runtimes/hosts/, docs/capacity.md).
# The version a worker reports in its host's heartbeat (str; default: pyproject.toml's).
HUB_VERSION = env_str("HUB_VERSION", _project_version())
# How often a worker heartbeats its host (name, GPUs, RAM, CPUs, queues), and how old a
# heartbeat may be before the host is unreachable (its runtimes are marked so, and moved).
HUB_HOST_HEARTBEAT_S = env_float("HUB_HOST_HEARTBEAT_S", 5.0)
HUB_HOST_STALE_S = env_float("HUB_HOST_STALE_S", 30.0)
# Declared capacity of this worker's host in GB (float, or None: unset), replacing what it
# measures (NVML, the kernel): for CPU hosts, and for tests.
HUB_HOST_VRAM_GB = _optional_float("HUB_HOST_VRAM_GB")
HUB_HOST_RAM_GB = _optional_float("HUB_HOST_RAM_GB")
# A start placed into room an eviction frees waits for that stop at most this long.
HUB_EVICTION_WAIT_S = env_float("HUB_EVICTION_WAIT_S", 60.0)
