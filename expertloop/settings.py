"""Settings, all from the environment (12-factor); bad values fail at start-up, not at first use.

See the configuration table in README.md.
"""

import logging
import re
import warnings
import zoneinfo
from datetime import UTC, datetime
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from expertloop import mail

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()


# Every variable is read through these: an unset or empty value (a `.env` line `NAME=`) means the default, blanks
# around a value are ignored, and a value that does not parse stops the start with a message naming the variable
# (environ's own casts raised a bare "invalid literal for int() with base 10: ''").
def env_text(name: str, *, default: str = "") -> str:
    return env.str(name, default="").strip() or default


def _env_number(name: str, *, default, cast, kind: str):
    raw = env_text(name)
    if not raw:
        return default
    try:
        return cast(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not {kind}.") from None


def env_int(name: str, *, default: int) -> int:
    return _env_number(name, default=default, cast=int, kind="a whole number")


def env_float(name: str, *, default: float) -> float:
    return _env_number(name, default=default, cast=float, kind="a number")


def env_list(name: str, *, default: list[str]) -> list[str]:
    """Comma-separated; "a.example.com, b.example.com" is two names, not "a.example.com" and " b.example.com"."""
    raw = env_text(name)
    if not raw:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_bool(name: str, *, default: bool) -> bool:
    """Like env.bool, but a value that is neither true nor false is an error, not False."""
    raw = env_text(name).lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use true or false.")


DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required unless DEBUG=true.")
    # Only for local development: DEBUG is on and no secret was given.
    SECRET_KEY = "insecure-dev-only-key-do-not-deploy"
# Former keys, comma-separated, still accepted after SECRET_KEY changed: sessions, password reset links and webhook
# signing secrets made with them keep working until `reseal_webhook_secrets` has run and they are dropped.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", default=[])

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])

TIME_ZONE = env_text("TIME_ZONE", default="UTC")
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
    raise ImproperlyConfigured(f"TIME_ZONE={TIME_ZONE!r} is not a known IANA time zone.") from exc
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = False

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Full-text search types and lookups for the explore page (PostgreSQL; inert on the SQLite demo).
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "labeling",
    "api",
    # Single sign-on through OpenID Connect (README "Sign-in"); after labeling so its templates win.
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Caps concurrent sign-ins per process before any session, CSRF or database work (SIGNIN_MAX_CONCURRENT_CHECKS).
    "labeling.web.signin.SignInGateMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Every response below static files: Cache-Control: no-store unless the view set its own.
    "expertloop.middleware.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # With DEBUG on, an unmatched /api/ URL answers the API's JSON 404 too, not Django's HTML debug page.
    "expertloop.middleware.ApiNotFoundMiddleware",
    # Under /api/ every moment is written in UTC with `Z`, whatever TIME_ZONE the pages and logs read in.
    "expertloop.middleware.ApiMomentsInUtcMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # A NUL or lone surrogate in the URL path or a query parameter is a 400 here, never a database error later.
    "expertloop.middleware.RefuseUnstorableInputMiddleware",
    "labeling.web.errors.DomainErrorMiddleware",
    # A database that is down, unreachable or too slow: 503 with Retry-After (JSON under /api/).
    "expertloop.middleware.DatabaseUnavailableMiddleware",
    # Turns a sign-in refused by labeling.web.signin.ThrottledModelBackend into a 429 page.
    "labeling.web.signin.SignInThrottleMiddleware",
]

ROOT_URLCONF = "expertloop.urls"
WSGI_APPLICATION = "expertloop.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Absent DATABASE_URL → a SQLite file for a first look; production uses PostgreSQL.
VAR_DIR.mkdir(exist_ok=True)
try:
    DATABASES = {
        "default": env.db_url_config(env_text("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'expertloop.sqlite3'}"))
    }
except (ValueError, ImproperlyConfigured) as exc:
    # Not the URL itself: it holds the password.
    raise ImproperlyConfigured(
        f"DATABASE_URL is not a database URL such as postgres://user:password@host:5432/name ({exc})."
    ) from None
# Any other engine would fail later and less clearly: a KeyError for a URL without a scheme, "did you install
# mysqlclient?" for MySQL, which the app cannot run on anyway. Named by its scheme only: the URL holds the password.
_database_scheme = env_text("DATABASE_URL", default="sqlite://").partition("://")
if not _database_scheme[1]:
    raise ImproperlyConfigured("DATABASE_URL is not a database URL such as postgres://user:password@host:5432/name.")
if DATABASES["default"].get("ENGINE") not in {"django.db.backends.postgresql", "django.db.backends.sqlite3"}:
    raise ImproperlyConfigured(
        f"DATABASE_URL must be PostgreSQL's (postgres://user:password@host:5432/name), or SQLite's for a first look "
        f"(sqlite:////absolute/path.sqlite3): expertloop runs on no other database, not on {_database_scheme[0]}://."
    )
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", default=60)
if DATABASES["default"]["CONN_MAX_AGE"] < 0:
    raise ImproperlyConfigured("DB_CONN_MAX_AGE must be 0 (a connection per request) or a number of seconds.")
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A database that is down or hung answers 503 within seconds instead of holding a web worker: connections
# give up after DB_CONNECT_TIMEOUT, statements of web and API requests after DB_STATEMENT_TIMEOUT (seconds;
# 0 = none). Celery workers and management commands use DB_TASK_STATEMENT_TIMEOUT (expertloop/db.py).
DB_CONNECT_TIMEOUT = env_int("DB_CONNECT_TIMEOUT", default=3)
DB_STATEMENT_TIMEOUT = env_int("DB_STATEMENT_TIMEOUT", default=30)
DB_TASK_STATEMENT_TIMEOUT = env_int("DB_TASK_STATEMENT_TIMEOUT", default=3600)
if DB_CONNECT_TIMEOUT < 1:
    raise ImproperlyConfigured("DB_CONNECT_TIMEOUT must be a positive integer (seconds).")
