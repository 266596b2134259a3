"""Alerts: each rule on planted conditions is raised once, not repeated while it holds (no second e-mail or webhook
message), not reopened once acknowledged, resolved when it clears and opened anew when it comes back; delivered by
e-mail and through the project's webhooks (Slack too); evaluated hourly and after each close, failed or not."""

import json
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from labeling import tasks
from labeling.exceptions import NotFound
from labeling.models import (
    Alert,
    AlertRule,
    AlertState,
    AuditEvent,
    ChangeDimension,
    ChangeKind,
    CycleStatus,
    Item,
    Label,
    Membership,
    Output,
    Project,
    Queue,
    QueueWeek,
    ReviewCycle,
    Slot,
    WebhookDelivery,
    WeekChange,
)
from labeling.rules import alerts as rules
from labeling.rules.calendar import week_end
from labeling.rules.twins import TWIN_WINDOW
from labeling.services import alerts, cycles, webhooks
from labeling.services.assignment import next_item
from labeling.services.labels import submit_label
from labeling.services.members import change_role, remove_member
from labeling.services.metrics import refresh_week_metrics
from labeling.services.queues import QueueValues, update_queue
from labeling.services.routing import route_outputs
from labeling.services.rubrics import publish_rubric
from tests.factories import OutputFactory, ProjectFactory, UserFactory
from tests.helpers.rubrics import QUESTIONS
from tests.labeling.services.test_cycle_failures import LEGACY_MOMENT
from tests.labeling.services.test_cycles import WEEK
from tests.labeling.services.test_cycles import week_of_labels as week_of_labels  # noqa: F401  (a fixture)
from tests.outbox import enqueued, run_as_worker

# A Wednesday noon: the running week (the project's weeks start on Monday, UTC) is 2026-W48, the last ended W47.
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
RUNNING = date(2026, 11, 23)
LAST = date(2026, 11, 16)
LONG_AGO = datetime(2026, 10, 1, tzinfo=UTC)


@pytest.fixture
def team(project, lead, expert):
    """The project a month old with its last ended week closed (nothing to alert about), a lead and an expert, and
    two webhook endpoints that hear alerts: a standard one and a Slack one."""
    Project.objects.filter(pk=project.pk).update(created_at=LONG_AGO)
    project.refresh_from_db()
    ReviewCycle.objects.create(project=project, week=LAST, status=CycleStatus.CLOSED, closed_at=week_end(project, LAST))
    events = ["alert.opened", "alert.resolved"]
    standard = webhooks.create_endpoint(
        project=project, created_by=lead, url="https://hooks.example.com/in", events=events
    ).endpoint
    slack = webhooks.create_endpoint(
        project=project, created_by=lead, url="https://hooks.slack.com/services/T0/B0/x", events=events, kind="slack"
    ).endpoint
    return {"project": project, "lead": lead, "expert": expert, "standard": standard, "slack": slack}


def _queue(project, slug="sample", **fields) -> Queue:
    fields.setdefault("name", slug.title())
    queue = Queue.objects.create(project=project, slug=slug, **fields)
    Queue.objects.filter(pk=queue.pk).update(created_at=LONG_AGO)
    return queue


def _label(project, queue, expert, at: datetime) -> Label:
    """A label in the queue, given at `at` (planted as a row: the rule reads when labels were given)."""
    rubric = project.rubrics.order_by("-version").first() or publish_rubric(project=project, questions=QUESTIONS)
    output = OutputFactory(project=project, occurred_at=at - timedelta(hours=1))
    item = Item.objects.create(project=project, queue=queue, output=output, week=RUNNING, overlap=1)
    label = Label.objects.create(item=item, expert=expert, rubric=rubric, answers={"correct": True})
    Label.objects.filter(pk=label.pk).update(created_at=at)
    return label


def _wanted(project, queue, week: date = RUNNING, labels: int = 5) -> Item:
    """An open item of the week in the queue with `labels` free slots: labels still wanted (as routing places it)."""
    output = OutputFactory(project=project, occurred_at=LONG_AGO)  # outside ingest_stopped's windows
    item = Item.objects.create(project=project, queue=queue, output=output, week=week, overlap=labels)
    Slot.objects.bulk_create(Slot(item=item, queue=queue, number=number) for number in range(1, labels + 1))
    return item


# Each rule: plant its condition, clear it, bring it back. Each returns the alert's key.


def _close_failed(team, step):
    cycle = ReviewCycle.objects.get(project=team["project"], week=LAST)
    if step == "clear":  # the close succeeded: closed, the failure cleared (as services/cycles.py does)
        ReviewCycle.objects.filter(pk=cycle.pk).update(status=CycleStatus.CLOSED, failure_kind="", failed_at=None)
    else:
        ReviewCycle.objects.filter(pk=cycle.pk).update(
            status=CycleStatus.OPEN, failure_kind="close", last_error="boom", failed_at=NOW, attempts=2
        )
    return "2026-W47"


def _close_overdue(team, step):
    # W47 ended Monday 00:00; with no grace, its close is overdue from 06:00 (ALERT_CLOSE_OVERDUE_HOURS).
    status = CycleStatus.CLOSED if step == "clear" else CycleStatus.OPEN
    ReviewCycle.objects.filter(project=team["project"], week=LAST).update(status=status)
    return "2026-W47"


def _queue_idle(team, step):
    project = team["project"]
    if step == "plant":
        queue = _queue(project, slug="idle")
        _wanted(project, queue)
        _label(project, queue, team["expert"], NOW - timedelta(days=4))  # before the 3 idle days
    elif step == "clear":  # an expert labels
        _label(project, Queue.objects.get(project=project, slug="idle"), team["expert"], NOW - timedelta(hours=1))
    else:  # the time passes again: the newest label is 4 days old
        Label.objects.filter(item__queue__slug="idle").update(created_at=NOW - timedelta(days=4))
    return "idle"


def _quota_missed(team, step):
    """10 items placed against a quota of 10, one label wanted each, 3 of them done (10 when cleared)."""
    project = team["project"]
    if step == "plant":
        queue = _queue(project, weekly_quota=10)
        QueueWeek.objects.create(project=project, week=LAST, queue=queue, quota=10, items=10, labels_wanted=10)
    done = 10 if step == "clear" else 3
    QueueWeek.objects.filter(project=project, week=LAST).update(items_complete=done, labels=done)
    return "sample"


def _ingest_stopped(team, step):
    project = team["project"]
    if step == "plant":
        # Forty outputs over the 28 days before the silence (at least one per 24 hours on average), none since.
        for index in range(40):
            OutputFactory(project=project, occurred_at=NOW - timedelta(hours=25 + 15 * index))
    elif step == "clear":
        OutputFactory(project=project, external_id="fresh", occurred_at=NOW - timedelta(hours=1))
    else:
        Output.objects.filter(project=project, external_id="fresh").delete()
    return ""


def _thumbs_down_rise(team, step):
    project = team["project"]
    if step == "clear":  # the hourly refresh no longer finds the rise significant: changes.py deletes its row
        WeekChange.objects.filter(project=project).delete()
    else:
        WeekChange.objects.create(
            project=project, week=RUNNING, rank=0, kind=ChangeKind.THUMBS_DOWN_SHARE,
            dimension=ChangeDimension.OVERALL, current=0.3, baseline=0.1, current_count=30, current_total=100,
            baseline_count=40, baseline_total=400, baseline_weeks=4, partial=True, test="two-proportion z",
            statistic=5.1, p_value=1e-6, q_value=1e-5, tests=12, effect=0.2, relative=2.0,
        )  # fmt: skip
    return "2026-W48"


PLANTS = {
    AlertRule.CLOSE_FAILED: _close_failed,
    AlertRule.CLOSE_OVERDUE: _close_overdue,
    AlertRule.QUEUE_IDLE: _queue_idle,
    AlertRule.QUOTA_MISSED: _quota_missed,
    AlertRule.INGEST_STOPPED: _ingest_stopped,
    AlertRule.THUMBS_DOWN_RISE: _thumbs_down_rise,
}


