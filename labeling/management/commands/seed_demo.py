"""`manage.py seed_demo`: a realistic `support-bot` project so every screen has something to show."""

import logging
import os
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from labeling.demo.seed import SeedReport, seed_demo
from labeling.demo.summarizer import SUMMARIZER_SLUG
from labeling.demo.team import INVITED_EMAIL, SQL_SLUG
from labeling.exceptions import DomainError


class Command(BaseCommand):
    help = (
        "Seed the demo project `support-bot`: rubric, queues, users, eight weeks of support-bot outputs and "
        "usage events, and an API key. Re-running keeps the data and resets passwords and the key."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--seed", type=int, default=7, help="Random seed of the generated history (default 7).")
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete the project and the demo users (expert1, expert2, lead, engineer, admin) first.",
        )
        parser.add_argument(
            "--base-url",
            # Where people reach the server: SITE_URL when set (the demo's e-mails link there too), else
            # scripts/demo.sh's $PORT; the printed links and curl line should point there.
            default=(os.environ.get("SITE_URL") or "").rstrip("/")
            or f"http://127.0.0.1:{os.environ.get('PORT') or 8000}",
            help="Where the demo server runs, for the printed links (default $SITE_URL, else http://127.0.0.1:$PORT "
            "or :8000).",
        )

    def handle(self, *args, seed: int, reset: bool, base_url: str, **options) -> None:
        if not settings.DEBUG:
            # On a real server it would make the account named `admin` a superuser with a published password (and
            # --reset would delete the accounts that share the demo's usernames).
            raise CommandError(
                "seed_demo gives its users, `admin` a superuser among them, passwords printed in the README and the "
                "code: it runs only with DEBUG=true (scripts/demo.sh sets it). On a server others can reach, do not "
                "run it; on a throwaway one, run it as DEBUG=true python manage.py seed_demo."
            )
        started = time.monotonic()
        # The seed runs hundreds of tasks eagerly: their "Task … succeeded" lines buried the mails it prints.
        tasks_log = logging.getLogger("celery.app.trace")
        level = tasks_log.level
        tasks_log.setLevel(logging.WARNING)
        try:
            report = seed_demo(seed=seed, reset=reset)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        finally:
            tasks_log.setLevel(level)
        self._summary(report, time.monotonic() - started)
        self._credentials(report, base_url.rstrip("/"))
        self._team(report, base_url.rstrip("/"))
        self._api_key(report, base_url.rstrip("/"))

    def _summary(self, report: SeedReport, seconds: float) -> None:
        project = report.project
        counts = (
            f"{report.outputs:,} outputs and {report.events:,} usage events from {report.end_users:,} end users "
            f"over {report.weeks} weeks"
        )
        if report.created:
            message = f"Seeded {project.slug} ({project.name}): {counts}, in {seconds:.1f} s."
            self.stdout.write(self.style.SUCCESS(message))
        else:
            self.stdout.write(self.style.WARNING(f"{project.slug} is already seeded ({counts}); nothing was added."))
            self.stdout.write("Passwords were reset and a fresh API key issued. Use --reset to seed from scratch.")

    def _credentials(self, report: SeedReport, base_url: str) -> None:
        self.stdout.write(f"\nSign in at {base_url}/ (the Django admin is at {base_url}/admin/).")
        self.stdout.write("Fixed demo passwords, for a local demo only: never use them on a server others can reach.")
        self.stdout.write("")
        rows = [("username", "password", "role")] + [(c.username, c.password, c.role) for c in report.credentials]
        widths = [max(len(row[column]) for row in rows) for column in range(3)]
        for index, row in enumerate(rows):
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.stdout.write(("  " + "  ".join(cells)).rstrip())
            if index == 0:
                self.stdout.write("  " + "  ".join("-" * width for width in widths))

    def _team(self, report: SeedReport, base_url: str) -> None:
        slug = report.project.slug
        self.stdout.write(
            f"\nThe lead also runs {SQL_SLUG} ({base_url}/p/{SQL_SLUG}/; its last weekly close failed) and "
            f"{SUMMARIZER_SLUG} ({base_url}/p/{SUMMARIZER_SLUG}/; its experts stopped reviewing two weeks ago), "
            f"and an invitation to {INVITED_EMAIL} waits on {base_url}/p/{slug}/manage/members/ (its email is "
            "printed above when first seeded)."
        )

    def _api_key(self, report: SeedReport, base_url: str) -> None:
        revoked = {0: "", 1: " (the earlier demo key is revoked)"}.get(
            report.revoked_keys, f" (the {report.revoked_keys} earlier demo keys are revoked)"
        )
        self.stdout.write(f"\nAPI key `demo`, scopes ingest and read{revoked}. It is shown only now:")
        self.stdout.write(f"  {report.api_key}")
        if report.example_external_id:
            self.stdout.write("Try it (with the server running):")
            self.stdout.write(
                f'  curl -H "Authorization: Bearer {report.api_key}" '
                f"{base_url}/api/v1/outputs/{report.example_external_id}"
            )
