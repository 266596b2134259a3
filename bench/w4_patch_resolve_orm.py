"""The close's resolve step writing as it did before its JSON-document statements, for `w4_close.py --compare`:
Django's bulk_update and bulk_create."""

from labeling.models import Resolution
from labeling.services import resolution


def _store_with_the_orm(changed, created):
    Resolution.objects.bulk_update(changed, ["automatic", "status", "updated_at"])
    Resolution.objects.bulk_create(created, ignore_conflicts=True)


resolution._store = _store_with_the_orm