def _evaluate(project, capture, now=NOW):
    with capture(execute=True):
        return alerts.evaluate_alerts(project=project, now=now)


def _deliveries(endpoint, event="alert.opened"):
    return list(WebhookDelivery.objects.filter(endpoint=endpoint, event=event).order_by("pk"))


@pytest.mark.parametrize("rule", list(PLANTS))
def test_each_rule_opens_once_holds_through_acknowledgement_resolves_and_opens_again(
    team, rule, django_capture_on_commit_callbacks
):
    project, plant = team["project"], PLANTS[rule]
    key = plant(team, "plant")

    # Raised once: one alert, one e-mail to the leads, one alert.opened message per endpoint.
    evaluation = _evaluate(project, django_capture_on_commit_callbacks)
    assert [(alert.rule, alert.key) for alert in evaluation.opened] == [(rule, key)]
    alert = Alert.objects.get(project=project)
    assert alert.state == AlertState.OPEN and alert.title and alert.detail
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["lena@example.com"]
    assert alert.title in mail.outbox[0].subject and f"/p/{project.slug}/#alerts" in mail.outbox[0].body
    assert len(_deliveries(team["standard"])) == len(_deliveries(team["slack"])) == 1

    # Evaluated again while it holds: the same row, seen later, and nobody is told twice.
    later = NOW + timedelta(minutes=5)
    again = _evaluate(project, django_capture_on_commit_callbacks, now=later)
    assert (again.opened, again.kept, again.resolved) == ([], 1, [])
    assert Alert.objects.get(project=project).last_seen_at == later
    assert len(mail.outbox) == 1 and len(_deliveries(team["standard"])) == 1

    # Acknowledged: it stays acknowledged while the condition holds, never reopened.
    assert alerts.acknowledge_alert(alert=alert, user=team["lead"])
    _evaluate(project, django_capture_on_commit_callbacks)
    assert list(Alert.objects.filter(project=project).values_list("state", flat=True)) == [AlertState.ACKNOWLEDGED]
    assert len(mail.outbox) == 1

    # Cleared: resolved, and told as alert.resolved.
    plant(team, "clear")
    cleared = _evaluate(project, django_capture_on_commit_callbacks)
    assert [resolved.pk for resolved in cleared.resolved] == [alert.pk]
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED and alert.resolved_at == NOW
    assert len(_deliveries(team["standard"], "alert.resolved")) == 1
    assert _evaluate(project, django_capture_on_commit_callbacks).resolved == []  # resolved once

    # Back again after the resolution: a new alert, told anew.
    plant(team, "back")
    back = _evaluate(project, django_capture_on_commit_callbacks)
    assert [(opened.rule, opened.key) for opened in back.opened] == [(rule, key)]
    assert back.opened[0].pk != alert.pk
    assert Alert.objects.filter(project=project).count() == 2
    assert len(mail.outbox) == 2 and len(_deliveries(team["standard"])) == 2


def test_a_deactivated_lead_is_not_told(team, django_capture_on_commit_callbacks):
    """Deactivating an account is how an operator cuts a person off: the project's alerts stop reaching them too."""
    gone = UserFactory(username="lou", is_active=False)
    Membership.objects.create(project=team["project"], user=gone, role="lead")
    _quota_missed(team, "plant")

    _evaluate(team["project"], django_capture_on_commit_callbacks)

    assert [message.to for message in mail.outbox] == [["lena@example.com"]]


def test_an_opened_alert_is_delivered_as_a_payload_and_a_readable_slack_message(
    team, settings, django_capture_on_commit_callbacks
):
    """The standard endpoint gets ids, links and figures (no transcripts); Slack a short text a person reads."""
    _quota_missed(team, "plant")
    alert = _evaluate(team["project"], django_capture_on_commit_callbacks).opened[0]

    body = json.loads(_deliveries(team["standard"])[0].body)
    assert body["type"] == "alert.opened"
    assert body["data"]["project"] == "support-bot"
    assert body["data"]["project_url"] == settings.SITE_URL.rstrip("/") + "/p/support-bot/#alerts"
    assert body["data"]["alert"] | {"opened_at": None} == {
        "id": alert.pk, "rule": "quota_missed", "key": "sample", "state": "open",
        "title": "Sample missed its quota in 2026-W47",
        "detail": (
            "Sample completed 3 of its 10 items in 2026-W47 (quota 10): 3 of the 10 labels they wanted were given."
        ),
        "facts": {
            "queue": "sample", "week": "2026-W47", "items": 10, "items_complete": 3, "labels": 3, "labels_wanted": 10,
            "quota": 10,
        },
        "opened_at": None, "resolved_at": None,
    }  # fmt: skip
    slack = json.loads(_deliveries(team["slack"])[0].body)["text"]
    assert slack.startswith(
        "*Support bot*: Sample missed its quota in 2026-W47.\n"
        "Sample completed 3 of its 10 items in 2026-W47 (quota 10): 3 of the 10 labels they wanted were given.\n"
    )
    assert slack.endswith("/p/support-bot/#alerts")
    assert mail.outbox[0].subject == "[expertloop] Support bot: Sample missed its quota in 2026-W47"


@pytest.mark.parametrize(
    ("rule", "fact", "sent"),
    [
        (AlertRule.CLOSE_FAILED, "failed_at", "2026-11-25T12:00:00Z"),  # NOW
        (AlertRule.CLOSE_OVERDUE, "ended_at", "2026-11-23T05:00:00Z"),  # W47's end: Monday 00:00 in New York
        (AlertRule.QUEUE_IDLE, "last_label_at", "2026-11-21T12:00:00Z"),  # the newest label, 4 days before NOW
        (AlertRule.INGEST_STOPPED, "newest_output_at", "2026-11-24T11:00:00Z"),  # the newest output, 25 hours before
    ],
)
def test_an_alerts_moments_are_delivered_in_utc_with_z_as_every_moment_of_a_payload(
    team, rule, fact, sent, django_capture_on_commit_callbacks
):
    """The facts' moments went out as the rules store them ("+00:00", a week's end in the project's zone "-05:00"),
    while the payload's `timestamp` and `opened_at` were "…Z". The stored facts keep the same moment."""
    project = team["project"]
    Project.objects.filter(pk=project.pk).update(time_zone="America/New_York")
    project.refresh_from_db()
    PLANTS[rule](team, "plant")

    evaluation = _evaluate(project, django_capture_on_commit_callbacks)

    [alert] = [opened for opened in evaluation.opened if opened.rule == rule]
    [body] = [
        body
        for body in (json.loads(delivery.body) for delivery in _deliveries(team["standard"]))
        if body["data"]["alert"]["id"] == alert.pk
    ]
    assert body["data"]["alert"]["facts"][fact] == sent
    assert body["timestamp"].endswith("Z") and body["data"]["alert"]["opened_at"].endswith("Z")
    assert datetime.fromisoformat(alert.facts[fact]) == datetime.fromisoformat(sent)


def test_a_quota_missed_alert_resolves_when_the_queue_loses_its_quota(team, django_capture_on_commit_callbacks):
    _quota_missed(team, "plant")
    alert = _evaluate(team["project"], django_capture_on_commit_callbacks).opened[0]

    Queue.objects.filter(project=team["project"]).update(weekly_quota=None)

    assert _evaluate(team["project"], django_capture_on_commit_callbacks).resolved == [alert]


