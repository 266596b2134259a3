from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from labeling.exceptions import DomainError
from labeling.models import Project
from labeling.rules import calendar
from labeling.services import cycles


class Command(BaseCommand):
    help = (
        "Close a project's review cycle week now: resolve gold answers, rebuild auto datasets, compute the "
        "metrics, freeze the report, open the next cycle and send the experts' digests. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Project slug.")
        parser.add_argument("--week", help="ISO week, e.g. 2026-W47 (default: the last week that is over).")

    def handle(self, *args, project, week, **options):
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"No project with slug {project!r}.")
        try:
            first_day = (
                calendar.week_from_label(target, week) if week else calendar.current_week(target) - timedelta(days=7)
            )
            was_closed = cycles.get_cycle(project=target, week=first_day).is_closed
            cycle = cycles.close_week(project_id=target.pk, week=first_day)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        if was_closed:
            self.stdout.write(f"{target.slug} {cycle.label} was already closed on {cycle.closed_at:%Y-%m-%d %H:%M}.")
            return
        steps = ", ".join(f"{s['step']} {s['seconds']:.1f}s" for s in cycle.report.get("close", {}).get("steps", []))
        self.stdout.write(f"Closed {target.slug} {cycle.label} ({steps}).")
