import argparse

from django.core.management.base import BaseCommand, CommandError

from labeling.models import Project
from labeling.rules.text import counted
from labeling.services.platform import backfill_usage


def _weeks(value: str) -> int:
    # ArgumentTypeError's text is what argparse prints (a ValueError printed "invalid _positive value: '0'").
    if not value.strip().isdigit() or not 1 <= int(value) <= 520:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of weeks from 1 to 520.")
    return int(value)


class Command(BaseCommand):
    help = (
        "Compute the usage rows (outputs, events, storage, labels, expert time, ingest errors per week) of every "
        "project's last N weeks, the running one included, none before the project began (its creation or its "
        "earliest output or event): installs that had no such rows get their past weeks. Idempotent: a week's row "
        "is recomputed whole."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", help="Project slug (default: every project).")
        parser.add_argument("--weeks", type=_weeks, default=12, help="How many weeks, 1 to 520 (default 12).")

    def handle(self, *args, project: str | None, weeks: int, **options):
        projects = Project.objects.order_by("slug")
        if project is not None:
            projects = projects.filter(slug=project)
            if not projects.exists():
                raise CommandError(f"No project with slug {project!r}.")
        written = backfill_usage(projects=projects, weeks=weeks)
        self.stdout.write(f"Computed {counted(written, 'project week')}.")
