from django.core.management.base import BaseCommand, CommandError

from labeling.models import Project
from labeling.services.platform import backfill_usage


def _positive(value: str) -> int:
    weeks = int(value)
    if not 1 <= weeks <= 520:
        raise ValueError(value)
    return weeks


class Command(BaseCommand):
    help = (
        "Compute the usage rows (outputs, events, storage, labels, expert time, ingest errors per week) of every "
        "project's last N weeks, the running one included, none before the project began (its creation or its "
        "earliest output or event): installs that had no such rows get their past weeks. Idempotent: a week's row "
        "is recomputed whole."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", help="Project slug (default: every project).")
        parser.add_argument("--weeks", type=_positive, default=12, help="How many weeks, 1 to 520 (default 12).")

    def handle(self, *args, project: str | None, weeks: int, **options):
        projects = Project.objects.order_by("slug")
        if project is not None:
            projects = projects.filter(slug=project)
            if not projects.exists():
                raise CommandError(f"No project with slug {project!r}.")
        written = backfill_usage(projects=projects, weeks=weeks)
        self.stdout.write(f"Computed {written} project week(s).")
