from django.core.management.base import BaseCommand, CommandError

from labeling.rules.text import counted
from labeling.services.webhooks import reseal_secrets


class Command(BaseCommand):
    help = (
        "Seal every webhook signing secret again with the current SECRET_KEY, after a key change, before the old "
        "key is dropped from SECRET_KEY_FALLBACKS."
    )

    def handle(self, *args, **options):
        resealed, unreadable = reseal_secrets()
        self.stdout.write(f"{counted(resealed, 'signing secret')} sealed again with the current SECRET_KEY.")
        for endpoint_id in unreadable:
            self.stdout.write(
                f"Endpoint {endpoint_id}: no key of SECRET_KEY or SECRET_KEY_FALLBACKS opens its secret; "
                "rotate it on its webhooks page."
            )
        if unreadable:
            # Exit 1: a rotation script must not go on to drop a fallback key while an endpoint is unaccounted for.
            one = len(unreadable) == 1
            raise CommandError(
                f"{counted(len(unreadable), 'endpoint')} no key opens (above): if a former key sealed "
                f"{'it' if one else 'them'}, add that key to SECRET_KEY_FALLBACKS and run this again; else rotate "
                f"{'its secret' if one else 'their secrets'}."
            )