# PostgreSQL notices a client that died (a worker killed mid-close) only when it next writes to it, so the dead
# client's statement would run on to its end holding its locks; every DB_CLIENT_CHECK_INTERVAL seconds a backend
# in a statement checks its client is still there and cancels the statement if not (PostgreSQL 14+; 0 = never).
DB_CLIENT_CHECK_INTERVAL = env_int("DB_CLIENT_CHECK_INTERVAL", default=5)
for _name in ("DB_STATEMENT_TIMEOUT", "DB_TASK_STATEMENT_TIMEOUT"):
    if globals()[_name] < 0:
        raise ImproperlyConfigured(f"{_name} must be 0 (no limit) or a number of seconds.")
if DB_CLIENT_CHECK_INTERVAL < 0:
    raise ImproperlyConfigured("DB_CLIENT_CHECK_INTERVAL must be 0 (never check) or a number of seconds.")
DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", default=True)  # read on SQLite too: a typo fails anywhere
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["connect_timeout"] = DB_CONNECT_TIMEOUT
    # jit off: JIT compiled short explore counts for 0.2-0.3 s each (bench/README.md, W5), and nothing we run
    # is a long analytic scan that would repay it.
    _options["options"] = (
        f"{_options.get('options', '')} -c statement_timeout={DB_STATEMENT_TIMEOUT}s -c jit=off"
        # Left out at 0: a server older than PostgreSQL 14 refuses a connection that names the setting at all.
        + (f" -c client_connection_check_interval={DB_CLIENT_CHECK_INTERVAL}s" if DB_CLIENT_CHECK_INTERVAL else "")
    ).strip()
    # Server-side prepared statements for the statements that bind their parameters on the server: the labeling
    # screen's compiled queries (labeling/rules/prepared.py) and ingest's INSERT. Planning was most of their
    # PostgreSQL time (the item query: 0.7 ms to plan, 0.1 ms to run). Django's own cursors inline parameters into
    # the SQL and never prepare. Off (DB_PREPARED_STATEMENTS=false) behind a pooler in transaction mode that does
    # not keep prepared statements (PgBouncer before 1.21, or without max_prepared_statements).
    _options["prepare_threshold"] = 5 if DB_PREPARED_STATEMENTS else None  # psycopg's 5
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo's runserver and an eager Celery share one file: wait for locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Sign-in throttling (README "Sign-in throttling"): locks per account and per client address, checked
# before any password is hashed; each lockout in a row lasts twice as long as the one before.
AUTHENTICATION_BACKENDS = ["labeling.web.signin.ThrottledModelBackend"]
SIGNIN_ACCOUNT_FAILURE_LIMIT = env_int("SIGNIN_ACCOUNT_FAILURE_LIMIT", default=10)
SIGNIN_ADDRESS_FAILURE_LIMIT = env_int("SIGNIN_ADDRESS_FAILURE_LIMIT", default=30)
SIGNIN_LOCKOUT_SECONDS = env_int("SIGNIN_LOCKOUT_SECONDS", default=300)
SIGNIN_LOCKOUT_MAX_SECONDS = env_int("SIGNIN_LOCKOUT_MAX_SECONDS", default=24 * 3600)
SIGNIN_FORGET_AFTER_SECONDS = env_int("SIGNIN_FORGET_AFTER_SECONDS", default=24 * 3600)
# Sign-ins (password checks, ~0.3 s of CPU each) run at once per web process; more get a 429. 0 = no cap.
SIGNIN_MAX_CONCURRENT_CHECKS = env_int("SIGNIN_MAX_CONCURRENT_CHECKS", default=1)
# Reverse proxies in front of the app that append to X-Forwarded-For (0: the client address is REMOTE_ADDR).
SIGNIN_PROXY_COUNT = env_int("SIGNIN_PROXY_COUNT", default=0)
for _name in (
    "SIGNIN_ACCOUNT_FAILURE_LIMIT", "SIGNIN_ADDRESS_FAILURE_LIMIT", "SIGNIN_LOCKOUT_SECONDS",
    "SIGNIN_LOCKOUT_MAX_SECONDS", "SIGNIN_FORGET_AFTER_SECONDS",
):  # fmt: skip
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be a positive integer.")
if SIGNIN_MAX_CONCURRENT_CHECKS < 0 or SIGNIN_PROXY_COUNT < 0:
    raise ImproperlyConfigured("SIGNIN_MAX_CONCURRENT_CHECKS and SIGNIN_PROXY_COUNT must be 0 or more.")
LOGIN_URL = "login"
# A form whose token a sign-in elsewhere renewed: a page that says so (label.js keeps the answers), not Django's.
CSRF_FAILURE_VIEW = "labeling.web.errors.csrf_failure"
LOGIN_REDIRECT_URL = "labeling:home"
LOGOUT_REDIRECT_URL = "login"
# Password reset by email (README "Sign-in"): how long a reset link works, in seconds.
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", default=24 * 3600)
if PASSWORD_RESET_TIMEOUT < 60:
    raise ImproperlyConfigured("PASSWORD_RESET_TIMEOUT must be at least 60 (seconds).")

