"""One close or refresh of a project week at a time (`services.cycles.week_lock`): a refresh that starts while the
week is being closed waits for the close, then leaves the closed week's rows as its frozen report saw them."""

import threading
from datetime import timedelta

import pytest

from labeling.models import CycleStatus, RetentionCell, ReviewCycle
from labeling.rules import calendar
from labeling.services import cycles
from tests.factories import OutputFactory
from tests.helpers.concurrency import in_thread

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_refresh_started_during_a_close_waits_for_it_and_leaves_the_closed_week_alone(project):
    week = calendar.current_week(project) - timedelta(days=7)
    OutputFactory(
        project=project, end_user_id="u1", occurred_at=calendar.week_start(project, week) + timedelta(hours=1)
    )
    ReviewCycle.objects.create(project=project, week=week)
    holding, release = threading.Event(), threading.Event()

    def close_in_progress():
        with cycles.week_lock(project=project, week=week):
            holding.set()
            release.wait(20)
            ReviewCycle.objects.filter(project=project, week=week).update(status=CycleStatus.CLOSED)

    closer, close_errors = in_thread(close_in_progress)
    assert holding.wait(20)
    refresher, refresh_errors = in_thread(lambda: cycles.refresh_metrics(project=project, week=week))
    refresher.join(1.5)
    assert refresher.is_alive()  # waiting for the close, not computing beside it
    release.set()
    closer.join(20)
    refresher.join(60)

    assert not refresher.is_alive() and not close_errors and not refresh_errors
    assert not RetentionCell.objects.filter(project=project).exists()  # it found the week closed and wrote nothing


def test_a_refresh_of_an_open_week_computes_once_the_lock_is_free(project):
    week = calendar.current_week(project) - timedelta(days=7)
    OutputFactory(
        project=project, end_user_id="u1", occurred_at=calendar.week_start(project, week) + timedelta(hours=1)
    )
    with cycles.week_lock(project=project, week=week):
        pass  # taken and given back
    cycles.refresh_metrics(project=project, week=week)
    assert RetentionCell.objects.filter(project=project).exists()
