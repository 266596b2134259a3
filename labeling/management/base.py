"""What the commands about one project share: `--project <slug>`, and domain errors told as command errors."""

from django.core.management.base import BaseCommand, CommandError

from labeling.exceptions import DomainError
from labeling.models import Project


def name_of(command: BaseCommand) -> str:
    """The name the command is run by (`manage.py <name>`): the audit log names it for what it did."""
    return type(command).__module__.rpartition(".")[2]


class ProjectCommand(BaseCommand):
    """A command about one project, named by `--project`; subclasses write `handle_project`."""

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Project slug.")

    def handle(self, *args, project: str, **options):
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"No project with slug {project!r}.")
        try:
            self.handle_project(target, **options)
        except DomainError as exc:
            raise CommandError(exc.message) from None

    def handle_project(self, project: Project, **options) -> None:
        """Do the command's work for the project."""
        raise NotImplementedError