# Single sign-on through OpenID Connect (README "Sign-in"): on when OIDC_ISSUER is set. allauth only runs the
# provider's login and callback (labeling/web/sso.py decides who may sign in); the login page, password
# reset and sign-out stay Django's.
OIDC_ISSUER = env_text("OIDC_ISSUER").rstrip("/")
OIDC_CLIENT_ID = env_text("OIDC_CLIENT_ID")
OIDC_CLIENT_SECRET = env.str("OIDC_CLIENT_SECRET", default="")
OIDC_NAME = env_text("OIDC_NAME", default="Company sign-in")
if OIDC_ISSUER and not re.match(r"https?://[^/\s]+", OIDC_ISSUER):
    raise ImproperlyConfigured(f"OIDC_ISSUER={OIDC_ISSUER!r} must be the provider's https:// issuer URL.")
if OIDC_ISSUER and not (OIDC_CLIENT_ID and OIDC_CLIENT_SECRET):
    raise ImproperlyConfigured("OIDC_ISSUER is set: OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are required too.")
# Off: people sign in only through the provider; no password is checked (the admin login included).
PASSWORD_SIGN_IN = env_bool("PASSWORD_SIGN_IN", default=True)
if not PASSWORD_SIGN_IN and not OIDC_ISSUER:
    raise ImproperlyConfigured("PASSWORD_SIGN_IN=false needs single sign-on (OIDC_ISSUER), or nobody can sign in.")
SOCIALACCOUNT_ONLY = True  # allauth's own account pages (sign-up, its password reset, e-mail management) stay off
ACCOUNT_EMAIL_VERIFICATION = "none"  # the provider's email_verified claim is what counts (sso.py)
SOCIALACCOUNT_ADAPTER = "labeling.web.sso.SingleSignOnAdapter"
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        "APPS": [
            {
                "provider_id": "sso",  # labeling.web.signin.SSO_PROVIDER_ID
                "name": OIDC_NAME,
                "client_id": OIDC_CLIENT_ID,
                "secret": OIDC_CLIENT_SECRET,
                "settings": {"server_url": OIDC_ISSUER, "oauth_pkce_enabled": True},
            }
        ]
        if OIDC_ISSUER
        else []
    }
}

# Who may create projects in the web UI: `staff` (users with is_staff, and superusers) or `everyone` signed in.
PROJECT_CREATORS = env_text("PROJECT_CREATORS", default="staff").lower()
if PROJECT_CREATORS not in {"staff", "everyone"}:
    raise ImproperlyConfigured(f"PROJECT_CREATORS={PROJECT_CREATORS!r} must be staff or everyone.")

# Files the workers render once and the web serves (a dataset version's Parquet and Hugging Face zip): every web and
# worker process must see the same directory (docker-compose.yml mounts one volume at it). Not served as static files:
# downloads go through the API's access checks.
MEDIA_ROOT = Path(env_text("MEDIA_ROOT", default=str(VAR_DIR / "media"))).resolve()
# What the hourly sweep keeps of those files: each dataset's newest versions, and any file made or downloaded lately.
# The others are deleted and made again when someone asks (labeling/services/version_files.py).
DATASET_FILES_KEEP_LATEST = env_int("DATASET_FILES_KEEP_LATEST", default=2)
DATASET_FILES_KEEP_DAYS = env_int("DATASET_FILES_KEEP_DAYS", default=14)
for _name in ("DATASET_FILES_KEEP_LATEST", "DATASET_FILES_KEEP_DAYS"):
    if globals()[_name] < 0:
        raise ImproperlyConfigured(f"{_name} must be 0 or more.")

