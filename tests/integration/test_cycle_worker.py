"""The weekly close through Celery beat and a real worker on Redis; a second close changes nothing."""

import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from labeling.models import (
    CycleStatus,
    Membership,
    Output,
    QualityMetric,
    Queue,
    ReviewCycle,
)
from labeling.rules import calendar
from labeling.services.assignment import next_item
from labeling.services.labels import submit_label
from labeling.services.routing import route_outputs
from labeling.services.rubrics import publish_rubric
from labeling.tasks import close_week
from labeling.tasks import route_outputs as route_outputs_task
from tests.factories import OutputFactory, UserFactory
from tests.helpers.processes import ROOT, env_for_test_database, wait_for
from tests.helpers.rubrics import QUESTIONS

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def _start(args: list[str], **env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "expertloop", *args],
        cwd=ROOT, env=env_for_test_database(**env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _stop(process: subprocess.Popen) -> str:
    process.terminate()
    try:
        return process.communicate(timeout=20)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()[0]


@pytest.fixture
def worker_and_beat(tmp_path):
    import redis

    redis.Redis.from_url(settings.REDIS_URL).delete(settings.CELERY_TASK_DEFAULT_QUEUE)
    worker = _start(
        ["worker", "--pool=solo", "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    )
    # Beat sweeps every second here (every ten minutes by default); the routing sweep is kept out of the way.
    beat = _start(
        ["beat", "--loglevel=INFO", f"--schedule={tmp_path / 'beat-schedule'}"],
        CYCLE_SWEEP_SECONDS="1",
        ROUTE_SWEEP_SECONDS="3600",
    )
    processes = {"worker": worker, "beat": beat}
    yield processes
    for name, process in processes.items():
        if process.poll() is None:
            processes[name] = _stop(process)


def _last_week_of_labels(project) -> tuple:
    """A project a month old with twelve outputs of last week, labeled by two experts with some disagreement."""
    type(project).objects.filter(pk=project.pk).update(created_at=timezone.now() - timedelta(days=30))
    last_week = calendar.current_week(project) - timedelta(days=7)
    rubric = publish_rubric(project=project, questions=QUESTIONS)
    queue = Queue.objects.create(project=project, slug="sample", name="Sample", overlap=2)
    experts = [UserFactory(username=name) for name in ("erin", "ezra")]
    for user in experts:
        Membership.objects.create(project=project, user=user, role="expert")
    moment = calendar.week_end(project, last_week) - timedelta(days=3)
    outputs = [OutputFactory(project=project, external_id=f"o-{i}", occurred_at=moment) for i in range(12)]
    route_outputs(project_id=project.pk, output_ids=[output.pk for output in outputs])
    for index in range(12):
        for expert in experts:
            item = next_item(expert=expert, queue=queue)
            verdict = index % 4 != 0 or expert.username == "erin"  # Ezra fails every fourth
            submit_label(expert=expert, item=item, rubric=rubric, answers={"correct": verdict})
    return last_week, queue


def test_beat_and_a_worker_close_the_week_once_and_a_second_close_changes_nothing(worker_and_beat, project):
    last_week, queue = _last_week_of_labels(project)

    closed = wait_for(
        lambda: ReviewCycle.objects.filter(project=project, week=last_week, status=CycleStatus.CLOSED).exists(),
        timeout=90,
    )
    assert closed, "beat and the worker did not close the week:\n" + _stop(worker_and_beat["worker"])[-3000:]
    cycle = ReviewCycle.objects.get(project=project, week=last_week)
    figures = list(QualityMetric.objects.filter(project=project).values_list("question", "n", "passes", "value"))
    assert cycle.report["headline"]["pass_rate"]["n"] == 9  # the three disagreements are ties
    assert figures == [("correct", 9, 9, 1.0)]

    # Close it again through the broker, then a marker task: the solo worker runs them in order.
    close_week.delay(project.pk, last_week.isoformat())
    marker = OutputFactory(project=project, external_id="marker", occurred_at=timezone.now())
    route_outputs_task.delay(project.pk, [marker.pk])
    assert wait_for(lambda: Output.objects.filter(pk=marker.pk, routed_at__isnull=False).exists(), timeout=60)

    assert ReviewCycle.objects.filter(project=project, week=last_week).count() == 1
    again = ReviewCycle.objects.get(project=project, week=last_week)
    assert (again.report, again.closed_at) == (cycle.report, cycle.closed_at)
    assert (
        list(QualityMetric.objects.filter(project=project).values_list("question", "n", "passes", "value")) == figures
    )
    worker_log, beat_log = _stop(worker_and_beat["worker"]), _stop(worker_and_beat["beat"])
    assert "Sending due task close-due-weeks (labeling.close_due_weeks)" in beat_log
    assert "Task labeling.close_week" in worker_log and "succeeded" in worker_log


def test_back_after_three_weeks_down_beat_and_a_worker_close_each_missed_week_in_order(worker_and_beat, project):
    """The last close before the outage was four weeks ago: the three weeks since close, oldest first."""
    type(project).objects.filter(pk=project.pk).update(created_at=timezone.now() - timedelta(days=60))
    running = calendar.current_week(project)
    ReviewCycle.objects.create(project=project, week=running - timedelta(weeks=4), status=CycleStatus.CLOSED)
    missed = [running - timedelta(weeks=n) for n in (3, 2, 1)]

    closed = wait_for(
        lambda: ReviewCycle.objects.filter(project=project, week__in=missed, status=CycleStatus.CLOSED).count() == 3,
        timeout=120,
    )
    assert closed, "beat and the worker did not close the missed weeks:\n" + _stop(worker_and_beat["worker"])[-3000:]
    order = list(
        ReviewCycle.objects.filter(project=project, week__in=missed)
        .order_by("closed_at")
        .values_list("week", flat=True)
    )
    assert order == missed
