from labeling.management.base import ProjectCommand, name_of
from labeling.models import Project
from labeling.services.api_keys import create_api_key, parse_scopes


class Command(ProjectCommand):
    help = "Issue an API key for a project. The secret is printed once, alone on the last line."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--name", required=True, help="What the key is for, e.g. 'support-bot prod'.")
        parser.add_argument(
            "--scopes",
            default="ingest",
            help="Comma-separated: ingest, read, datasets, privacy (default: ingest).",
        )

    def handle_project(self, project: Project, *, name: str, scopes: str, **options):
        issued = create_api_key(project=project, name=name, scopes=parse_scopes(scopes), command=name_of(self))
        key = issued.api_key
        self.stderr.write(
            f"Key {key.name!r} for {project.slug} with scopes {','.join(key.scopes)} (prefix {key.prefix})."
        )
        self.stderr.write("Store the secret now: only its hash is kept. Send it as `Authorization: Bearer <secret>`.")
        self.stdout.write(issued.secret)