STATIC_URL = "static/"
STATIC_ROOT = Path(env_text("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))).resolve()
# WhiteNoise also serves the apps' own static files, found at start-up, so a server started without
# `collectstatic` (gunicorn from the README, outside Docker) still sends label.js: without it the labeling
# page's keyboard flow silently broke. Files collected into STATIC_ROOT (the Docker image does) win.
WHITENOISE_USE_FINDERS = True
# So nothing collected is no fault: WhiteNoise's "No directory at: <STATIC_ROOT>" warning, logged at every start of
# a server started as the README says, would only send its operator looking for a problem there is not.
warnings.filterwarnings("ignore", message=re.escape(f"No directory at: {STATIC_ROOT}"))

# Security headers. The content security policy is enforced, not report-only.
from django.utils.csp import CSP  # noqa: E402

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (only then: the header is forgeable).
if env_bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Django's database sessions, their per-request read compiled once (labeling/web/sessions.py).
SESSION_ENGINE = "labeling.web.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# The __Host- prefix: browsers take these cookies only over HTTPS, for this host alone (Path=/, no
# Domain), so a sibling subdomain cannot plant or overwrite them. Needs Secure, hence only then.
if SESSION_COOKIE_SECURE:
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
# HTTPS only, for deployments (`manage.py check --deploy` asks for them): redirect plain HTTP and send
# Strict-Transport-Security. Off by default so a first look over http://localhost works.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
# Load balancers probe these over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", default=0)
if SECURE_HSTS_SECONDS < 0:
    raise ImproperlyConfigured("SECURE_HSTS_SECONDS must be 0 (no HSTS header) or a number of seconds.")
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)

# Celery. Absent REDIS_URL → tasks run eagerly in-process (the demo); present → always through the
# broker, and a broker that is down is an error, never a silent fallback to running inline.
REDIS_URL = env_text("REDIS_URL")
# Both the broker (kombu) and the cache (redis-py) take these; anything else failed only at the first task or request.
if REDIS_URL and not re.match(r"rediss?://", REDIS_URL):
    raise ImproperlyConfigured("REDIS_URL must start with redis:// or rediss://, e.g. redis://redis:6379/0.")
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env_text("CELERY_DEFAULT_QUEUE", default="expertloop")
# Webhook deliveries wait on other people's servers (up to WEBHOOK_TIMEOUT_SECONDS an attempt): they have a queue
# of their own, so that a worker consuming only it (`-Q`) waits on slow receivers while the others (`-X`) do the
# rest. A worker started with neither consumes both queues, as one small deployment needs.
CELERY_WEBHOOK_QUEUE = env_text("CELERY_WEBHOOK_QUEUE", default="expertloop-webhooks")
CELERY_TASK_QUEUES = [Queue(name) for name in dict.fromkeys([CELERY_TASK_DEFAULT_QUEUE, CELERY_WEBHOOK_QUEUE])]
CELERY_TASK_ROUTES = {
    task: {"queue": CELERY_WEBHOOK_QUEUE} for task in ("labeling.deliver_webhook", "labeling.deliver_due_webhooks")
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker outlives any Redis outage: it reconnects forever (Celery's default gives up after 100 tries).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# kombu's Redis transport plus a fix for the worker exiting when Redis goes away under a running task,
# and a heartbeat that keeps running tasks from being redelivered (see expertloop/broker.py).
# (Only for redis:// URLs: a rediss:// URL keeps kombu's own transport, which sets up TLS from the scheme.)
CELERY_BROKER_TRANSPORT = "expertloop.broker:Transport" if REDIS_URL.startswith("redis://") else None
# A task still running when Redis goes away finishes its database work; the sweeps cover what was lost.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Publishing fails after ~1 s when the broker is down, instead of blocking a request for long.
# visibility_timeout: how long a task taken by a worker that died (SIGKILL, lost machine) stays
# invisible before Redis hands it to another worker: a lost task is retried within ~4 minutes. A live
# worker re-stamps the tasks it runs every visibility_timeout / 4 s (the heartbeat in expertloop/broker.py),
# so an hour-long dataset build or weekly close is never handed to a second worker while it runs (and
# if it were, both are idempotent and take the same row lock). unacked_restore_throttle 1: every worker
# looks for expired tasks every 10 s instead of every 100 s.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", default=240),
    "unacked_restore_throttle": 1,
    # How often (seconds) a worker looks; the tests that kill a worker look every second.
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_SECONDS", default=10),
}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.3, "interval_max": 0.5}
# Intervals of beat's sweeps and the workers' look for lost tasks: 0 or less would run them without pause.
for _name in (
    "ROUTE_SWEEP_SECONDS", "CYCLE_SWEEP_SECONDS", "METRICS_REFRESH_SECONDS", "CELERY_UNACKED_RESTORE_SECONDS",
):  # fmt: skip
    if env_int(_name, default=1) < 1:  # unset: the defaults below, all positive
        raise ImproperlyConfigured(f"{_name} must be a positive number of seconds.")
RETENTION_PURGE_HOUR = env_int("RETENTION_PURGE_HOUR", default=3)
if not 0 <= RETENTION_PURGE_HOUR <= 23:
    raise ImproperlyConfigured("RETENTION_PURGE_HOUR must be an hour of the day, 0 to 23.")
CELERY_BEAT_SCHEDULE = {
    "route-pending-outputs": {
        "task": "labeling.route_pending_outputs",
        "schedule": env_int("ROUTE_SWEEP_SECONDS", default=300),
    },
    # Each project's week is closed once it is over (plus the grace below); the sweep finds them.
    "close-due-weeks": {
        "task": "labeling.close_due_weeks",
        "schedule": env_int("CYCLE_SWEEP_SECONDS", default=600),
    },
    # The running week's figures (meeting page, dashboards, API) are recomputed this often.
    "refresh-running-weeks": {
        "task": "labeling.refresh_running_weeks",
        "schedule": env_int("METRICS_REFRESH_SECONDS", default=3600),
    },
    # The outbox's sweep: sends queued work the broker missed (labeling/services/README.md, "Outbox").
    # A sweep message older than its own interval is dropped: a worker back from an outage runs one, not all.
    "publish-outbox": {
        "task": "labeling.publish_outbox",
        "schedule": env_int("OUTBOX_SWEEP_SECONDS", default=5),
        "options": {"expires": env_int("OUTBOX_SWEEP_SECONDS", default=5)},
    },
    # Hourly: the Parquet/hf files of superseded versions nobody downloaded lately, the directories of versions
    # deleted without their on-commit cleanup running, and the temporary files of renders that died.
    "sweep-version-files": {
        "task": "labeling.sweep_version_files",
        "schedule": crontab(minute=45),
    },
    # Nightly (hour in beat's time zone): raw outputs past a project's `raw_retention_days` are deleted, and the
    # usage events' properties emptied.
    "purge-expired-outputs": {
        "task": "labeling.purge_expired_outputs",
        "schedule": crontab(minute=30, hour=RETENTION_PURGE_HOUR),
    },
}
# A failed close (or running-week refresh) is retried by the sweeps after CYCLE_RETRY_BASE_SECONDS,
# doubling with each failure up to CYCLE_RETRY_MAX_SECONDS.
CYCLE_RETRY_BASE_SECONDS = env_int("CYCLE_RETRY_BASE_SECONDS", default=600)
CYCLE_RETRY_MAX_SECONDS = env_int("CYCLE_RETRY_MAX_SECONDS", default=12 * 3600)
if not 1 <= CYCLE_RETRY_BASE_SECONDS <= CYCLE_RETRY_MAX_SECONDS:
    raise ImproperlyConfigured("CYCLE_RETRY_BASE_SECONDS must be at least 1 and at most CYCLE_RETRY_MAX_SECONDS.")
# Workers write a heartbeat row this often (a beat task); /readyz calls a worker silent after 3 missed beats.
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", default=60)
if WORKER_HEARTBEAT_SECONDS < 1:
    raise ImproperlyConfigured("WORKER_HEARTBEAT_SECONDS must be a positive integer.")
CELERY_BEAT_SCHEDULE["worker-heartbeat"] = {
    "task": "labeling.worker_heartbeat",
    "schedule": WORKER_HEARTBEAT_SECONDS,
    "options": {"expires": WORKER_HEARTBEAT_SECONDS},  # a stale heartbeat proves nothing: drop it
}
# A bearer token that shows /readyz's per-project detail (also shown to signed-in superusers).
READYZ_TOKEN = env.str("READYZ_TOKEN", default="")
# Outbox: published messages are deleted after OUTBOX_KEEP_DAYS. (After a failed publish, requests skip
# their immediate try for REDIS_BREAKER_RESET_SECONDS and leave the message to the sweep.)
OUTBOX_KEEP_DAYS = env_int("OUTBOX_KEEP_DAYS", default=3)
# A message sent this long ago that no worker took, while its queue in Redis is empty, was lost by Redis (restarted
# without its data): the sweep sends it again.
OUTBOX_RESEND_AFTER_SECONDS = env_int("OUTBOX_RESEND_AFTER_SECONDS", default=600)
# A message a worker had started, lost again after this many such resends, is given up (logged as an error, shown on
# /readyz): a task its worker kills at its hard time limit every time (Celery acks it, no worker marks it finished)
# would be sent forever. Resends of a message no worker had started (Redis lost it queued) do not count.
OUTBOX_MAX_RESENDS = env_int("OUTBOX_MAX_RESENDS", default=5)
if (
    CELERY_BEAT_SCHEDULE["publish-outbox"]["schedule"] < 1
    or OUTBOX_KEEP_DAYS < 1
    or OUTBOX_RESEND_AFTER_SECONDS < 1
    or OUTBOX_MAX_RESENDS < 1
):
    raise ImproperlyConfigured(
        "OUTBOX_SWEEP_SECONDS, OUTBOX_KEEP_DAYS, OUTBOX_RESEND_AFTER_SECONDS and OUTBOX_MAX_RESENDS must be positive."
    )
# Hours after a cycle week ends before beat closes it (leads may close it earlier from the meeting page).
CYCLE_CLOSE_GRACE_HOURS = env_int("CYCLE_CLOSE_GRACE_HOURS", default=0)
if CYCLE_CLOSE_GRACE_HOURS < 0:
    raise ImproperlyConfigured("CYCLE_CLOSE_GRACE_HOURS must be 0 or more.")
# "What changed": a cycle week is compared with the CHANGES_BASELINE_WEEKS weeks before it, and a change is listed
# when its Benjamini-Hochberg q value (over every comparison tried for the week) is at most CHANGES_FDR_Q.
CHANGES_BASELINE_WEEKS = env_int("CHANGES_BASELINE_WEEKS", default=4)
if not 1 <= CHANGES_BASELINE_WEEKS <= 26:
    raise ImproperlyConfigured("CHANGES_BASELINE_WEEKS must be between 1 and 26.")
CHANGES_FDR_Q = env_float("CHANGES_FDR_Q", default=0.05)
if not 0 < CHANGES_FDR_Q < 1:
    raise ImproperlyConfigured("CHANGES_FDR_Q must lie strictly between 0 and 1, e.g. 0.05.")
# Alerts (README "Alerts"): evaluated every ALERT_EVALUATE_SECONDS and after each close. A week still open
# ALERT_CLOSE_OVERDUE_HOURS after its close was due (end + CYCLE_CLOSE_GRACE_HOURS) is overdue; a queue with work
# waiting and no label for ALERT_QUEUE_IDLE_DAYS days is idle; a project with no output for ALERT_INGEST_SILENCE_HOURS
# that had at least one per such window on average over the 28 days before has stopped sending.
ALERT_CLOSE_OVERDUE_HOURS = env_int("ALERT_CLOSE_OVERDUE_HOURS", default=6)
ALERT_QUEUE_IDLE_DAYS = env_int("ALERT_QUEUE_IDLE_DAYS", default=3)
ALERT_INGEST_SILENCE_HOURS = env_int("ALERT_INGEST_SILENCE_HOURS", default=24)
if ALERT_CLOSE_OVERDUE_HOURS < 0:
    raise ImproperlyConfigured("ALERT_CLOSE_OVERDUE_HOURS must be 0 or more.")
if not 1 <= ALERT_QUEUE_IDLE_DAYS <= 365:
    raise ImproperlyConfigured("ALERT_QUEUE_IDLE_DAYS must be between 1 and 365.")
if not 1 <= ALERT_INGEST_SILENCE_HOURS <= 28 * 24:
    raise ImproperlyConfigured("ALERT_INGEST_SILENCE_HOURS must be between 1 and 672 (the 28 days compared with).")
CELERY_BEAT_SCHEDULE["evaluate-alerts"] = {
    "task": "labeling.evaluate_alerts",
    "schedule": env_int("ALERT_EVALUATE_SECONDS", default=3600),
    # A round older than its interval is dropped: a worker back from an outage runs one, not a backlog of them.
    "options": {"expires": env_int("ALERT_EVALUATE_SECONDS", default=3600)},
}
if CELERY_BEAT_SCHEDULE["evaluate-alerts"]["schedule"] < 60:
    raise ImproperlyConfigured("ALERT_EVALUATE_SECONDS must be 60 or more.")

# How long an item handed to an expert stays theirs before another expert may take its slot.
LEASE_SECONDS = env_int("LEASE_SECONDS", default=15 * 60)

# Ingest limits (documented in README.md and the OpenAPI schema).
INGEST_MAX_RECORDS = env_int("INGEST_MAX_RECORDS", default=1000)
INGEST_MAX_BODY_BYTES = env_int("INGEST_MAX_BODY_BYTES", default=5 * 1024 * 1024)
INGEST_MAX_JSON_DEPTH = env_int("INGEST_MAX_JSON_DEPTH", default=32)
# How long one custom redaction regex may run on one string before that string is withheld whole.
REDACTION_TIMEOUT_MS = env_int("REDACTION_TIMEOUT_MS", default=50)
# The OTLP/HTTP traces endpoint (README "OpenTelemetry"): the most bytes of one export request, counted after
# gzip or deflate is undone (a compressed body may not be longer either), so that a small gzip bomb is a 413.
OTLP_MAX_BODY_BYTES = env_int("OTLP_MAX_BODY_BYTES", default=8 * 1024 * 1024)
# Django's own cap on request.body must not be lower than ours.
DATA_UPLOAD_MAX_MEMORY_SIZE = INGEST_MAX_BODY_BYTES + 1
for _name in (
    "INGEST_MAX_RECORDS",
    "INGEST_MAX_BODY_BYTES",
    "INGEST_MAX_JSON_DEPTH",
    "OTLP_MAX_BODY_BYTES",
    "LEASE_SECONDS",
    "REDACTION_TIMEOUT_MS",
):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be a positive integer.")
# Timestamps ingest accepts: from INGEST_EARLIEST_TIMESTAMP to now + INGEST_MAX_FUTURE_SECONDS (README).
_earliest = env_text("INGEST_EARLIEST_TIMESTAMP", default="2000-01-01T00:00:00Z")
try:
    INGEST_EARLIEST_TIMESTAMP = datetime.fromisoformat(_earliest)
except ValueError:
    raise ImproperlyConfigured(f"INGEST_EARLIEST_TIMESTAMP={_earliest!r} is not an ISO 8601 timestamp.") from None
if INGEST_EARLIEST_TIMESTAMP.utcoffset() is None:
    raise ImproperlyConfigured(f"INGEST_EARLIEST_TIMESTAMP={_earliest!r} needs a zone, e.g. 2000-01-01T00:00:00Z.")
INGEST_EARLIEST_TIMESTAMP = INGEST_EARLIEST_TIMESTAMP.astimezone(UTC)
if not datetime(1970, 1, 1, tzinfo=UTC) <= INGEST_EARLIEST_TIMESTAMP < datetime.now(UTC):
    raise ImproperlyConfigured("INGEST_EARLIEST_TIMESTAMP must lie between 1970-01-01T00:00:00Z and now.")
INGEST_MAX_FUTURE_SECONDS = env_int("INGEST_MAX_FUTURE_SECONDS", default=86400)
if not 0 <= INGEST_MAX_FUTURE_SECONDS <= 366 * 86400:
    raise ImproperlyConfigured("INGEST_MAX_FUTURE_SECONDS must be between 0 and 31622400 (366 days).")

API_THROTTLE_RATE = env_text("API_THROTTLE_RATE", default="6000/min")
if not re.fullmatch(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", API_THROTTLE_RATE):
    raise ImproperlyConfigured(
        f"API_THROTTLE_RATE={API_THROTTLE_RATE!r} must look like 6000/min (per s, min, hour or day)."
    )

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.StrictJSONParser"],  # JSON, minus what cannot be stored
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "api.negotiation.FormatNegotiation",  # an unknown ?format= is a 400
    "DEFAULT_SCHEMA_CLASS": "api.schema.ApiAutoSchema",  # declares the 406, 429 and 503 of every endpoint
    "EXCEPTION_HANDLER": "api.exceptions.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["api.throttles.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": API_THROTTLE_RATE},
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "expertloop API",
    "DESCRIPTION": "Send AI outputs and usage events; pull labels, datasets and metrics.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs are public: no key is checked there, so a client (or Swagger UI) that sends its
    # bearer token everywhere, an operator token or an unknown one, still reads them (it was a 401).
    "SERVE_AUTHENTICATION": [],
    # 3.1: the request bodies come from JSON Schema (msgspec), which uses `type: "null"`.
    "OAS_VERSION": "3.1.0",
    # Operations grouped by resource: an operation's tag is the path segment after /api/v1/ (`outputs`, `events`,
    # `metrics`…), under /projects/<slug>/ the one after the project (`datasets`; api.schema.ApiAutoSchema.get_tags).
    # Without the prefix drf-spectacular guessed `/api`, so every operation sat under one tag, `v1`.
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # The docs' sections, in a reader's order (send, review, pull, measure, govern); tests/api/test_schema_tags.py
    # checks that every operation's tag is one of these and that each has operations.
    "TAGS": [
        {"name": "outputs", "description": "Send AI outputs, then find, facet and read them with their labels."},
        {"name": "events", "description": "Send usage events, the end users' activity retention counts."},
        {"name": "feedback", "description": "Send end users' feedback on outputs sent earlier."},
        {"name": "otel", "description": "Send OpenTelemetry traces (OTLP/HTTP); each LLM span becomes an output."},
        {"name": "labels", "description": "Export the experts' labels."},
        {"name": "rubric", "description": "The questions experts answer, by version."},
        {"name": "queues", "description": "The review queues and their backlog."},
        {"name": "datasets", "description": "Datasets of gold answers: immutable versions, rows, downloads, diffs."},
        {"name": "metrics", "description": "Quality, agreement, throughput, retention and what changed, per week."},
        {"name": "cycles", "description": "A cycle week's frozen report."},
        {"name": "redaction-rules", "description": "What ingest redacts before storing."},
        {"name": "end-users", "description": "Erase an end user's data."},
        {"name": "key", "description": "The API key of the request."},
        {"name": "platform", "description": "Usage across projects, for operators."},
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.add_request_components",
        "api.schema.declare_unstorable_url_refusal",
        "api.schema.declare_empty_query_values",
    ],
    # A cycle's `status` (open / closed) in the report and the changes, and a dataset version's (in the list, the
    # detail and a withdrawal's answer): one enum each, named for what it is.
    "ENUM_NAME_OVERRIDES": {
        "CycleStatusEnum": ["open", "closed"],
        "VersionStatusEnum": "labeling.models.datasets.VersionStatus",
    },
    # What each path converter matches (api/urls.py): a slug outside its pattern is no route at all.
    "PATH_CONVERTER_OVERRIDES": {
        "slug": {"type": "string", "pattern": r"^[-a-zA-Z0-9_]+$"},
        "text": {"type": "string", "minLength": 1},
    },
}

# Short socket timeouts: a request never waits long on a Redis that is down or unreachable; what uses the
# cache then falls back to "local", this process's memory (e.g. the API throttle, api/throttles.py).
REDIS_CACHE_SOCKET_TIMEOUT = env_float("REDIS_CACHE_SOCKET_TIMEOUT", default=0.5)
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": REDIS_CACHE_SOCKET_TIMEOUT,
                "socket_timeout": REDIS_CACHE_SOCKET_TIMEOUT,
            },
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    ),
    "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "local-fallback"},
}
# The same bound for publishing a task (labeling/services/outbox.py): the worker's own broker connection keeps
# CELERY_BROKER_TRANSPORT_OPTIONS' longer timeouts, but a request must not wait seconds per try on a Redis that
# accepts connections and never answers (frozen, or a network partition): what it could not send waits in the outbox.
REDIS_PUBLISH_SOCKET_TIMEOUT = env_float("REDIS_PUBLISH_SOCKET_TIMEOUT", default=0.5)
# After Redis fails once, callers skip it for this long (per process) before trying again.
REDIS_BREAKER_RESET_SECONDS = env_int("REDIS_BREAKER_RESET_SECONDS", default=5)
for _name in ("REDIS_CACHE_SOCKET_TIMEOUT", "REDIS_PUBLISH_SOCKET_TIMEOUT"):
    if globals()[_name] <= 0:
        raise ImproperlyConfigured(f"{_name} must be a number of seconds above 0.")
