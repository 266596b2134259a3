"""Deployment checks of `manage.py check --deploy` for what Django's own do not know: where people reach the server,
the database and the broker. Settings that fall back to the demo's (a loopback SITE_URL, SQLite, eager Celery) start
without a word, so only the deployment checklist catches them (README "Production checklist"). One database check,
run by `migrate` (and `check --database default`), asks PostgreSQL for what the SQL needs beyond its defaults."""

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.db import connections


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


@register(deploy=True)
def check_site_url(app_configs, **kwargs) -> list:
    """Links in invitations, password resets, digests and webhook payloads start with SITE_URL."""
    if settings.DEBUG or not _is_loopback(urlsplit(settings.SITE_URL).hostname or ""):
        return []
    return [
        Error(
            f"SITE_URL is {settings.SITE_URL}, this machine's own address: every link in invitations, password "
            "resets, digests and webhook payloads would point at the reader's own computer.",
            hint="Set SITE_URL to where people reach the server, e.g. https://expertloop.example.com.",
            id="expertloop.E001",
        )
    ]


@register(deploy=True)
def check_database_is_not_sqlite(app_configs, **kwargs) -> list:
    """SQLite is the demo's database: one writer at a time, and no full-text search on the explore page."""
    if settings.DEBUG or settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        return []
    return [
        Warning(
            "DATABASE_URL is not set to PostgreSQL: the server uses SQLite, the demo's database.",
            hint="Set DATABASE_URL, e.g. postgres://user:password@host:5432/expertloop.",
            id="expertloop.W001",
        )
    ]


@register(deploy=True)
def check_celery_has_a_broker(app_configs, **kwargs) -> list:
    """Without REDIS_URL Celery runs each task inside the web request that asks for it, and beat never runs."""
    if settings.DEBUG or not settings.CELERY_TASK_ALWAYS_EAGER:
        return []
    return [
        Warning(
            "REDIS_URL is not set: Celery tasks run eagerly in the web process, and no beat runs, so weeks never "
            "close and webhooks are not retried.",
            hint="Set REDIS_URL, e.g. redis://redis:6379/0, and run a Celery worker and beat.",
            id="expertloop.W002",
        )
    ]


# ICU's root collation: a text condition's SQL (a rule's preview) lowers both sides under it (rules.answer_text).
NEEDED_COLLATIONS = ("und-x-icu",)


def missing_collations(connection, names=NEEDED_COLLATIONS) -> list[str]:
    """The collations of `names` that the PostgreSQL behind `connection` does not have."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT collname FROM pg_collation WHERE collname = ANY(%s)", [list(names)])
        present = {name for (name,) in cursor.fetchall()}
    return [name for name in names if name not in present]


@register(Tags.database)
def check_postgresql_has_icu(app_configs, databases=None, **kwargs) -> list:
    """A PostgreSQL built without ICU would fail the preview of a rule with text (its SQL), at the lead's click."""
    problems = []
    for alias in databases or ():
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        for name in missing_collations(connection):
            problems.append(
                Error(
                    f"PostgreSQL ({alias!r}) has no collation {name!r}: it was built without ICU, so a queue rule's "
                    "'Answer contains any of' cannot be previewed (routing and backfill read it in Python).",
                    hint="Use a PostgreSQL built with ICU (Debian's and the official Docker images are).",
                    id="expertloop.E002",
                )
            )
    return problems
