"""A third demo project whose review loop stalled: the support team's ticket summarizer.

Its experts reviewed a sample of summaries every week until two weeks ago, then stopped; outputs kept coming.
So the weeks since closed with their quota missed and the queue fills up unread: next to the healthy support
bot and the SQL assistant whose last close failed, the platform page has a team that needs a nudge.
Written through the same services the pages and the API use.
"""

import itertools
import random
from datetime import datetime, timedelta
from typing import Any

import msgspec
from django.contrib.auth import get_user_model

from labeling.models import AuditEvent, Label, LabelRevision, OutboxMessage, Project, Queue, Rubric
from labeling.rules.calendar import cycle_week, week_start
from labeling.services import cycles
from labeling.services.assignment import next_item, release_lease
from labeling.services.ingest import ingest_outputs
from labeling.services.labels import submit_label
from labeling.services.projects import create_project
from labeling.services.routing import backfill_queue
from labeling.services.rubric_templates import BY_KEY
from labeling.services.search_index import index_outputs

from .closes import close_in_its_time, closed_at
from .labels import date_past_work
from .project import LEAD_USERNAME, date_back_to_adoption

SUMMARIZER_SLUG = "ticket-summarizer"
WEEKS = 6  # of history before this week
STALLED_WEEKS = 2  # the last weeks nobody reviewed
OUTPUTS_PER_DAY = 6
QUOTA = 12
UNFAITHFUL_SHARE = 0.2
HELD_BACK_WEEKS_AGO = 4  # the week closed after the week after it (the restated report's notice is about that one)
CORRECTED_LABELS = 2  # faithful summaries of that week first failed, corrected before it closed
HELD_BACK_BY = timedelta(hours=10)  # the corrections came that long after the week after it closed

# (the ticket, a faithful summary, an unfaithful one: what the summarizer writes when it invents)
TICKETS = [
    (
        "Customer ordered two lamps (order 4411), one arrived broken. Sent photos. Wants a replacement, not a "
        "refund, before the 20th because it is a gift.",
        "One of two lamps in order 4411 arrived broken (photos sent). Customer wants a replacement, not a "
        "refund, before the 20th: it is a gift.",
        "One of two lamps in order 4411 arrived broken. Customer asks for a full refund of the order.",
    ),
    (
        "Subscription charged twice this month. Customer attached both bank statement lines. Asks for the "
        "duplicate charge back and wants to know why it happened.",
        "Double subscription charge this month (bank lines attached). Wants the duplicate refunded and an explanation.",
        "Double subscription charge this month. Customer wants to cancel the subscription.",
    ),
    (
        "Parcel shows delivered since Monday but never arrived. Neighbours checked. Customer asks us to open an "
        "investigation with the carrier and to resend if it is lost.",
        "Parcel marked delivered on Monday but not received (neighbours checked). Wants a carrier investigation "
        "and a resend if lost.",
        "Parcel marked delivered on Monday but not received. The carrier confirmed it was lost.",
    ),
    (
        "Customer cannot log in after changing email address. Password reset mail goes to the old address, "
        "which no longer exists. Needs the account email updated.",
        "Cannot log in after an email change: reset mails go to the old, dead address. Needs the account's "
        "email updated.",
        "Cannot log in after an email change. Customer wants the account deleted.",
    ),
    (
        "Wants to return shoes bought 40 days ago, unworn, with receipt. Knows the window is 30 days; asks for "
        "an exception because they were in hospital.",
        "Wants to return unworn shoes (receipt) bought 40 days ago, past the 30-day window; asks for an "
        "exception after a hospital stay.",
        "Wants to return shoes bought 20 days ago, within the return window.",
    ),
]


