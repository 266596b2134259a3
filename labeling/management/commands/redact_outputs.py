from labeling.management.base import ProjectCommand
from labeling.models import Project
from labeling.services.redaction import redact_stored_outputs


class Command(ProjectCommand):
    help = (
        "Apply a project's redaction rules in force to its outputs stored under older rules or none. "
        "Ingest redacts new outputs by itself; this is only for outputs stored before the rules changed."
    )

    def handle_project(self, project: Project, **options):
        run = redact_stored_outputs(project=project)
        self.stdout.write(f"Redacted {run.outputs} stored output(s) of {project.slug} with the rules in force.")
        if run.versions_with_earlier_text:
            self.stdout.write(
                "These dataset versions never change and still hold the earlier text of outputs redacted now: "
                f"{', '.join(run.versions_with_earlier_text)}. Build a new version of each dataset: it holds the "
                "redacted text."
            )
