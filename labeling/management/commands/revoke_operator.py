from django.core.management.base import BaseCommand, CommandError

from labeling.exceptions import DomainError
from labeling.management.base import name_of
from labeling.rules.text import counted
from labeling.services.operators import revoke_operator


class Command(BaseCommand):
    help = (
        "Take the operator permission (given by create_operator) away from an account: it sees only the projects it "
        "is a member of again, and its operator tokens are revoked. Running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="The operator's username.")

    def handle(self, *args, username, **options):
        try:
            revoked = revoke_operator(username=username, command=name_of(self))
        except DomainError as exc:
            raise CommandError(exc.message) from None
        if revoked and revoked.permission:
            tokens = f" Revoked their {counted(revoked.tokens, 'operator token')} too." if revoked.tokens else ""
            self.stdout.write(
                f"{username!r} is no longer an operator: they see only the projects they are a member of.{tokens}"
            )
        elif revoked:
            self.stdout.write(
                f"{username!r} is not an operator; revoked the {counted(revoked.tokens, 'operator token')} left from "
                "when they were."
            )
        else:
            self.stdout.write(f"{username!r} is not an operator: nothing to do.")
