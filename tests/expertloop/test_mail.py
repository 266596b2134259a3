"""EMAIL_URL and EMAIL_TIMEOUT configure Django's default mailer (MAILERS), with none of the EMAIL_* settings
Django 6.1 deprecates: starting and sending mail (an invitation, a weekly digest) warns of nothing."""

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from django.core.mail import mailers
from django.test import override_settings

from expertloop.mail import DEFAULT_TIMEOUT_SECONDS, mailer_from_url
from labeling.models import CycleStatus, ExpertWeek, Membership, ReviewCycle
from tests.expertloop.test_settings import run_in_a_fresh_process
from tests.factories import UserFactory
from tests.helpers.processes import ROOT, env_for_test_database

# Set in the code: Python ignores `-W error::django.utils.deprecation.…`, a module it cannot import that early.
DEPRECATIONS_ARE_ERRORS = (
    "import warnings; from django.utils.deprecation import RemovedInDjango2028Warning; "
    "warnings.simplefilter('error', RemovedInDjango2028Warning); "
)
SMTP = "django.core.mail.backends.smtp.EmailBackend"


def default_mailer_of(url: str, *, timeout: int = 3):
    """The default mailer Django makes of what EMAIL_URL `url` configures."""
    with override_settings(MAILERS={"default": mailer_from_url(url, timeout=timeout)}):
        return mailers.default


def test_an_smtp_url_names_the_server_its_account_and_how_it_is_secured():
    mailer = default_mailer_of("smtp+tls://mail%40example.com:p%40ss@smtp.example.com:2525", timeout=3)

    assert f"{type(mailer).__module__}.{type(mailer).__qualname__}" == SMTP
    assert (mailer.host, mailer.port, mailer.username, mailer.password) == (
        "smtp.example.com", 2525, "mail@example.com", "p@ss",
    )  # fmt: skip
    assert (mailer.use_tls, mailer.use_ssl, mailer.timeout) == (True, False, 3)


@pytest.mark.parametrize(
    "url, host, port, use_tls, use_ssl",
    [
        ("smtp://127.0.0.1:2525", "127.0.0.1", 2525, False, False),
        ("smtp://", "localhost", 25, False, False),  # as Django's EMAIL_HOST defaulted
        ("smtp+tls://smtp.example.com", "smtp.example.com", 587, True, False),
        ("smtps://smtp.example.com", "smtp.example.com", 587, True, False),
        ("smtp+ssl://smtp.example.com", "smtp.example.com", 465, False, True),
    ],
)
def test_each_smtp_scheme_gives_its_security_and_port(url, host, port, use_tls, use_ssl):
    mailer = default_mailer_of(url)

    assert (mailer.host, mailer.port, mailer.use_tls, mailer.use_ssl) == (host, port, use_tls, use_ssl)
    assert (mailer.username, mailer.password) == (None, None)


def test_the_console_memory_and_file_urls_name_their_backends(tmp_path):
    assert type(default_mailer_of("consolemail://")).__module__ == "django.core.mail.backends.console"
    assert type(default_mailer_of("memorymail://")).__module__ == "django.core.mail.backends.locmem"
    assert type(default_mailer_of("dummymail://")).__module__ == "django.core.mail.backends.dummy"
    kept = default_mailer_of(f"filemail:///{tmp_path / 'mail'}")
    assert type(kept).__module__ == "django.core.mail.backends.filebased"
    assert Path(kept.file_path) == tmp_path / "mail"


def test_the_production_settings_define_no_deprecated_email_setting_and_pass_the_timeout_to_smtp():
    code = (
        "from django.conf import DEPRECATED_EMAIL_SETTINGS, settings; from django.core.mail import mailers; "
        "print(sorted(name for name in DEPRECATED_EMAIL_SETTINGS if settings.is_overridden(name))); "
        "m = mailers.default; print(m.host, m.port, m.username, m.use_tls, m.timeout)"
    )
    smtp = {"SECRET_KEY": "s3cret", "EMAIL_URL": "smtp+tls://mailer:pw@smtp.example.com:2525"}

    configured = run_in_a_fresh_process(code, **smtp, EMAIL_TIMEOUT="3").stdout.splitlines()
    by_default = run_in_a_fresh_process(code, **smtp).stdout.splitlines()

    assert configured == ["[]", "smtp.example.com 2525 mailer True 3"]
    assert by_default[-1] == f"smtp.example.com 2525 mailer True {DEFAULT_TIMEOUT_SECONDS}"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_inviting_a_member_and_mailing_the_digests_warn_of_no_deprecation(project, lead, tmp_path):
    """A process that starts and sends an invitation and a week's digests through an EMAIL_URL, with Django 6.1's
    deprecations turned into errors. Before, the settings alone failed it: EMAIL_BACKEND, EMAIL_HOST, … are
    deprecated for MAILERS (and Django's test run hides it, swapping the mailer for its own)."""
    week = date(2026, 11, 9)
    cycle = ReviewCycle.objects.create(project=project, week=week, status=CycleStatus.CLOSED)
    erin = UserFactory(username="erin", email="erin@example.com")
    Membership.objects.create(project=project, user=erin, role="expert")
    ExpertWeek.objects.create(project=project, week=week, expert=erin, labels=4)
    code = DEPRECATIONS_ARE_ERRORS + (
        "import django; django.setup(); "
        "from labeling.models import Project; from django.contrib.auth import get_user_model; "
        "from labeling.services.invitations import invite_member; from labeling.services.cycles import send_digests; "
        f"invite_member(project=Project.objects.get(pk={project.pk}), email='dana@example.com', role='expert', "
        f"invited_by=get_user_model().objects.get(pk={lead.pk})); "
        f"print(send_digests(cycle_id={cycle.pk}))"
    )
    mail_dir = tmp_path / "mail"

    sent = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT, env=env_for_test_database(EMAIL_URL=f"filemail:///{mail_dir}"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert sent.returncode == 0, sent.stderr[-3000:]
    assert sent.stdout.split() == ["1"]
    mails = "".join(path.read_text() for path in mail_dir.iterdir())
    assert "To: dana@example.com" in mails and "To: erin@example.com" in mails
