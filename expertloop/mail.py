"""The default mailer (Django's MAILERS) from the EMAIL_URL and EMAIL_TIMEOUT environment variables.

Imported by settings.py, so it must not read django.conf.settings.
"""

import environ
from django.core.exceptions import ImproperlyConfigured

# Django waits on an SMTP server for ever by default: one that accepts and never answers (a frozen host, a firewall
# dropping packets) held the request that sends an invitation or a password reset, and the worker sending a weekly
# close's digests. Each connect or exchange gives up after EMAIL_TIMEOUT seconds (the mail is logged as not sent).
DEFAULT_TIMEOUT_SECONDS = 10

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
FILE_BACKEND = "django.core.mail.backends.filebased.EmailBackend"


def mailer_from_url(url: str, *, timeout: int) -> dict:
    """Return the MAILERS entry an EMAIL_URL names (django-environ's schemes: smtp+tls://, consolemail://, …)."""
    try:
        parsed = environ.Env.email_url_config(url)
    except (ValueError, ImproperlyConfigured):
        # Not the URL itself: it holds the password.
        raise ImproperlyConfigured(
            "EMAIL_URL is not a mail URL such as smtp+tls://user:password@smtp.example.com:587 or consolemail://."
        ) from None
    backend = parsed["EMAIL_BACKEND"]
    options: dict = {}
    if backend == SMTP_BACKEND:
        # Without a host Django used "localhost"; without a port, the mailer picks 25, or 587 (smtp+tls://, smtps://)
        # or 465 (smtp+ssl://). Each backend refuses OPTIONS it does not know: the timeout is the SMTP backend's only.
        options = {"host": parsed["EMAIL_HOST"] or "localhost", "timeout": timeout}
        if parsed["EMAIL_PORT"]:
            options["port"] = parsed["EMAIL_PORT"]
        if parsed["EMAIL_HOST_USER"] is not None:
            options["username"] = parsed["EMAIL_HOST_USER"]
        if parsed["EMAIL_HOST_PASSWORD"] is not None:
            options["password"] = parsed["EMAIL_HOST_PASSWORD"]
        for option in ("use_tls", "use_ssl"):
            if parsed.get(f"EMAIL_{option.upper()}"):
                options[option] = True
    elif backend == FILE_BACKEND:
        options = {"file_path": parsed["EMAIL_FILE_PATH"]}
    return {"BACKEND": backend, "OPTIONS": options}