if REDIS_BREAKER_RESET_SECONDS < 1 or CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] < 1:
    raise ImproperlyConfigured("REDIS_BREAKER_RESET_SECONDS and CELERY_VISIBILITY_TIMEOUT must be 1 or more.")

# The default mailer (Django's MAILERS, expertloop/mail.py) from EMAIL_URL, e.g.
# smtp+tls://user:password@smtp.example.com:587; absent → mail is printed to the console. An SMTP exchange gives up
# after EMAIL_TIMEOUT seconds. No EMAIL_* setting of Django's is defined: Django 6.1 deprecates them for MAILERS.
_email_timeout = env_int("EMAIL_TIMEOUT", default=mail.DEFAULT_TIMEOUT_SECONDS)
if _email_timeout < 1:
    raise ImproperlyConfigured("EMAIL_TIMEOUT must be a positive number of seconds.")
MAILERS = {"default": mail.mailer_from_url(env_text("EMAIL_URL", default="consolemail://"), timeout=_email_timeout)}
DEFAULT_FROM_EMAIL = env_text("DEFAULT_FROM_EMAIL", default="expertloop <noreply@localhost>")
# Where people reach this server; links in e-mails (digests) start with it.
SITE_URL = env_text("SITE_URL", default="http://127.0.0.1:8000")
if not re.match(r"https?://[^/\s]+", SITE_URL):
    raise ImproperlyConfigured(
        f"SITE_URL={SITE_URL!r} must be where people reach the server, e.g. https://expertloop.example.com."
    )
