from django.core.management.base import BaseCommand, CommandError

from labeling.exceptions import DomainError
from labeling.models import Project
from labeling.services.api_keys import create_api_key, parse_scopes


class Command(BaseCommand):
    help = "Issue an API key for a project. The secret is printed once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Project slug.")
        parser.add_argument("--name", required=True, help="What the key is for, e.g. 'support-bot prod'.")
        parser.add_argument(
            "--scopes", default="ingest", help="Comma-separated: ingest, read, privacy (default: ingest)."
        )

    def handle(self, *args, project, name, scopes, **options):
        try:
            target = Project.objects.get(slug=project)
        except Project.DoesNotExist:
            raise CommandError(f"No project with slug {project!r}.") from None
        try:
            issued = create_api_key(project=target, name=name, scopes=parse_scopes(scopes))
        except DomainError as exc:
            raise CommandError(exc.message) from None
        key = issued.api_key
        self.stderr.write(
            f"Key {key.name!r} for {target.slug} with scopes {','.join(key.scopes)} (prefix {key.prefix})."
        )
        self.stderr.write("Store the secret now: only its hash is kept. Send it as `Authorization: Bearer <secret>`.")
        self.stdout.write(issued.secret)
