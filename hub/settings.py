"""Hub settings: read from the environment only (see README "Configuration").

With no ``DATABASE_URL`` / ``REDIS_URL`` the embedded servers under ``var/`` are used
(``hub/embedded.py``); with them set, those servers are used. ``DEBUG`` is off unless
asked for, and there is no fallback secret key outside the dev runner and tests.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from hub import embedded
from hub.env import env, env_bool, env_float, env_int, env_list, env_str

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
    "template_partials",
    "models_admin",
    "runtimes",
]

MIDDLEWARE = [
    "hub.context.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
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


def _database_from_url(url: str) -> dict[str, object]:
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ImproperlyConfigured(f"DATABASE_URL: only PostgreSQL is supported, got {parts.scheme!r}")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = query.pop("host", None) or (parts.hostname or "")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")) or "postgres",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 0),
        "OPTIONS": query,
        "TEST": {"NAME": env("DATABASE_TEST_NAME")},
    }


DATABASE_URL = env("DATABASE_URL") or embedded.postgres_url()
REDIS_URL = env("REDIS_URL") or embedded.redis_url()

DATABASES = {"default": _database_from_url(DATABASE_URL)}
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
STATIC_ROOT = VAR_DIR / "staticfiles"

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

# Hub behaviour.
HUB_RECONCILE_INTERVAL_S = env_float("HUB_RECONCILE_INTERVAL_S", 10.0)
HUB_HEALTH_INTERVAL_S = env_float("HUB_HEALTH_INTERVAL_S", 30.0)
HUB_RUNTIME_LOG_DIR = Path(env_str("HUB_RUNTIME_LOG_DIR", str(VAR_DIR / "runtimes")))
# A start waiting this long while no live worker consumes its host's queue is failed.
HUB_START_PICKUP_TIMEOUT_S = env_float("HUB_START_PICKUP_TIMEOUT_S", 60.0)
