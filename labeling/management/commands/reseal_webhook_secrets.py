from django.core.management.base import BaseCommand

from labeling.services.webhooks import reseal_secrets


class Command(BaseCommand):
    help = (
        "Seal every webhook signing secret again with the current SECRET_KEY, after a key change, before the old "
        "key is dropped from SECRET_KEY_FALLBACKS."
    )

    def handle(self, *args, **options):
        resealed, unreadable = reseal_secrets()
        self.stdout.write(f"{resealed} signing secrets sealed again with the current SECRET_KEY.")
        for endpoint_id in unreadable:
            self.stdout.write(
                f"Endpoint {endpoint_id}: no key of SECRET_KEY or SECRET_KEY_FALLBACKS opens its secret; "
                "rotate it on its webhooks page."
            )