def summarizer_project_spec() -> dict[str, Any]:
    template = BY_KEY["summary-faithfulness"]
    return {
        "slug": SUMMARIZER_SLUG,
        "name": "Ticket summarizer",
        "description": "Summarizes long support tickets for the agent who picks them up.",
        "time_zone": "America/New_York",
        "cycle_weekday": "monday",
        "rubric": {"questions": template.questions, "guidelines": template.guidelines},
        "queues": [
            {"slug": "sample", "name": "Weekly sample", "sample_rate": 0.5, "overlap": 1, "weekly_quota": QUOTA}
        ],
        "members": [{"username": "expert1", "role": "expert"}, {"username": "expert2", "role": "expert"}],
    }


def seed_summarizer(*, now: datetime, seed: int) -> Project:
    """Create the summarizer with six weeks of summaries, reviewed (and closed) until two weeks ago."""
    lead = get_user_model().objects.get(username=LEAD_USERNAME)
    project = create_project(spec=summarizer_project_spec(), created_by=lead)
    this_week = cycle_week(project, now)
    first_week = this_week - timedelta(weeks=WEEKS)
    # The team set it up when its history starts, not when the demo was seeded (an alert reads a queue's age): dated
    # back once its queue is backfilled.
    started = week_start(project, first_week)
    records, truth = _summaries(since=started, now=now, seed=seed)
    for start in range(0, len(records), 500):
        ingest_outputs(project=project, body=msgspec.json.encode({"outputs": records[start : start + 500]}))
    # As for the other demo projects: the history counts as routed and searchable now, then is queued at once.
    project.outputs.update(routed_at=now)
    index_outputs(project_id=project.pk, output_ids=list(project.outputs.values_list("pk", flat=True)))
    backfill_queue(queue=Queue.objects.get(project=project, slug="sample"), since=started)
    date_back_to_adoption(project, started)
    held_back = this_week - timedelta(weeks=HELD_BACK_WEEKS_AGO)
    _review_until(
        project,
        stalled_from=this_week - timedelta(weeks=STALLED_WEEKS),
        truth=truth,
        seed=seed,
        now=now,
        misread_in=held_back,
    )
    for weeks_ago in range(WEEKS, 0, -1):  # every past week closes; the last two with their quota missed
        week = this_week - timedelta(weeks=weeks_ago)
        if week == held_back:
            continue  # closed after the week after it, below
        close_in_its_time(project=project, week=week, closed_by=lead, now=now)
        if week == held_back + timedelta(weeks=1):
            _close_the_held_back_week(project, held_back, truth=truth, lead=lead, now=now)
    cycles.refresh_metrics(project=project, week=this_week, now=now)
    return project


def _close_the_held_back_week(project: Project, week, *, truth: dict[str, bool], lead, now: datetime) -> None:
    """A week closed out of order: its close was held back while an expert corrected the labels that had failed
    faithful summaries (`_review_until`'s misreadings), and the week after it closed first, comparing with the pass
    rate it had then. Its own close, with the corrections, restates the week after's report (its meeting page says so)
    and e-mails the leads that it changed."""
    rubric = Rubric.objects.current_for(project)
    failed_wrongly = [
        label
        for label in Label.objects.filter(item__project=project, item__week=week, answers__faithful=False)
        .select_related("item__output", "expert")
        .order_by("pk")
        if truth[label.item.output.external_id]
    ]
    for label in failed_wrongly:
        submit_label(expert=label.expert, item=label.item, rubric=rubric, answers={"faithful": True, "coverage": 4})
    # In the story, the morning after the week after closed: the corrections, then the close that counts them.
    corrected_at = closed_at(project, week + timedelta(weeks=1), now) + HELD_BACK_BY
    Label.objects.filter(pk__in=[label.pk for label in failed_wrongly]).update(updated_at=corrected_at)
    LabelRevision.objects.filter(label__in=failed_wrongly).update(replaced_at=corrected_at)
    cycle = close_in_its_time(
        project=project, week=week, closed_by=lead, now=now, at=min(corrected_at + timedelta(hours=1), now)
    )
    _send_the_restated_report_notice(project, at=cycle.closed_at)


