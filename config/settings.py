"""PromptLedger settings: the only module that reads the environment.

With nothing set, the product runs on its embedded default (SQLite, local-memory
cache, a Celery broker on the filesystem). Production sets DATABASE_URL,
REDIS_URL and CELERY_BROKER_URL.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use true or false.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if env_bool("HTTPS_ONLY", False):
        raise ImproperlyConfigured("SECRET_KEY is not set: export a long random SECRET_KEY.")
    # Embedded default only; `check --deploy` flags this key as insecure.
    SECRET_KEY = "django-insecure-embedded-default-set-SECRET_KEY-in-production-0123456789"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

VAR_DIR = Path(env_str("PROMPTLEDGER_VAR_DIR", str(BASE_DIR / "var")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "prompts_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before CSRF, the first to read a form body: see the module.
    "prompts_app.infra.middleware.InputHygieneMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],  # admin/base_site.html: favicon and stylesheet
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

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
    )
}
# A connection kept across requests is checked before reuse, so a database
# restart costs no failed request.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent writers (web + embedded worker) need WAL and a busy timeout.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "pl"),
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# No internet at run time: static files (admin, Swagger UI from the sidecar
# package) are served by WhiteNoise straight from the installed packages.
WHITENOISE_USE_FINDERS = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

# The largest request body, in bytes, of any API call or admin form (Django's
# default, 2.5 MB): a larger API request is a 413 naming the limit, a larger admin
# form a page saying so. Templates are capped far lower (100,000 characters).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BODY_BYTES", 2_621_440)

# The window a usage event's timestamp must fall in: no older than the ledger's
# longest view (`days` up to 400, today included; an older event could never be
# shown) and no more than this many seconds ahead of the server's clock.
USAGE_MAX_AGE_DAYS = env_int("USAGE_MAX_AGE_DAYS", 400)
USAGE_MAX_FUTURE_SECONDS = env_int("USAGE_MAX_FUTURE_SECONDS", 300)

# How long a process trusts an API-key lookup: a revocation reaches other
# processes within this many seconds (0: look every request up).
API_KEY_CACHE_SECONDS = env_int("API_KEY_CACHE_SECONDS", 10)

# Failed API-key authentications allowed per client address per minute.
AUTH_FAILURES_PER_MINUTE = env_int("AUTH_FAILURES_PER_MINUTE", 20)

# Behind a TLS-terminating proxy in production: HTTPS_ONLY=true turns on the
# secure cookies, HSTS and HTTPS redirect that `check --deploy` asks for.
HTTPS_ONLY = env_bool("HTTPS_ONLY", False)
if HTTPS_ONLY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["prompts_app.api.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["prompts_app.api.auth.HasProjectScope"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["prompts_app.api.parsers.CheckedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "prompts_app.api.errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "PromptLedger API",
    "DESCRIPTION": "Versioned prompts, rendering, eval runs and the token-cost ledger.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name per choice set shared by several fields.
    "ENUM_NAME_OVERRIDES": {
        # EvalRun.STATUS_CHOICES' values (settings load before the models can be imported)
        "EvalRunStatusEnum": [
            "queued", "running", "passed", "failed", "error", "rendered", "no_cases"
        ],
        "CandidateStatusEnum": "prompts_app.selectors.evals.CANDIDATE_STATUSES",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "prompts_app.api.schema_hooks.add_error_responses",
    ],
}

# Exposes the bare baseline endpoint that `manage.py bench` measures against.
BENCHMARK_ENDPOINTS = env_bool("BENCHMARK_ENDPOINTS", False)

# How long a resolved prompt stays in the cache; label moves and new versions
# invalidate it at once, so this only bounds memory.
RESOLVE_CACHE_SECONDS = env_int("RESOLVE_CACHE_SECONDS", 3600)

# Celery: Redis in production; with no broker configured, a filesystem broker
# that needs no server, so the embedded default runs eval jobs too.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "filesystem://"
    _broker_dir = VAR_DIR / "celery-broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(VAR_DIR / "celery-processed"),
        "control_folder": str(VAR_DIR / "celery-control"),
        "store_processed": False,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 270)
CELERY_TIMEZONE = "UTC"

# Eval providers name the environment variable holding their API key; only
# variables whose names end in KEY or TOKEN are read, once, here.
PROVIDER_API_KEYS = {
    name: value
    for name, value in os.environ.items()
    if name.endswith(("KEY", "TOKEN")) and name != "SECRET_KEY"
}
PROVIDER_BACKOFF_SECONDS = float(env_str("PROVIDER_BACKOFF_SECONDS", "0.5"))

CELERY_BEAT_SCHEDULE = {
    "eval-runs-sweep": {"task": "prompts_app.tasks.eval_runs_sweep", "schedule": 60.0},
    "deliveries-sweep": {"task": "prompts_app.tasks.deliveries_sweep", "schedule": 60.0},
    # The daily fine-tuning advice pass over every prompt.
    "advice-pass": {"task": "prompts_app.tasks.advice_pass_all", "schedule": 24 * 3600.0},
}

# Alerts are emailed; with no EMAIL_HOST they are printed to the worker's log.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "promptledger@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
