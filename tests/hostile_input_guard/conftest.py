"""The hostile-input guard's demo: the first part to run seeds it, so the parts run in any order; the parts (one
module, so one xdist worker) share it, and the first one's discovery (scope="package")."""

import pytest

from labeling.models import OutboxMessage


@pytest.fixture(scope="package")
def site(django_db_setup, django_db_blocker):
    """The demo project (every screen has content) and the guard's own rows; each test's own writes still roll back."""
    from functools import partial

    from labeling.demo import seed
    from labeling.demo.support_bot import generate
    from tests.hostile_input_guard.guard import make_site

    # A tenth of the demo's shoppers: every screen still has content, and each page renders faster.
    with pytest.MonkeyPatch.context() as patch, django_db_blocker.unblock():
        patch.setattr(seed, "generate", partial(generate, shoppers=30))
        report = seed.seed_demo()
        made = make_site(report.project)
    yield made
    with django_db_blocker.unblock():
        seed.delete_demo()
        # Seeding asked for tasks (routing, closes, builds) through the outbox; later tests expect none.
        OutboxMessage.objects.all().delete()
