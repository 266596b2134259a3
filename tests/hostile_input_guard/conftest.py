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
    from tests.helpers.clock import assert_clock_covers_every_project, demo_calendars, run_clock_clear_of_week_starts
    from tests.hostile_input_guard.guard import make_site

    # One clock for the package, a day from every week start of the demo's projects: the pages the parts render read
    # the weeks the seed wrote (on the wall clock a week starting in between moved "this week" off them).
    # A tenth of the demo's shoppers: every screen still has content, and each page renders faster.
    with pytest.MonkeyPatch.context() as patch:
        calendars = demo_calendars()
        run_clock_clear_of_week_starts(patch, calendars)
        with django_db_blocker.unblock():
            patch.setattr(seed, "generate", partial(generate, shoppers=30))
            report = seed.seed_demo()
            made = make_site(report.project)
            assert_clock_covers_every_project(calendars, by="the guard's site")
        yield made
        with django_db_blocker.unblock():
            seed.delete_demo()
            # Seeding asked for tasks (routing, closes, builds) through the outbox; later tests expect none.
            OutboxMessage.objects.all().delete()
