from labeling.management.base import ProjectCommand, name_of
from labeling.models import Project
from labeling.rules.text import counted
from labeling.services.redaction import redact_stored_outputs


class Command(ProjectCommand):
    help = (
        "Apply a project's redaction rules in force to its outputs stored under older rules or none, and to its usage "
        "events' properties. Ingest redacts new records by itself; this is for those stored before the rules changed."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--all",
            action="store_true",
            dest="every_output",
            help="Also visit the outputs redacted under the rules in force already: for the labels, flags and "
            "comments written about them before writes applied the rules; and every meeting decision, those about no "
            "item too, and every saved view's name.",
        )

    def handle_project(self, project: Project, *, every_output: bool = False, **options):
        run = redact_stored_outputs(project=project, every_output=every_output, command=name_of(self))
        if run.version is None:
            self.stdout.write(
                f"{project.slug} has no redaction rules in force: nothing was redacted. "
                "Save some on Manage → Redaction."
            )
            return
        # Names are visited only with --all: a count of them otherwise would claim none needed it.
        names = (
            "" if run.saved_view_names is None else f", and the names of {counted(run.saved_view_names, 'saved view')}"
        )
        self.stdout.write(
            f"Redacted {counted(run.outputs, 'stored output')} and {counted(run.usage_events, 'usage event')} of "
            f"{project.slug} with the rules in force, the reasons of "
            f"{counted(run.withdrawal_reasons, 'withdrawn dataset version')}, the notes of "
            f"{counted(run.flag_notes, 'flag')}, {counted(run.comments, 'comment')}, the reasons of "
            f"{counted(run.skip_reasons, 'skip')}, {counted(run.adjudication_notes, 'adjudication note')}, the texts "
            f"of {counted(run.decisions, 'meeting decision')} and the owners of {run.decision_owners}{names}."
        )
        if run.versions_with_earlier_text:
            self.stdout.write(
                "These dataset versions never change and still hold the earlier text of outputs redacted now: "
                f"{', '.join(run.versions_with_earlier_text)}. Build a new version of each dataset: it holds the "
                "redacted text. Then a lead can withdraw the old versions on the dataset's page (Withdraw…), or "
                "through POST …/versions/<n>/withdraw."
            )