@pytest.mark.parametrize("rule", [AlertRule.QUEUE_IDLE, AlertRule.QUOTA_MISSED])
def test_an_archived_queue_raises_no_queue_alert_and_its_open_one_resolves(
    team, rule, django_capture_on_commit_callbacks
):
    """Archiving a queue (turning `is_active` off) ends what its rules say about it; the others' alerts stay."""
    project = team["project"]
    key = PLANTS[rule](team, "plant")
    alert = _evaluate(project, django_capture_on_commit_callbacks).opened[0]
    assert (alert.rule, alert.key) == (rule, key)

    Queue.objects.filter(project=project, slug=key).update(is_active=False)
    assert _evaluate(project, django_capture_on_commit_callbacks).resolved == [alert]

    # And an archived queue whose condition holds from the start opens nothing.
    Alert.objects.filter(project=project).delete()
    assert _evaluate(project, django_capture_on_commit_callbacks).opened == []


@pytest.mark.parametrize("rule", [AlertRule.QUEUE_IDLE, AlertRule.QUOTA_MISSED])
def test_renaming_a_queue_keeps_its_alert_acknowledged_not_resolved_and_opened_anew(
    team, rule, other_project, django_capture_on_commit_callbacks
):
    """A queue's alert is keyed by its slug: a lead renaming the slug carries the alert along, so the condition still
    holding keeps the same acknowledged alert, and nobody is told it resolved and opened again. Another project's
    alert about a queue of the same slug stays as it is."""
    project = team["project"]
    key = PLANTS[rule](team, "plant")
    theirs = Alert.objects.create(project=other_project, rule=rule, key=key, title="Theirs", facts={"queue": key})
    alert = _evaluate(project, django_capture_on_commit_callbacks).opened[0]
    assert alerts.acknowledge_alert(alert=alert, user=team["lead"])
    queue = Queue.objects.get(project=project, slug=key)

    update_queue(
        queue=queue,
        actor=team["lead"],
        values=QueueValues(slug=f"{key}-renamed", name=queue.name, weekly_quota=queue.weekly_quota),
    )
    evaluation = _evaluate(project, django_capture_on_commit_callbacks)

    assert (evaluation.opened, evaluation.kept, evaluation.resolved) == ([], 1, [])
    alert.refresh_from_db()
    assert (alert.key, alert.state, alert.facts["queue"]) == (f"{key}-renamed", AlertState.ACKNOWLEDGED, alert.key)
    assert len(mail.outbox) == 1
    assert len(_deliveries(team["standard"])) == 1 and not _deliveries(team["standard"], "alert.resolved")
    assert Alert.objects.values_list("key", "facts").get(pk=theirs.pk) == (key, {"queue": key})


@pytest.mark.parametrize("computed", [False, True], ids=["no rows", "rows computed"])
def test_a_queue_with_nothing_in_the_last_closed_week_missed_its_quota(
    team, django_capture_on_commit_callbacks, computed
):
    """No QueueWeek row for the week (nothing placed, nothing labeled), or the row a close stores for a quota queue
    that got nothing (0 placed), is 0 labels against the quota: the worst miss. Not for a queue created during that
    week (it never had a whole week), nor an archived one."""
    project = team["project"]
    _queue(project, slug="empty", weekly_quota=10)  # created long before W47
    young = Queue.objects.create(project=project, slug="young", name="Young", weekly_quota=10)
    Queue.objects.filter(pk=young.pk).update(created_at=datetime(2026, 11, 17, tzinfo=UTC))  # W47's Tuesday
    _queue(project, slug="archived", weekly_quota=10, is_active=False)
    _queue(project, slug="no-quota")
    if computed:
        refresh_week_metrics(project=project, week=LAST)
        assert set(QueueWeek.objects.filter(week=LAST).values_list("queue__slug", "items")) == {
            ("empty", 0),
            ("young", 0),
        }

    opened = _evaluate(project, django_capture_on_commit_callbacks).opened

    assert [(alert.rule, alert.key, alert.facts) for alert in opened] == [
        (
            AlertRule.QUOTA_MISSED,
            "empty",
            {
                "queue": "empty", "week": "2026-W47", "items": 0, "items_complete": 0, "labels": 0,
                "labels_wanted": 0, "quota": 10,
            },
        )
    ]  # fmt: skip
    assert opened[0].detail == "Empty completed no item in 2026-W47: nothing was placed in it (quota 10)."


def _billing_week(team, *, labels_per_item: int) -> Queue:
    """Billing (2 experts an item, quota 4) gets 4 outputs of the last closed week, routed and labeled as experts do;
    the week's figures then computed as the close computes them (the meeting page reads the same row)."""
    project, expert, other_expert = team["project"], team["expert"], team["other_expert"]
    rubric = publish_rubric(project=project, questions=QUESTIONS)
    queue = _queue(project, slug="billing", name="Billing", overlap=2, weekly_quota=4)
    moment = datetime(2026, 11, 18, 12, tzinfo=UTC)  # W47's Wednesday
    outputs = [OutputFactory(project=project, external_id=f"b-{i}", occurred_at=moment) for i in range(4)]
    route_outputs(project_id=project.pk, output_ids=[output.pk for output in outputs])
    for _ in range(4):
        for labeler in (expert, other_expert)[:labels_per_item]:
            item = next_item(expert=labeler, queue=queue)
            submit_label(expert=labeler, item=item, rubric=rubric, answers={"correct": True, "helpful": 4})
    refresh_week_metrics(project=project, week=LAST)
    return queue


def test_a_week_of_half_labeled_items_misses_the_quota_though_its_labels_equal_it(
    team, other_expert, django_capture_on_commit_callbacks
):
    """A quota caps the items placed a week, each wanting `overlap` labels. 4 items with one label of the two each is 4
    labels, the quota's number, but no item is done: counted in labels it met the quota; in items it missed it."""
    team["other_expert"] = other_expert
    _billing_week(team, labels_per_item=1)
    row = QueueWeek.objects.get(queue__slug="billing", week=LAST)
    assert (row.items, row.items_complete, row.labels, row.labels_wanted, row.quota) == (4, 0, 4, 8, 4)

    [alert] = _evaluate(team["project"], django_capture_on_commit_callbacks).opened

    assert (alert.rule, alert.key) == (AlertRule.QUOTA_MISSED, "billing")
    assert alert.title == "Billing missed its quota in 2026-W47"
    assert alert.detail == (
        "Billing completed 0 of its 4 items in 2026-W47 (quota 4): 4 of the 8 labels they wanted were given."
    )
    assert alert.facts == {
        "queue": "billing", "week": "2026-W47", "items": 4, "items_complete": 0, "labels": 4, "labels_wanted": 8,
        "quota": 4,
    }  # fmt: skip


def test_a_week_of_fully_labeled_items_meets_the_quota(team, other_expert, django_capture_on_commit_callbacks):
    team["other_expert"] = other_expert
    _billing_week(team, labels_per_item=2)

    assert _evaluate(team["project"], django_capture_on_commit_callbacks).opened == []


@pytest.mark.parametrize(
    ("items", "items_complete", "missed"),
    [(4, 4, False), (4, 3, True), (10, 9, True), (10, 10, False), (12, 10, False)],
)
def test_a_queue_is_held_to_the_items_placed_when_fewer_outputs_than_its_quota_arrived(
    team, items, items_complete, missed, django_capture_on_commit_callbacks
):
    """A quota of 10 caps the items placed: a week when only 4 outputs matched asks those 4 done, no more (the 6 that
    never arrived are nobody's miss); 10 placed ask 10; a quota lowered after 12 were placed asks its 10."""
    project = team["project"]
    queue = _queue(project, weekly_quota=10)
    QueueWeek.objects.create(
        project=project, week=LAST, queue=queue, quota=10, items=items, items_complete=items_complete,
        labels=items_complete, labels_wanted=items,
    )  # fmt: skip

    opened = _evaluate(project, django_capture_on_commit_callbacks).opened

    assert [alert.key for alert in opened] == (["sample"] if missed else [])
    if missed and items < 10:
        assert opened[0].detail == (
            "Sample completed 3 of its 4 items in 2026-W47 (quota 10; only 4 placed, as fewer outputs matched): 3 "
            "of the 4 labels they wanted were given."
        )