# Invitations to a project (labeling/services/invitations.py): days a link stays usable, and how many a
# project may send (invitations and resends) per hour before the next one is refused with a 429.
INVITATION_MAX_AGE_DAYS = env_int("INVITATION_MAX_AGE_DAYS", default=7)
INVITATIONS_PER_PROJECT_PER_HOUR = env_int("INVITATIONS_PER_PROJECT_PER_HOUR", default=50)
if INVITATION_MAX_AGE_DAYS < 1 or INVITATIONS_PER_PROJECT_PER_HOUR < 1:
    raise ImproperlyConfigured("INVITATION_MAX_AGE_DAYS and INVITATIONS_PER_PROJECT_PER_HOUR must be 1 or more.")
# Webhooks (README "Webhooks"). Only https:// URLs to public addresses, checked at each send, unless
# WEBHOOKS_ALLOW_PRIVATE (local development, the tests): then http:// and private, loopback, link-local too.
WEBHOOKS_ALLOW_PRIVATE = env_bool("WEBHOOKS_ALLOW_PRIVATE", default=False)
# One attempt: connecting may take WEBHOOK_CONNECT_TIMEOUT_SECONDS, the whole request WEBHOOK_TIMEOUT_SECONDS.
WEBHOOK_CONNECT_TIMEOUT_SECONDS = env_float("WEBHOOK_CONNECT_TIMEOUT_SECONDS", default=5)
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", default=10)
# Seconds between a failed attempt and the next; the delivery is failed after the last (~24 h in all).
_retry_schedule = env_list(
    "WEBHOOK_RETRY_SCHEDULE", default=["5", "30", "120", "600", "3600", "10800", "21600", "21600", "28800"]
)
if not all(value.isdigit() for value in _retry_schedule):
    raise ImproperlyConfigured("WEBHOOK_RETRY_SCHEDULE must list positive numbers of seconds, e.g. 5,30,120.")
