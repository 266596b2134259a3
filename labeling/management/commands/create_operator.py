import os
import sys
from getpass import getpass

from django.core.management.base import BaseCommand, CommandError

from labeling.exceptions import DomainError
from labeling.management.base import name_of
from labeling.services.operators import make_operator, password_wanted

GIVE_IT = (
    "give it with --password-from-env VAR or --password-stdin, or run the command at a terminal to be asked "
    "(never on the command line, where the shell's history would keep it)"
)


class Command(BaseCommand):
    help = (
        "Create an operator (who sees every project and the platform pages), or make an existing account one. "
        "Running it again changes nothing; revoke_operator takes the permission away."
    )
    stealth_options = ("stdin",)  # as createsuperuser: a test or a caller hands it the standard input to read

    def add_arguments(self, parser):
        parser.add_argument("username", help="The operator's username: a new account, or an existing one.")
        parser.add_argument("--email", default="", help="A new account's email (required for one).")
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--password-from-env", metavar="VAR", help="Read the password from this variable.")
        source.add_argument("--password-stdin", action="store_true", help="Read the password from standard input.")
        parser.add_argument(
            "--superuser", action="store_true", help="Also a superuser: the Django admin, with every permission."
        )

    def handle(self, *args, username, email, password_from_env, password_stdin, superuser, **options):
        self.stdin = options.get("stdin", sys.stdin)
        password = self._password(username, from_env=password_from_env, from_stdin=password_stdin)
        try:
            made = make_operator(
                username=username, email=email, password=password, superuser=superuser, command=name_of(self)
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        role = "a superuser and operator" if made.user.is_superuser else "an operator"
        if made.created:
            self.stdout.write(f"Created {username!r}, {role}.")
        elif made.changed:
            self.stdout.write(f"Made {username!r} {role}.")
        else:
            self.stdout.write(f"{username!r} is {role} already: nothing to do.")

    def _password(self, username: str, *, from_env: str | None, from_stdin: bool) -> str | None:
        """The password given, or asked at a terminal when one is needed; None when none is given nor needed."""
        if from_env:
            if from_env not in os.environ:
                raise CommandError(f"The environment variable {from_env} is not set.")
            return os.environ[from_env]
        if from_stdin:
            return self.stdin.readline().removesuffix("\n").removesuffix("\r")
        if not password_wanted(username):
            return None
        if not self.stdin.isatty():
            raise CommandError(f"The account {username!r} needs a password: {GIVE_IT}.")
        password = getpass("Password: ")
        if getpass("Password (again): ") != password:
            raise CommandError("The two passwords differ.")
        return password