def test_a_later_closed_week_that_meets_the_quota_resolves_quota_missed(team, django_capture_on_commit_callbacks):
    project = team["project"]
    _quota_missed(team, "plant")
    alert = _evaluate(project, django_capture_on_commit_callbacks).opened[0]
    queue = Queue.objects.get(project=project)
    QueueWeek.objects.create(
        project=project, week=RUNNING, queue=queue, quota=10, items=10, items_complete=10, labels=10, labels_wanted=10
    )
    ReviewCycle.objects.create(project=project, week=RUNNING, status=CycleStatus.CLOSED)

    a_week_later = NOW + timedelta(days=7)
    assert _evaluate(project, django_capture_on_commit_callbacks, now=a_week_later).resolved == [alert]


def test_a_failed_close_is_close_failed_not_close_overdue(team, django_capture_on_commit_callbacks):
    _close_failed(team, "plant")

    opened = _evaluate(team["project"], django_capture_on_commit_callbacks).opened

    assert [alert.rule for alert in opened] == [AlertRule.CLOSE_FAILED]


def test_a_failed_close_says_it_is_tried_again_only_while_it_is_and_is_retold_once_its_retry_is_overdue(
    team, django_capture_on_commit_callbacks
):
    """The alert said "It is tried again automatically" whatever happened after: also once its retry was overdue
    (nothing is retrying it: rules.weekly_close.retry_overdue). Its words follow the retry, and the change is retold
    to the leads once."""
    _close_failed(team, "plant")
    ReviewCycle.objects.filter(project=team["project"], week=LAST).update(next_attempt_at=NOW + timedelta(minutes=10))

    [opened] = _evaluate(team["project"], django_capture_on_commit_callbacks).opened
    assert opened.detail.endswith(
        "It is tried again automatically, waiting longer after each failure; the week's meeting page shows the error."
    )
    assert opened.facts["retry"] == "scheduled" and len(mail.outbox) == 1

    # Still due within the hour after its moment: nothing changed, nothing retold.
    _evaluate(team["project"], django_capture_on_commit_callbacks, now=NOW + timedelta(minutes=69))
    assert Alert.objects.get(pk=opened.pk).detail == opened.detail and len(mail.outbox) == 1

    _evaluate(team["project"], django_capture_on_commit_callbacks, now=NOW + timedelta(minutes=71))
    retold = Alert.objects.get(pk=opened.pk)
    assert retold.detail.endswith(
        "It was due to be tried again at 2026-11-25 12:10 UTC and has not been: is the Celery worker or beat "
        "running? A lead can close it from the week's meeting page, which shows the error."
    )
    assert "tried again automatically" not in retold.detail and retold.facts["retry"] == "overdue"
    assert len(mail.outbox) == 2

    # Once: a later evaluation, still overdue, finds nothing changed and mails no one.
    _evaluate(team["project"], django_capture_on_commit_callbacks, now=NOW + timedelta(hours=3))
    assert Alert.objects.get(pk=opened.pk).detail == retold.detail and len(mail.outbox) == 2


def test_a_close_failed_alert_opened_before_its_retry_was_kept_reads_as_scheduled(
    team, django_capture_on_commit_callbacks
):
    """An alert opened before `facts` kept the retry said it is tried again: read so, it is not retold while the retry
    is still scheduled, and is retold once when it is overdue."""
    _close_failed(team, "plant")
    ReviewCycle.objects.filter(project=team["project"], week=LAST).update(next_attempt_at=NOW + timedelta(minutes=10))
    [opened] = _evaluate(team["project"], django_capture_on_commit_callbacks).opened
    facts = {key: value for key, value in opened.facts.items() if key != "retry"}
    Alert.objects.filter(pk=opened.pk).update(facts=facts)
    assert len(mail.outbox) == 1

    _evaluate(team["project"], django_capture_on_commit_callbacks, now=NOW + timedelta(minutes=30))
    kept = Alert.objects.get(pk=opened.pk)
    assert kept.detail == opened.detail and "retry" not in kept.facts and len(mail.outbox) == 1

    _evaluate(team["project"], django_capture_on_commit_callbacks, now=NOW + timedelta(minutes=71))
    assert Alert.objects.get(pk=opened.pk).facts["retry"] == "overdue" and len(mail.outbox) == 2


def test_a_failed_close_of_a_week_before_the_projects_first_says_a_lead_closes_it(
    team, django_capture_on_commit_callbacks
):
    """Beat never closes a week from before the project's first (rules.weekly_close.left_to_a_lead), so it never
    retries its failed close either: the alert does not say it is tried again."""
    before = date(2026, 9, 21)  # the project was created on 2026-10-01 (LONG_AGO)
    ReviewCycle.objects.create(
        project=team["project"], week=before, status=CycleStatus.OPEN, failure_kind="close", last_error="boom",
        failed_at=NOW, attempts=1, next_attempt_at=NOW + timedelta(minutes=10),
    )  # fmt: skip

    [opened] = _evaluate(team["project"], django_capture_on_commit_callbacks).opened

    assert (opened.rule, opened.key) == (AlertRule.CLOSE_FAILED, "2026-W39")
    assert opened.detail.endswith(
        "It is not tried again automatically (beat closes no week from before the project's first): a lead closes it "
        "from the week's meeting page, which shows the error."
    )


def test_a_week_is_not_overdue_before_the_grace_and_the_overdue_hours(
    team, settings, django_capture_on_commit_callbacks
):
    settings.CYCLE_CLOSE_GRACE_HOURS, settings.ALERT_CLOSE_OVERDUE_HOURS = 48, 6
    _close_overdue(team, "plant")
    project = team["project"]
    ReviewCycle.objects.create(project=project, week=LAST - timedelta(days=7), status=CycleStatus.CLOSED)

    # W47 ended Monday 2026-11-23 00:00: overdue from Wednesday 06:00 (48 h + 6 h).
    early, late = datetime(2026, 11, 25, 5, tzinfo=UTC), datetime(2026, 11, 25, 7, tzinfo=UTC)
    assert _evaluate(project, django_capture_on_commit_callbacks, now=early).opened == []
    opened = _evaluate(project, django_capture_on_commit_callbacks, now=late).opened
    assert [(alert.rule, alert.key) for alert in opened] == [(AlertRule.CLOSE_OVERDUE, "2026-W47")]


def test_an_overdue_week_stays_alerted_after_the_next_week_ends(team, django_capture_on_commit_callbacks):
    """The calendar moving on does not resolve the alert of a week still open."""
    _close_overdue(team, "plant")
    alert = _evaluate(team["project"], django_capture_on_commit_callbacks).opened[0]

    a_week_later = _evaluate(team["project"], django_capture_on_commit_callbacks, now=NOW + timedelta(days=7))

    assert a_week_later.resolved == [] and [opened.key for opened in a_week_later.opened] == ["2026-W48"]
    alert.refresh_from_db()
    assert alert.state == AlertState.OPEN


def test_a_young_queue_is_not_idle(team, django_capture_on_commit_callbacks):
    project = team["project"]
    queue = Queue.objects.create(project=project, slug="new", name="New")
    Queue.objects.filter(pk=queue.pk).update(created_at=NOW - timedelta(days=2))  # younger than the 3 idle days
    _wanted(project, queue)

    assert _evaluate(project, django_capture_on_commit_callbacks).opened == []
    in_two_days = _evaluate(project, django_capture_on_commit_callbacks, now=NOW + timedelta(days=2)).opened
    assert [(alert.rule, alert.key) for alert in in_two_days] == [(AlertRule.QUEUE_IDLE, "new")]


