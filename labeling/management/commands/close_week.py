from datetime import timedelta

from labeling.management.base import ProjectCommand, name_of
from labeling.models import CycleStatus, Project, ReviewCycle
from labeling.rules import calendar
from labeling.services import cycles


class Command(ProjectCommand):
    help = (
        "Close a project's review cycle week now: resolve gold answers, rebuild auto datasets, compute the "
        "metrics, freeze the report, open the next cycle and send the experts' digests. Idempotent."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--week",
            help="ISO week, e.g. 2026-W47, or a day in it, e.g. 2026-11-18 (default: the last week that is over).",
        )

    def handle_project(self, project: Project, *, week: str | None, **options):
        first_day = (
            calendar.week_of_label_or_day(project, week) if week else calendar.current_week(project) - timedelta(days=7)
        )
        # Read, not get_cycle: a week the close refuses (still running, before the project) must get no cycle.
        was_closed = ReviewCycle.objects.filter(project=project, week=first_day, status=CycleStatus.CLOSED).exists()
        cycle = cycles.close_week(project_id=project.pk, week=first_day, command=name_of(self))
        if was_closed:
            self.stdout.write(f"{project.slug} {cycle.label} was already closed on {cycle.closed_at:%Y-%m-%d %H:%M}.")
            return
        close = cycle.report.get("close", {})
        steps = ", ".join(f"{s['step']} {s['seconds']:.1f}s" for s in close.get("steps", []))
        # The steps after resolve may have run in two lanes at once (services.lanes): their sum is not the wall time.
        self.stdout.write(f"Closed {project.slug} {cycle.label} ({steps}; {close.get('wall_seconds', 0):.1f}s in all).")
