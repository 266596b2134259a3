from django.core.management.base import BaseCommand, CommandError

from labeling.models import Project
from labeling.services.redaction import redact_stored_outputs


class Command(BaseCommand):
    help = (
        "Apply a project's redaction rules in force to its outputs stored under older rules or none. "
        "Ingest redacts new outputs by itself; this is only for outputs stored before the rules changed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Project slug.")

    def handle(self, *args, project, **options):
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"No project with slug {project!r}.")
        count = redact_stored_outputs(project=target)
        self.stdout.write(f"Redacted {count} stored output(s) of {target.slug} with the rules in force.")