def test_an_idle_queue_stays_alerted_across_the_week_flip(team, django_capture_on_commit_callbacks):
    """The backlog is the labels still wanted in every week not closed yet, not the running week's QueueWeek row
    (none until routing samples the week): at the flip the new week is empty, the last one's work still waits."""
    project = team["project"]
    queue = _queue(project, slug="idle")
    _wanted(project, queue, labels=2)
    QueueWeek.objects.create(project=project, week=RUNNING, queue=queue, items=1, labels_wanted=2, backlog=2)
    _label(project, queue, team["expert"], NOW - timedelta(days=4))

    alert = _evaluate(project, django_capture_on_commit_callbacks).opened[0]
    assert (alert.rule, alert.key, alert.facts["backlog"]) == (AlertRule.QUEUE_IDLE, "idle", 2)

    # Monday of W49: no work (and no QueueWeek row) in it yet; W48 is not closed (its grace runs) and still waits.
    monday = datetime(2026, 11, 30, 1, tzinfo=UTC)
    assert _evaluate(project, django_capture_on_commit_callbacks, now=monday).resolved == []
    # W48 closed with its work unlabeled and nothing placed since: nothing is wanted in an open week any more.
    ReviewCycle.objects.create(project=project, week=RUNNING, status=CycleStatus.CLOSED)
    ReviewCycle.objects.create(project=project, week=RUNNING + timedelta(days=7), status=CycleStatus.OPEN)
    assert _evaluate(project, django_capture_on_commit_callbacks, now=monday).resolved == [alert]


def test_an_idle_queue_alert_says_since_when_it_is_idle_not_the_threshold(team, django_capture_on_commit_callbacks):
    """The last label is 22 days old and the threshold 3 days: the alert names the last label's time and the 22 days,
    never the cutoff (NOW minus 3 days)."""
    project = team["project"]
    queue = _queue(project, slug="weekly", name="Weekly sample")
    _wanted(project, queue, labels=2)
    _label(project, queue, team["expert"], datetime(2026, 11, 3, 9, 30, tzinfo=UTC))

    alert = _evaluate(project, django_capture_on_commit_callbacks).opened[0]

    assert alert.title == "Nobody labeled in Weekly sample since 2026-11-03"
    assert "since its last label at 2026-11-03 09:30 UTC: idle for 22 days" in alert.detail
    assert "2026-11-22" not in alert.detail  # the idle cutoff
    assert (alert.facts["last_label_at"], alert.facts["idle_days"]) == ("2026-11-03T09:30:00+00:00", 22)


def test_an_idle_queue_alert_dates_its_title_in_the_projects_zone_and_counts_in_words(
    client, team, django_capture_on_commit_callbacks
):
    """The last label was at 20:02 on 13 November in New York (01:02 on the 14th in UTC): the title says the 13th, as
    the body does on the project page ("2026-11-13 20:02 EST"); one label wanted is "1 label", not "1 label(s)"."""
    project = team["project"]
    Project.objects.filter(pk=project.pk).update(time_zone="America/New_York")
    project.refresh_from_db()
    queue = _queue(project, slug="weekly", name="Weekly sample")
    _wanted(project, queue, labels=1)
    _label(project, queue, team["expert"], datetime(2026, 11, 14, 1, 2, tzinfo=UTC))

    alert = _evaluate(project, django_capture_on_commit_callbacks).opened[0]

    assert alert.title == "Nobody labeled in Weekly sample since 2026-11-13"
    assert "has 1 label still wanted" in alert.detail and "idle for 11 days when" in alert.detail
    assert "(s)" not in alert.detail
    client.force_login(team["lead"])
    page = client.get(f"/p/{project.slug}/").content.decode()
    assert "Nobody labeled in Weekly sample since 2026-11-13" in page and "2026-11-13 20:02 EST" in page


def test_a_failed_close_alert_says_1_time(team, django_capture_on_commit_callbacks):
    ReviewCycle.objects.filter(project=team["project"], week=LAST).update(
        status=CycleStatus.OPEN, failure_kind="close", last_error="boom", failed_at=NOW, attempts=1
    )

    alert = _evaluate(team["project"], django_capture_on_commit_callbacks).opened[0]

    assert "failed 1 time in a row" in alert.detail and "(s)" not in alert.detail


def test_a_queue_nobody_ever_labeled_in_says_so(team, django_capture_on_commit_callbacks):
    project = team["project"]
    _wanted(project, _queue(project, slug="untouched", name="Untouched"))

    alert = _evaluate(project, django_capture_on_commit_callbacks).opened[0]

    assert alert.title == "Nobody has labeled in Untouched yet"
    assert "has never had a label since it was created at 2026-10-01 00:00 UTC: idle for 55 days" in alert.detail
    assert alert.facts["last_label_at"] is None


def test_a_project_that_seldom_has_outputs_has_not_stopped(team, django_capture_on_commit_callbacks):
    """27 outputs in the 28 days before the silence is less than one per 24 hours: its silence is its habit."""
    for index in range(27):
        OutputFactory(project=team["project"], occurred_at=NOW - timedelta(hours=25 + 20 * index))

    assert _evaluate(team["project"], django_capture_on_commit_callbacks).opened == []
    OutputFactory(project=team["project"], occurred_at=NOW - timedelta(days=20))
    assert [alert.rule for alert in _evaluate(team["project"], django_capture_on_commit_callbacks).opened] == [
        AlertRule.INGEST_STOPPED
    ]


def test_ingest_stopped_holds_while_the_silence_outlasts_its_baseline(team, django_capture_on_commit_callbacks):
    _ingest_stopped(team, "plant")
    _evaluate(team["project"], django_capture_on_commit_callbacks)

    two_months_later = _evaluate(team["project"], django_capture_on_commit_callbacks, now=NOW + timedelta(days=60))

    assert two_months_later.resolved == [] and two_months_later.kept >= 1
    assert Alert.objects.get(rule=AlertRule.INGEST_STOPPED).state == AlertState.OPEN


def test_a_thumbs_down_fall_or_another_slice_raises_nothing(team, django_capture_on_commit_callbacks):
    _thumbs_down_rise(team, "plant")
    WeekChange.objects.filter(project=team["project"]).update(effect=-0.2, current=0.1, baseline=0.3)
    WeekChange.objects.create(
        project=team["project"], week=RUNNING, rank=1, kind=ChangeKind.SLICE_THUMBS_DOWN,
        dimension=ChangeDimension.MODEL, value="gpt-next", current=0.4, baseline=0.1, current_count=4,
        current_total=10, baseline_count=4, baseline_total=40, baseline_weeks=4, partial=True, test="z", statistic=3,
        p_value=1e-3, q_value=1e-2, tests=12, effect=0.3,
    )  # fmt: skip

    assert _evaluate(team["project"], django_capture_on_commit_callbacks).opened == []


def test_a_thumbs_down_rise_of_the_last_closed_week_holds_until_the_next_close(
    team, django_capture_on_commit_callbacks
):
    _thumbs_down_rise(team, "plant")
    WeekChange.objects.filter(project=team["project"]).update(week=LAST, partial=False)
    alert = _evaluate(team["project"], django_capture_on_commit_callbacks).opened[0]
    assert alert.key == "2026-W47" and "so far" not in alert.detail

    ReviewCycle.objects.create(project=team["project"], week=RUNNING, status=CycleStatus.CLOSED)
    after_the_next_close = NOW + timedelta(days=7)
    resolved = _evaluate(team["project"], django_capture_on_commit_callbacks, now=after_the_next_close).resolved
    assert resolved == [alert]