WEBHOOK_RETRY_SCHEDULE = [int(value) for value in _retry_schedule]
# An endpoint whose every attempt failed for this long (and at least WEBHOOK_DISABLE_MIN_FAILURES times) is
# disabled, and the project's leads are told.
WEBHOOK_DISABLE_AFTER_SECONDS = env_int("WEBHOOK_DISABLE_AFTER_SECONDS", default=24 * 3600)
WEBHOOK_DISABLE_MIN_FAILURES = env_int("WEBHOOK_DISABLE_MIN_FAILURES", default=5)
# /readyz reports `webhooks: stalled` (degraded) when a delivery is still pending this long after it was due.
WEBHOOK_STALL_SECONDS = env_int("WEBHOOK_STALL_SECONDS", default=600)
if not 0 < WEBHOOK_CONNECT_TIMEOUT_SECONDS <= WEBHOOK_TIMEOUT_SECONDS <= 60:
    raise ImproperlyConfigured(
        "Webhook timeouts: 0 < WEBHOOK_CONNECT_TIMEOUT_SECONDS <= WEBHOOK_TIMEOUT_SECONDS <= 60."
    )
if not WEBHOOK_RETRY_SCHEDULE or min(WEBHOOK_RETRY_SCHEDULE) < 1:
    raise ImproperlyConfigured("WEBHOOK_RETRY_SCHEDULE must list positive numbers of seconds, e.g. 5,30,120.")
