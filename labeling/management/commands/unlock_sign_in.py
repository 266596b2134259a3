from django.core.management.base import BaseCommand, CommandError

from labeling.management.base import name_of
from labeling.rules.client_addresses import parse_counted_address
from labeling.selectors.signin import active_lock, sign_in_records_of
from labeling.services.signin import unlock_sign_in


class Command(BaseCommand):
    help = "Lift a sign-in lock and forget the failed sign-ins of an account and/or a client address."

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?", help="The account's username.")
        parser.add_argument("--address", help="A client IP address to unlock as well (or alone).")

    def handle(self, *args, username, address, **options):
        if not username and not address:
            raise CommandError("Name a username, an --address, or both.")
        if address:
            # Locks are kept on the counted form (an IPv6 client's /64): the address from the logs finds its lock.
            typed, address = address, parse_counted_address(address)
            if address is None:
                raise CommandError(f"{typed!r} is not an IP address (e.g. 203.0.113.7 or 2001:db8::7).")
        if username and not address and not sign_in_records_of(username):
            raise CommandError(f"No account has the username {username!r}, and no failed sign-in was kept under it.")
        lock = active_lock(username=username, address=address)
        rows = unlock_sign_in(username=username, address=address, command=name_of(self))
        what = " and ".join(
            part for part in [username and f"account {username!r}", address and f"address {address}"] if part
        )
        if lock is not None:
            self.stdout.write(f"Unlocked {what} (the lock ran until {lock.until:%Y-%m-%d %H:%M:%S %Z}).")
        elif rows:
            self.stdout.write(f"{what} was not locked; its failed sign-ins are forgotten.")
        else:
            self.stdout.write(f"{what} had no failed sign-ins: nothing to do.")