def test_the_evaluation_reads_a_fixed_number_of_queries(
    team, django_assert_num_queries, django_capture_on_commit_callbacks
):
    """Whatever the project holds (queues, labels, outputs, alerts), re-evaluating what holds reads the same rows:
    its unresolved alerts, cycles, last closed week, queue weeks, recent labels, queues, who of the queues' named
    experts may label and who may label in a queue for everyone, outputs (newest and the capped baseline),
    thumbs-down changes; then one update of last_seen_at (and the test's savepoint). A queue's last label of all is
    read only when its idle alert is to open, not again while it is open."""
    for plant in (_queue_idle, _quota_missed, _ingest_stopped, _thumbs_down_rise):
        plant(team, "plant")
    ReviewCycle.objects.create(project=team["project"], week=LAST - timedelta(days=7), failure_kind="close")
    _evaluate(team["project"], django_capture_on_commit_callbacks)
    with django_assert_num_queries(14):
        alerts.evaluate_alerts(project=team["project"], now=NOW)

    for index in range(5):
        queue = _queue(team["project"], slug=f"more-{index}", weekly_quota=3)
        QueueWeek.objects.create(
            project=team["project"],
            week=LAST,
            queue=queue,
            quota=3,
            items=3,
            items_complete=1,
            labels=1,
            labels_wanted=3,
        )
        _wanted(team["project"], queue, labels=2)
        _label(team["project"], queue, team["expert"], NOW - timedelta(days=5))
    _evaluate(team["project"], django_capture_on_commit_callbacks)
    assert Alert.objects.unresolved().filter(project=team["project"]).count() == 15
    with django_assert_num_queries(14):
        alerts.evaluate_alerts(project=team["project"], now=NOW)


def test_the_facts_are_read_in_ten_queries_and_one_more_when_a_queue_may_newly_be_idle(team, django_assert_num_queries):
    """What `_facts` says of itself: cycles, last closed week, its queue weeks, recent labels, queues (with their
    backlog), who of the queues' named experts may label and who may label in a queue for everyone (two), the newest
    output and the capped baseline (two), thumbs-down changes: ten, whatever the project holds. A queue that may
    newly be idle adds its last label of all; once its alert is open (held), it does not."""
    project = team["project"]
    for plant in (_queue_idle, _quota_missed, _ingest_stopped, _thumbs_down_rise):
        plant(team, "plant")
    ReviewCycle.objects.create(project=project, week=LAST - timedelta(days=7), failure_kind="close")
    for index in range(3):
        queue = _queue(project, slug=f"more-{index}", weekly_quota=3)
        _wanted(project, queue, labels=2)
        _label(project, queue, team["expert"], NOW - timedelta(days=1))

    with django_assert_num_queries(11):
        facts = alerts._facts(project, NOW, held={})
    assert [queue.slug for queue in facts.queues if queue.idle_since is not None] == ["idle"]

    held = {(AlertRule.QUEUE_IDLE, "idle"): Alert(project=project, rule=AlertRule.QUEUE_IDLE, key="idle")}
    with django_assert_num_queries(10):
        alerts._facts(project, NOW, held=held)


def test_only_leads_and_operators_acknowledge(team):
    _quota_missed(team, "plant")
    alerts.evaluate_alerts(project=team["project"], now=NOW)
    alert = Alert.objects.get()

    with pytest.raises(NotFound):
        alerts.acknowledge_alert(alert=alert, user=team["expert"])
    assert alerts.acknowledge_alert(alert=alert, user=team["lead"])
    assert alerts.acknowledge_alert(alert=alert, user=team["lead"])  # the same post again (rules.twins)
    Alert.objects.update(acknowledged_at=timezone.now() - TWIN_WINDOW)
    assert not alerts.acknowledge_alert(alert=alert, user=team["lead"])  # once
    alert.refresh_from_db()
    assert (alert.state, alert.acknowledged_by) == (AlertState.ACKNOWLEDGED, team["lead"])
    assert AuditEvent.objects.filter(project=team["project"], action="alert.acknowledged").count() == 1


# The hourly round and the close -------------------------------------------------------------------------------


def test_the_hourly_task_evaluates_every_project_and_a_failing_one_stops_none(
    team, django_capture_on_commit_callbacks, monkeypatch
):
    """A project whose evaluation fails is logged; the others are evaluated. (An unknown time zone no longer fails:
    the project's weeks fall back to UTC, so the failure is planted.)"""
    _quota_missed(team, "plant")
    other = ProjectFactory(slug="sql-assistant", name="SQL assistant")
    Project.objects.filter(pk=other.pk).update(created_at=LONG_AGO)  # its last week never closed: overdue
    ProjectFactory(slug="broken")
    evaluate = alerts.evaluate_alerts

    def failing_for_broken(*, project, now):
        if project.slug == "broken":
            raise RuntimeError("planted failure")
        return evaluate(project=project, now=now)

    monkeypatch.setattr(alerts, "evaluate_alerts", failing_for_broken)

    with django_capture_on_commit_callbacks(execute=True):
        evaluated = tasks.evaluate_alerts()

    assert evaluated == Project.objects.count() - 1
    # The task runs at the real time, after NOW: support-bot's W48 is over and open too.
    assert set(Alert.objects.values_list("project__slug", "rule")) == {
        ("support-bot", AlertRule.QUOTA_MISSED),
        ("support-bot", AlertRule.CLOSE_OVERDUE),
        ("sql-assistant", AlertRule.CLOSE_OVERDUE),
    }


def test_closing_a_week_whose_quota_is_missed_opens_quota_missed(project, lead, week_of_labels):  # noqa: F811
    """The close asks for an evaluation through the outbox, after the cycle is closed; run as the worker runs it."""
    assert week_of_labels["queue"].weekly_quota == 50  # and the week's 10 items have their 20 labels
    # An 11th output of the week, placed and never labeled: the queue completed 10 of its 11 items.
    late = OutputFactory(project=project, external_id="w-late", occurred_at=datetime(2026, 11, 12, 12, tzinfo=UTC))
    route_outputs(project_id=project.pk, output_ids=[late.pk])

    cycles.close_week(project_id=project.pk, week=WEEK, closed_by=lead)

    [message] = enqueued("labeling.evaluate_project_alerts")
    assert message.args == [project.pk]
    run_as_worker(message)
    alert = Alert.objects.get(project=project, rule=AlertRule.QUOTA_MISSED)
    assert alert.key == "sample"
    assert alert.facts == {
        "queue": "sample", "week": "2026-W46", "items": 11, "items_complete": 10, "labels": 20, "labels_wanted": 22,
        "quota": 50,
    }  # fmt: skip
    assert alert.detail == (
        "Sample completed 10 of its 11 items in 2026-W46 (quota 50; only 11 placed, as fewer outputs matched): 20 "
        "of the 22 labels they wanted were given."
    )


@pytest.mark.postgres
def test_a_failing_close_opens_close_failed(project, lead):
    """A poisoned row fails the close (test_cycle_failures.py); the failure asks for the evaluation that tells it."""
    Project.objects.filter(pk=project.pk).update(created_at=F("created_at") - timedelta(days=30))
    project.refresh_from_db()
    OutputFactory(project=project, end_user_id="u-legacy", occurred_at=LEGACY_MOMENT)
    week = cycles.due_weeks()[0][1]

    with pytest.raises(Exception, match="out of range"):
        cycles.close_week(project_id=project.pk, week=week)

    [message] = enqueued("labeling.evaluate_project_alerts")
    run_as_worker(message)
    alert = Alert.objects.get(project=project, rule=AlertRule.CLOSE_FAILED)
    assert alert.key == f"{week:%G-W%V}" and alert.state == AlertState.OPEN
    # The failed week is told as failed, not overdue. (In the first hours of a week, the week before the one just
    # ended is still the latest whose close is overdue, and this project never closed it: that one may be told.)
    assert not Alert.objects.filter(project=project, rule=AlertRule.CLOSE_OVERDUE, key=alert.key).exists()