if WEBHOOK_DISABLE_AFTER_SECONDS < 0 or WEBHOOK_DISABLE_MIN_FAILURES < 1:
    raise ImproperlyConfigured(
        "WEBHOOK_DISABLE_AFTER_SECONDS must be 0 or more, WEBHOOK_DISABLE_MIN_FAILURES 1 or more."
    )
# Beat's sweep sends deliveries that are due and were not sent by their own task (a lost message, a retry hours away).
# A worker's claim on a delivery lasts WEBHOOK_TIMEOUT_SECONDS and this margin (recording the answer, a slow
# database): only then may another worker take over the claim of one that died.
WEBHOOK_LEASE_MARGIN_SECONDS = env_float("WEBHOOK_LEASE_MARGIN_SECONDS", default=5)
if WEBHOOK_LEASE_MARGIN_SECONDS <= 0:
    raise ImproperlyConfigured("WEBHOOK_LEASE_MARGIN_SECONDS must be positive.")
# Finished deliveries (their bodies, the attempt log) are deleted this many days after they finished.
WEBHOOK_DELIVERY_KEEP_DAYS = env_int("WEBHOOK_DELIVERY_KEEP_DAYS", default=30)
if WEBHOOK_DELIVERY_KEEP_DAYS < 1:
    raise ImproperlyConfigured("WEBHOOK_DELIVERY_KEEP_DAYS must be 1 or more.")
CELERY_BEAT_SCHEDULE["deliver-due-webhooks"] = {
    "task": "labeling.deliver_due_webhooks",
    "schedule": env_int("WEBHOOK_SWEEP_SECONDS", default=10),
    "options": {"expires": env_int("WEBHOOK_SWEEP_SECONDS", default=10)},
}
if CELERY_BEAT_SCHEDULE["deliver-due-webhooks"]["schedule"] < 1:
    raise ImproperlyConfigured("WEBHOOK_SWEEP_SECONDS must be a positive integer.")

LOG_LEVEL = env_text("LOG_LEVEL", default="INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r} must be DEBUG, INFO, WARNING, ERROR or CRITICAL.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # An erasure's path names the end user: no line says it in clear (expertloop/log_privacy.py).
    "filters": {"hide_end_users": {"()": "expertloop.log_privacy.HideEndUsers"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["hide_end_users"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django installs its own console handler; route everything through ours instead, once.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
    },
}
logging.captureWarnings(True)