def _send_the_restated_report_notice(project: Project, *, at: datetime) -> None:
    """The notice the held-back week's close asked a worker for, sent as the worker sends it and told at the close's
    moment, not when the seed commits: the outbox's message, published then, finds it sent (its claim)."""
    mine = set(project.cycles.values_list("pk", flat=True))
    for message in OutboxMessage.objects.pending().filter(task="labeling.send_restated_report_notice").order_by("pk"):
        cycle_id, with_week, figures = message.args  # the task's arguments (`tasks.send_restated_report_notice`)
        if cycle_id in mine:
            cycles.send_restated_report_notice(cycle_id=cycle_id, with_week=with_week, figures=figures)
    AuditEvent.objects.filter(project=project, action="cycle.restated_report_notice_sent").update(at=at)


def _summaries(*, since: datetime, now: datetime, seed: int) -> tuple[list[dict[str, Any]], dict[str, bool]]:
    """A few summaries a day from `since` to `now` (the day running, in the part of it gone by), and which of them
    are faithful."""
    draw = random.Random(seed)
    records, truth = [], {}
    day = since
    while day < now:
        # Today's share of summaries within the part of it gone by, so the running week has some from its first
        # minutes on (a week just begun, in New York, had none: no queue filling up unread, no idle-queue alert).
        gone_by = min(now - day, timedelta(days=1))
        for _ in range(OUTPUTS_PER_DAY):
            at = day + gone_by * draw.randrange(24 * 60) / (24 * 60)
            ticket, faithful, invented = draw.choice(TICKETS)
            is_faithful = draw.random() >= UNFAITHFUL_SHARE
            external_id = f"sum-{draw.randbytes(6).hex()}"
            truth[external_id] = is_faithful
            records.append(
                {
                    "external_id": external_id,
                    "occurred_at": at.isoformat(),
                    "model": "claude-haiku-4-5",
                    "input": [{"role": "user", "content": f"Summarize this ticket for the next agent:\n\n{ticket}"}],
                    "output": faithful if is_faithful else invented,
                    "context": {"ticket": ticket},
                    "end_user_id": f"agent-{draw.randrange(20):02d}",
                    "tags": ["tickets"],
                }
            )
        day += timedelta(days=1)
    records.sort(key=lambda record: record["occurred_at"])
    return records, truth


def _review_until(
    project: Project, *, stalled_from, truth: dict[str, bool], seed: int, now: datetime, misread_in
) -> None:
    """The experts take turns on the sample, oldest week first, up to the week they stopped; each label is dated
    a day after its output, as if given during its week. In `misread_in` they first failed the first
    CORRECTED_LABELS faithful summaries, taking a detail of the ticket for invented (`_close_the_held_back_week`
    corrects them)."""
    draw = random.Random(seed)
    rubric = Rubric.objects.current_for(project)
    queue = Queue.objects.get(project=project, slug="sample")
    experts = list(get_user_model().objects.filter(username__in=["expert1", "expert2"]).order_by("username"))
    misread = 0
    for turn in itertools.count():
        expert = experts[turn % len(experts)]
        item = next_item(expert=expert, queue=queue)
        if item is None or item.week >= stalled_from:
            if item is not None:
                release_lease(expert=expert, item=item)
            break
        faithful = truth[item.output.external_id] if draw.random() > 0.05 else draw.random() < 0.5
        answers: dict[str, Any] = {"faithful": faithful, "coverage": draw.choice([3, 4, 4, 5] if faithful else [2, 3])}
        if not faithful:
            answers["unsupported"] = ["invented fact"]
        if item.week == misread_in and truth[item.output.external_id] and misread < CORRECTED_LABELS:
            misread += 1  # after the draws: the other weeks' labels stay as they were
            answers = {"faithful": False, "coverage": 3, "unsupported": ["invented fact"]}
        submit_label(expert=expert, item=item, rubric=rubric, answers=answers)
    date_past_work(project, now)