# Concurrency ---------------------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_evaluations_at_once_open_one_alert_and_tell_it_once(project, lead):
    """The first evaluation inserts its alert and holds its transaction open until the second is seen waiting on
    that row's unique index (pg_locks); then it commits, and the second finds the conflict and tells nobody."""
    Project.objects.filter(pk=project.pk).update(created_at=LONG_AGO)
    project.refresh_from_db()
    ReviewCycle.objects.create(project=project, week=LAST, status=CycleStatus.CLOSED)
    _quota_missed({"project": project}, "plant")
    first_inserted, results, errors = threading.Event(), {}, []

    def first():
        try:
            with transaction.atomic():
                results["first"] = alerts.evaluate_alerts(project=project, now=NOW)
                first_inserted.set()
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
                        if cursor.fetchone()[0]:
                            break
                    time.sleep(0.02)
                else:
                    errors.append("the second evaluation never waited on the first one's row")
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    def second():
        try:
            first_inserted.wait(10)
            results["second"] = alerts.evaluate_alerts(project=project, now=NOW)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert len(results["first"].opened) == 1 and results["second"].opened == []
    assert Alert.objects.filter(project=project).count() == 1
    assert [message.subject for message in mail.outbox] == [
        "[expertloop] Support bot: Sample missed its quota in 2026-W47"
    ]


def test_the_thresholds_are_settings(settings):
    settings.ALERT_INGEST_SILENCE_HOURS = 6
    assert rules.ingest_windows() == 112  # 28 days of 6-hour windows
    settings.ALERT_QUEUE_IDLE_DAYS = 5
    assert rules.idle_cutoff(NOW) == NOW - timedelta(days=5)


def test_a_queue_resumed_lately_is_not_idle_until_the_idle_days_pass_without_a_label(
    team, django_capture_on_commit_callbacks
):
    """A lead resumes a queue paused for weeks with work still waiting: its last label is weeks old, so the next round
    opened "Nobody labeled in Paused since 2026-11-03" at once (an e-mail to the leads) though it had handed out items
    for minutes. A resumed queue is idle, as a new one is, once ALERT_QUEUE_IDLE_DAYS pass without a label, and the
    alert says since when: its resumption, not the label before the pause."""
    project = team["project"]
    queue = _queue(project, slug="paused", name="Paused", is_active=False)
    _wanted(project, queue, labels=2)
    _label(project, queue, team["expert"], datetime(2026, 11, 3, 9, 30, tzinfo=UTC))
    capture = django_capture_on_commit_callbacks

    update_queue(queue=queue, actor=team["lead"], values=QueueValues(slug="paused", name="Paused", is_active=True))
    resumed = timezone.now()

    def idle(now):
        return [alert for alert in _evaluate(project, capture, now=now).opened if alert.rule == AlertRule.QUEUE_IDLE]

    assert idle(resumed + timedelta(hours=1)) == []
    assert idle(resumed + timedelta(days=2)) == []
    [alert] = idle(resumed + timedelta(days=3, hours=1))
    assert alert.title == f"Nobody labeled in Paused since it was resumed on {resumed.astimezone(UTC):%Y-%m-%d}"
    assert "has had none since it was resumed at" in alert.detail and "idle for 3 days" in alert.detail


def test_a_queue_paused_in_the_last_closed_week_is_not_held_to_its_quota_once_resumed(
    team, django_capture_on_commit_callbacks
):
    """Paused during the last closed week it missed its quota, as it handed out nothing: no alert while paused, but
    resuming it opened "missed its quota" at the next round. Like a queue created during the week, it never had a
    whole week to meet it. One that ran the whole week still is held to it, paused and resumed since or not."""
    project = team["project"]
    paused = _queue(project, slug="paused", name="Paused", weekly_quota=10, is_active=False)
    running = _queue(project, slug="running", name="Running", weekly_quota=10)
    later = _queue(project, slug="later", name="Later", weekly_quota=10)
    for queue in (paused, running, later):
        QueueWeek.objects.create(
            project=project, week=LAST, queue=queue, quota=10, items=10, items_complete=3, labels=3, labels_wanted=10
        )
    for queue, active in ((paused, True), (later, False), (later, True)):  # "later": paused after the week ended
        values = QueueValues(slug=queue.slug, name=queue.name, weekly_quota=10, is_active=active)
        update_queue(queue=queue, actor=team["lead"], values=values)

    opened = _evaluate(project, django_capture_on_commit_callbacks, now=timezone.now()).opened

    assert sorted(alert.key for alert in opened if alert.rule == AlertRule.QUOTA_MISSED) == ["later", "running"]


def test_a_queue_whose_last_eligible_expert_was_removed_is_alerted_at_once_saying_why(
    team, django_capture_on_commit_callbacks
):
    """Escalations names only the expert, who labeled an hour ago (not idle). Removed from the project, they keep their
    name on the queue and nobody may label it: the alert opens at once and names them, not the idle days. An idle
    alert already open on another queue, acknowledged, is told the new reason when its last expert goes (made
    engineer), and stays the same acknowledged alert."""
    project, expert = team["project"], team["expert"]
    escalations = _queue(project, slug="escalations", name="Escalations")
    escalations.eligible_experts.set([expert])
    _wanted(project, escalations)
    _label(project, escalations, expert, NOW - timedelta(hours=1))
    other = UserFactory(username="omar")
    Membership.objects.create(project=project, user=other, role="expert")
    archive = _queue(project, slug="archive", name="Archive")
    archive.eligible_experts.set([other])
    _wanted(project, archive)
    idle = _evaluate(project, django_capture_on_commit_callbacks).opened
    assert [(alert.key, alert.title) for alert in idle] == [("archive", "Nobody has labeled in Archive yet")]
    alerts.acknowledge_alert(alert=idle[0], user=team["lead"])

    remove_member(membership=Membership.objects.get(project=project, user=expert), removed_by=team["lead"])
    change_role(
        membership=Membership.objects.get(project=project, user=other), role="engineer", changed_by=team["lead"]
    )
    evaluation = _evaluate(project, django_capture_on_commit_callbacks)

    [opened] = evaluation.opened
    assert (opened.rule, opened.key) == (AlertRule.QUEUE_IDLE, "escalations")
    assert opened.title == "Nobody can label in Escalations: no eligible expert left"
    assert f"it names only {expert.username} as eligible experts, none of whom may label" in opened.detail
    assert opened.facts["no_eligible_expert"] == [expert.username]
    retold = Alert.objects.get(pk=idle[0].pk)
    assert (retold.state, retold.title) == (
        AlertState.ACKNOWLEDGED,
        "Nobody can label in Archive: no eligible expert left",
    )
    assert "names only omar as eligible experts" in retold.detail


def test_a_queue_whose_only_expert_was_deactivated_is_alerted_at_once_saying_why(
    team, django_capture_on_commit_callbacks
):
    """Escalations names only the expert, who labeled an hour ago. An operator deactivates their account (their
    membership stays): nobody can label in the queue any more, so the alert opens at once and names them, as for a
    removed expert. Their account made active again, the alert resolves (they labeled an hour ago: not idle)."""
    project, expert = team["project"], team["expert"]
    escalations = _queue(project, slug="escalations", name="Escalations")
    escalations.eligible_experts.set([expert])
    _wanted(project, escalations)
    _label(project, escalations, expert, NOW - timedelta(hours=1))
    assert _evaluate(project, django_capture_on_commit_callbacks).opened == []

    expert.is_active = False
    expert.save(update_fields=["is_active"])
    [opened] = _evaluate(project, django_capture_on_commit_callbacks).opened

    assert (opened.rule, opened.key) == (AlertRule.QUEUE_IDLE, "escalations")
    assert opened.title == "Nobody can label in Escalations: no eligible expert left"
    assert opened.facts["no_eligible_expert"] == [expert.username]
    expert.is_active = True
    expert.save(update_fields=["is_active"])
    assert [alert.pk for alert in _evaluate(project, django_capture_on_commit_callbacks).resolved] == [opened.pk]


