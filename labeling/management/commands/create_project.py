from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandError

from labeling.exceptions import InvalidSpec
from labeling.management.base import name_of
from labeling.services.projects import create_project


class Command(BaseCommand):
    help = "Create a project with its rubric, queues and members from a YAML or JSON file."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="Project spec (YAML or JSON; see README.md).")

    def handle(self, *args, file: Path, **options):
        try:
            spec = yaml.safe_load(file.read_text(encoding="utf-8"))  # YAML is a superset of JSON
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file} is not valid YAML or JSON: {exc}") from None
        try:
            project = create_project(spec=spec, command=name_of(self))
        except InvalidSpec as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"Created project {project.slug!r}: {project.memberships.count()} members, "
            f"{project.queues.count()} queues, rubric v{project.rubrics.count() or '-'}."
        )
        # "Forgot your password?" mails the account's address and single sign-on matches it: without either, and
        # without a password, the member cannot get in until an operator gives them one.
        for membership in project.memberships.select_related("user").order_by("user__username"):
            user = membership.user
            if not user.email and not user.has_usable_password():
                self.stderr.write(
                    f"{user.username} has no email and no password, so no way to sign in: give the account an email "
                    f"in the admin (then Forgot your password? works), or a password with "
                    f"manage.py changepassword {user.username}."
                )