@pytest.mark.parametrize("gone", ["deactivated", "removed"])
def test_a_queue_for_every_expert_is_alerted_at_once_when_nobody_in_the_project_may_label(
    team, django_capture_on_commit_callbacks, gone
):
    """Sample names no eligible experts: every expert and lead of the project may label it. The project is run by an
    admin (who does not label) and its one expert labeled an hour ago (not idle). The expert deactivated or removed,
    nobody may label in the queue: the alert opens at once and says why, as for a queue whose named experts are all
    gone. The expert back, it resolves."""
    project, expert = team["project"], team["expert"]
    Membership.objects.filter(project=project, user=team["lead"]).update(role="admin")
    sample = _queue(project, slug="sample", name="Sample")
    _wanted(project, sample)
    _label(project, sample, expert, NOW - timedelta(hours=1))
    assert _evaluate(project, django_capture_on_commit_callbacks).opened == []

    membership = Membership.objects.get(project=project, user=expert)
    if gone == "deactivated":
        expert.is_active = False
        expert.save(update_fields=["is_active"])
    else:
        remove_member(membership=membership, removed_by=team["lead"])
    [opened] = _evaluate(project, django_capture_on_commit_callbacks).opened

    assert (opened.rule, opened.key) == (AlertRule.QUEUE_IDLE, "sample")
    assert opened.title == "Nobody can label in Sample: no expert left in the project"
    assert "names no eligible experts" in opened.detail and opened.facts["no_expert_left"] is True
    if gone == "deactivated":
        expert.is_active = True
        expert.save(update_fields=["is_active"])
    else:
        Membership.objects.create(project=project, user=expert, role="expert")
    assert [alert.pk for alert in _evaluate(project, django_capture_on_commit_callbacks).resolved] == [opened.pk]


def test_a_queue_for_every_expert_is_not_stranded_while_a_lead_may_label(team, django_capture_on_commit_callbacks):
    """Leads label too: with the project's only expert deactivated, its lead may still label in a queue for everyone."""
    project, expert = team["project"], team["expert"]
    sample = _queue(project, slug="sample", name="Sample")
    _wanted(project, sample)
    _label(project, sample, expert, NOW - timedelta(hours=1))
    expert.is_active = False
    expert.save(update_fields=["is_active"])
    assert _evaluate(project, django_capture_on_commit_callbacks).opened == []


def test_an_alert_whose_reason_changes_is_mailed_again_once_per_change(team, django_capture_on_commit_callbacks):
    """Archive is idle: an alert, one e-mail. Its only eligible expert is made an engineer: the alert is retold "no
    eligible expert left", a new reason with something for the lead to do, and the leads used to learn it only on the
    page. They now get one e-mail saying the reason changed, not one per evaluation; the expert back, the alert is
    retold the idle reason and mailed once more."""
    project = team["project"]
    omar = UserFactory(username="omar")
    membership = Membership.objects.create(project=project, user=omar, role="expert")
    archive = _queue(project, slug="archive", name="Archive")
    archive.eligible_experts.set([omar])
    _wanted(project, archive)
    [alert] = _evaluate(project, django_capture_on_commit_callbacks).opened
    assert [message.subject for message in mail.outbox] == [
        "[expertloop] Support bot: Nobody has labeled in Archive yet"
    ]

    change_role(membership=membership, role="engineer", changed_by=team["lead"])
    _evaluate(project, django_capture_on_commit_callbacks)
    _evaluate(project, django_capture_on_commit_callbacks, now=NOW + timedelta(hours=1))

    assert len(mail.outbox) == 2
    retold = mail.outbox[1]
    assert retold.subject == "[expertloop] Support bot: Nobody can label in Archive: no eligible expert left"
    assert retold.to == ["lena@example.com"] and "names only omar as eligible experts" in retold.body
    assert "The reason of this alert changed" in retold.body and f"/p/{project.slug}/#alerts" in retold.body
    assert Alert.objects.get().pk == alert.pk  # the same alert, retold

    change_role(membership=membership, role="expert", changed_by=team["lead"])
    _evaluate(project, django_capture_on_commit_callbacks)
    _evaluate(project, django_capture_on_commit_callbacks)

    assert [message.subject for message in mail.outbox][2:] == [
        "[expertloop] Support bot: Nobody has labeled in Archive yet"
    ]


@pytest.mark.parametrize("week", [date(2026, 3, 22), date(2026, 10, 18)], ids=["clocks-forward", "clocks-back"])
def test_close_overdue_counts_the_grace_in_elapsed_hours_across_a_clock_change(
    db, settings, week, django_capture_on_commit_callbacks
):
    """Berlin changes its clocks in the grace after a Sunday-midnight week end: the alert opens
    ALERT_CLOSE_OVERDUE_HOURS after the close was due as beat counts it (the end plus the grace in elapsed hours), not
    an hour later or earlier."""
    settings.CYCLE_CLOSE_GRACE_HOURS, settings.ALERT_CLOSE_OVERDUE_HOURS = 4, 6
    project = ProjectFactory(time_zone="Europe/Berlin", cycle_weekday=6)
    Project.objects.filter(pk=project.pk).update(created_at=LONG_AGO - timedelta(days=365))
    project.refresh_from_db()
    ReviewCycle.objects.create(project=project, week=week - timedelta(days=7), status=CycleStatus.CLOSED)
    overdue = week_end(project, week).astimezone(UTC) + timedelta(hours=4 + 6)

    early = _evaluate(project, django_capture_on_commit_callbacks, now=overdue - timedelta(minutes=1))
    assert early.opened == []
    opened = _evaluate(project, django_capture_on_commit_callbacks, now=overdue).opened
    assert [alert.rule for alert in opened] == [AlertRule.CLOSE_OVERDUE]


OVERRIDE = "LTR \u202eH 794 Item"  # a right-to-left override (U+202E) in a name: it reverses what follows it


def test_a_queue_name_in_an_alert_is_isolated_so_its_override_reverses_nothing_after_it(
    team, client, django_capture_on_commit_callbacks
):
    """An alert's title and detail are plain text holding the queue's name, user text: with an override in it, "missed
    its quota in 2026-W47" read reversed on the project page, in the e-mail and in Slack. The name is now isolated in
    the text (U+2068…U+2069), the page isolates the title from the line it sits in (<bdi>), and the e-mail's subject
    isolates the project's name as the digest's does."""
    project = team["project"]
    Project.objects.filter(pk=project.pk).update(name=OVERRIDE)
    project.refresh_from_db()
    _quota_missed(team, "plant")
    Queue.objects.filter(project=project, slug="sample").update(name=OVERRIDE)

    [alert] = _evaluate(project, django_capture_on_commit_callbacks).opened

    shown = f"\u2068{OVERRIDE}\u2069"
    assert alert.title == f"{shown} missed its quota in 2026-W47"
    assert alert.detail.startswith(f"{shown} completed 3 of its 10 items in 2026-W47")
    assert mail.outbox[0].subject == f"[expertloop] {shown}: {shown} missed its quota in 2026-W47"
    assert json.loads(_deliveries(team["slack"])[0].body)["text"].startswith(f"*{shown}*: {alert.title}.\n")
    client.force_login(team["lead"])
    page = client.get(f"/p/{project.slug}/").content.decode()
    assert f'<strong class="alert-title"><bdi>{shown} missed its quota in 2026-W47</bdi></strong>' in page


def test_the_expert_names_in_an_alert_are_isolated_too(team, django_capture_on_commit_callbacks):
    """A queue left with no eligible expert names them in its alert: each name isolated, as the queue's is."""
    project, expert = team["project"], UserFactory(username="omar\u202e")
    Membership.objects.create(project=project, user=expert, role="expert")
    queue = _queue(project, slug="escalations", name="Escalations")
    queue.eligible_experts.set([expert])
    _wanted(project, queue)
    remove_member(membership=Membership.objects.get(project=project, user=expert), removed_by=team["lead"])

    [alert] = _evaluate(project, django_capture_on_commit_callbacks).opened

    assert "it names only \u2068omar\u202e\u2069 as eligible experts, none of whom may label" in alert.detail
