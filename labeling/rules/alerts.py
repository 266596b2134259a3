"""The alert rules: from a project's facts (gathered by services/alerts.py in a fixed number of queries), which
conditions hold now. Pure: no query here, so each rule is tested on planted facts and the service decides only
what to open, keep and resolve.

Each rule answers `Finding`s keyed by what they are about: a week ("2026-W48"), a queue's slug, or "" for the
project. A finding that holds keeps its alert open; an alert whose finding is gone is resolved.

Thresholds are settings (expertloop/settings.py, README "Alerts"): ALERT_CLOSE_OVERDUE_HOURS,
ALERT_QUEUE_IDLE_DAYS, ALERT_INGEST_SILENCE_HOURS, with CYCLE_CLOSE_GRACE_HOURS.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from django.conf import settings

from labeling.models import AlertRule, CycleStatus, Project, week_label

from .calendar import created_week, week_end, week_start
from .text import counted, isolated
from .weekly_close import CloseRetry, close_due_at, close_retry, last_due_week

# The rules whose findings are keyed by a queue's slug (a renamed queue's alert follows it: services/queues.py).
QUEUE_RULES = (AlertRule.QUEUE_IDLE, AlertRule.QUOTA_MISSED)

# The facts that are an alert's reason, with what an alert stored before that fact was kept reads as: when one
# changes while the alert holds, the alert is retold (services/alerts.py). `no_eligible_expert`: its queue was left
# with no eligible expert (or got one back); `retry`: a failed close's retry changed (overdue, say), and a
# close_failed alert opened before `retry` was kept said it is retried.
REASON_FACTS = {"no_eligible_expert": None, "retry": CloseRetry.SCHEDULED}

# "Usually has outputs": at least one per silence window on average over these days before the silence.
INGEST_BASELINE_DAYS = 28


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    key: str
    title: str
    detail: str
    facts: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CycleFact:
    week: date
    status: str
    failure_kind: str
    failed_at: datetime | None
    attempts: int
    next_attempt_at: datetime | None = None  # when beat's sweep tries a failed close again (None: at its next look)


@dataclass(frozen=True, slots=True)
class ClosedQueueWeek:
    """A queue's QueueWeek row of the last closed week: its quota then, the items placed and complete (every label
    they wanted given), and the labels given of those wanted."""

    quota: int | None
    items: int
    items_complete: int
    labels: int
    labels_wanted: int


@dataclass(frozen=True, slots=True)
class QueueFact:
    """A queue, with the labels still wanted on it (backlog) and its row of the last closed week (labels, quota)."""

    slug: str
    name: str
    quota: int | None  # the queue's weekly quota now
    created_at: datetime
    backlog: int  # labels still wanted (slots not done) on the queue's items of every week not closed yet
    last_label_at: datetime | None  # the newest label since the idle cutoff (None: none since)
    # Read only for a queue queue_idle may hold for (active, labels still wanted, none since the cutoff): its newest
    # label of all, so the alert says since when it is idle (None: nobody ever labeled in it).
    idle_since: datetime | None = None
    # The last closed week's QueueWeek row, the counts the meeting page shows (None: nothing placed in it that week).
    closed_week: ClosedQueueWeek | None = None
    # Archived (the queue's `is_active` off: no outputs routed in, gone from the experts' screens): no queue rule
    # holds for it, so its alerts resolve.
    active: bool = True
    # When a lead last paused it (None: never, or paused since its creation) and made it active again (None: active
    # since its creation).
    paused_at: datetime | None = None
    resumed_at: datetime | None = None

    def paused_between(self, start: datetime, end: datetime) -> bool:
        """Whether its last pause overlapped [start, end): resumed after the start, paused before the end."""
        resumed_after_start = self.resumed_at is not None and self.resumed_at > start
        return resumed_after_start and (self.paused_at is None or self.paused_at < end)

    @property
    def shown_name(self) -> str:
        """Its name as an alert's text writes it: isolated (rules.text.isolated), as the title and detail are plain
        text shown on pages, in e-mails and in Slack, where an override in the name must reverse nothing after it."""
        return isolated(self.name)

    @property
    def handing_out_since(self) -> datetime:
        """Since when it hands out items: its creation, or its resumption after a pause (it handed out nothing)."""
        return max(self.created_at, self.resumed_at or self.created_at)

    # Nobody may label in it now (rules.access.queue_labelers): the experts it names may all no longer label
    # (removed, given a role that does not label, or their account deactivated), or, naming none, no expert or lead
    # of the project may.
    nobody_may_label: bool = False
    # Who the queue names as eligible experts when none of them may label there any more; empty for a queue that
    # names none, and while someone may.
    nobody_eligible: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ThumbsDownFact:
    """A significant change of the overall thumbs-down share (a WeekChange row), as changes.py decided it."""

    week: date
    current: float
    baseline: float
    baseline_weeks: int
    q_value: float
    effect: float
    partial: bool


@dataclass(frozen=True, slots=True)
class AlertFacts:
    project: Project
    now: datetime
    cycles: dict[date, CycleFact]  # failed closes, and the weeks close_overdue looks at
    overdue_candidates: list[date]  # the last week whose close is overdue by now, and weeks already alerted
    last_closed_week: date | None
    queues: list[QueueFact]
    newest_output_at: datetime | None
    baseline_outputs: int  # outputs in the baseline window, counted up to `ingest_windows()` only
    thumbs_down: list[ThumbsDownFact]
    held: dict[str, set[str]] = field(default_factory=dict)  # unresolved alerts' keys by rule


def overdue_after() -> timedelta:
    """How long after its close was due (`close_due_at`) a week still open is overdue."""
    return timedelta(hours=settings.ALERT_CLOSE_OVERDUE_HOURS)


def last_overdue_week(project: Project, now: datetime) -> date | None:
    """The latest week whose close is overdue at `now` if it is still open (None if the project did not exist)."""
    week = last_due_week(project, now - overdue_after())
    return week if project.created_at < week_end(project, week) else None


def idle_cutoff(now: datetime) -> datetime:
    return now - timedelta(days=settings.ALERT_QUEUE_IDLE_DAYS)


def ingest_windows() -> int:
    """Silence windows in the baseline: the outputs a project must have had there to "usually" have them."""
    return INGEST_BASELINE_DAYS * 24 // settings.ALERT_INGEST_SILENCE_HOURS


def ingest_baseline(now: datetime) -> tuple[datetime, datetime]:
    """The INGEST_BASELINE_DAYS before the silence window: [start, end)."""
    end = now - timedelta(hours=settings.ALERT_INGEST_SILENCE_HOURS)
    return end - timedelta(days=INGEST_BASELINE_DAYS), end


MOMENT_FORMAT = "%Y-%m-%d %H:%M"
_MOMENT_IN_UTC = re.compile(r"\b(\d{4}-\d{2}-\d{2} \d{2}:\d{2}) UTC\b")


def _when(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):{MOMENT_FORMAT}} UTC" if moment else "never"


def moments_in_zone(text: str, zone: tzinfo) -> str:
    """An alert's text with each moment `_when` wrote in UTC told in `zone` instead. The text is stored (and e-mailed)
    in UTC; a page tells it in the zone it shows its other times in, so "opened" and "last at" agree."""

    def local(match: re.Match) -> str:
        try:
            moment = datetime.strptime(match[1], MOMENT_FORMAT).replace(tzinfo=UTC).astimezone(zone)
        except (ValueError, OverflowError):
            return match[0]
        return f"{moment:{MOMENT_FORMAT} %Z}"

    return _MOMENT_IN_UTC.sub(local, text)


_RETRY_WORDS = {
    CloseRetry.SCHEDULED: "It is tried again automatically, waiting longer after each failure; the week's meeting "
    "page shows the error.",
    CloseRetry.OVERDUE: "It was due to be tried again at {when} and has not been: is the Celery worker or beat "
    "running? A lead can close it from the week's meeting page, which shows the error.",
    CloseRetry.LEFT_TO_A_LEAD: "It is not tried again automatically (beat closes no week from before the project's "
    "first): a lead closes it from the week's meeting page, which shows the error.",
}


def close_failed(facts: AlertFacts) -> list[Finding]:
    """Each week whose close failed and is still open (the close clears the failure when it succeeds)."""
    findings = []
    for cycle in sorted(facts.cycles.values(), key=lambda cycle: cycle.week):
        if cycle.status == CycleStatus.OPEN and cycle.failure_kind == "close":
            label = week_label(cycle.week)
            retry = close_retry(
                cycle.week,
                created=created_week(facts.project),
                next_attempt_at=cycle.next_attempt_at,
                now=facts.now,
            )
            findings.append(
                Finding(
                    rule=AlertRule.CLOSE_FAILED,
                    key=label,
                    title=f"The close of {label} failed",
                    detail=(
                        f"The weekly close of {label} failed {counted(cycle.attempts, 'time')} in a row, last at "
                        f"{_when(cycle.failed_at)}. {_RETRY_WORDS[retry].format(when=_when(cycle.next_attempt_at))}"
                    ),
                    facts={
                        "week": label,
                        "attempts": cycle.attempts,
                        "failed_at": _iso(cycle.failed_at),
                        "retry": retry,
                    },
                )
            )
    return findings


def close_overdue(facts: AlertFacts) -> list[Finding]:
    """Each week over for longer than the grace and ALERT_CLOSE_OVERDUE_HOURS and still open, unless its close
    failed (close_failed says so)."""
    findings = []
    for week in sorted(set(facts.overdue_candidates)):
        cycle = facts.cycles.get(week)
        if cycle is not None and (cycle.status == CycleStatus.CLOSED or cycle.failure_kind == "close"):
            continue
        due = close_due_at(facts.project, week) + overdue_after()
        if facts.now < due:
            continue
        label = week_label(week)
        findings.append(
            Finding(
                rule=AlertRule.CLOSE_OVERDUE,
                key=label,
                title=f"The week {label} is not closed",
                detail=(
                    f"{label} ended on {_when(week_end(facts.project, week))} and is still open "
                    f"{counted(settings.ALERT_CLOSE_OVERDUE_HOURS, 'hour')} after its close was due: is the Celery "
                    "worker or beat running? A lead can close it from the meeting page."
                ),
                facts={"week": label, "ended_at": _iso(week_end(facts.project, week))},
            )
        )
    return findings


def queue_idle(facts: AlertFacts) -> list[Finding]:
    """Each active queue with labels still wanted in a week not closed yet and none given for ALERT_QUEUE_IDLE_DAYS
    days (a queue younger than that, or resumed after a pause more lately, is not idle yet). Not only the running
    week's: at a week flip the new week has no work yet while the last one's still waits, and the alert must not
    resolve then to open again later. It says since when the queue is idle (its last label, its resumption, or its
    creation), not the threshold: the alert's text is kept while it holds, and that date stays true until a label
    resolves it."""
    cutoff = idle_cutoff(facts.now)
    findings = []
    for queue in facts.queues:
        if queue.active and queue.backlog > 0 and queue.nobody_may_label:
            findings.append(_nobody_eligible(queue))
            continue
        started = queue.handing_out_since
        if not (queue.active and queue.backlog > 0 and queue.last_label_at is None and started <= cutoff):
            continue
        since = max(queue.idle_since or started, started)
        days = (facts.now - since).days
        # A title's date is the project's day (the page tells the body's moments in the project's zone too).
        day = f"{since.astimezone(facts.project.tzinfo):%Y-%m-%d}"
        if queue.resumed_at is not None and since == queue.resumed_at:
            title = f"Nobody labeled in {queue.shown_name} since it was resumed on {day}"
            none = f"has had none since it was resumed at {_when(since)}"
        elif queue.idle_since is None:
            title = f"Nobody has labeled in {queue.shown_name} yet"
            none = f"has never had a label since it was created at {_when(since)}"
        else:
            title = f"Nobody labeled in {queue.shown_name} since {day}"
            none = f"has had none since its last label at {_when(since)}"
        findings.append(
            Finding(
                rule=AlertRule.QUEUE_IDLE,
                key=queue.slug,
                title=title,
                detail=(
                    f"The queue {queue.shown_name} ({queue.slug}) has {counted(queue.backlog, 'label')} still wanted "
                    f"in the weeks not closed yet and {none}: idle for {counted(days, 'day')} when this alert opened."
                ),
                facts={
                    "queue": queue.slug,
                    "backlog": queue.backlog,
                    "last_label_at": _iso(queue.idle_since),
                    "idle_days": days,
                },
            )
        )
    return findings


def _nobody_eligible(queue: QueueFact) -> Finding:
    """queue_idle for a queue nobody may label now: it holds at once, not after the idle days (no label can come), and
    says why, as the lead can fix it in the queue's settings (named experts) or on the members page (everyone)."""
    if queue.nobody_eligible:
        names = ", ".join(isolated(name) for name in queue.nobody_eligible)
        title = f"Nobody can label in {queue.shown_name}: no eligible expert left"
        why = (
            f", and it names only {names} as eligible experts, none of whom may label in the project now (removed, "
            "given a role that does not label, or their account deactivated). In the queue's settings, tick other "
            "experts (and untick them), or untick everyone for every expert."
        )
        fact = {"no_eligible_expert": list(queue.nobody_eligible)}
    else:  # a queue for every expert, and the project has none who may label
        title = f"Nobody can label in {queue.shown_name}: no expert left in the project"
        why = (
            "; it names no eligible experts, so every expert and lead of the project may label it, and none may now "
            "(removed, given a role that does not label, or their account deactivated). Invite an expert on the "
            "members page, or give a member back a role that labels."
        )
        fact = {"no_expert_left": True}
    return Finding(
        rule=AlertRule.QUEUE_IDLE,
        key=queue.slug,
        title=title,
        detail=f"The queue {queue.shown_name} ({queue.slug}) has {counted(queue.backlog, 'label')} still wanted{why}",
        facts={"queue": queue.slug, "backlog": queue.backlog, **fact},
    )


def quota_missed(facts: AlertFacts) -> list[Finding]:
    """Each active queue that still has a quota and whose last closed week has fewer items complete than it was held
    to. A quota caps the items routing places in a week, each wanting `overlap` labels, so it is met by items done,
    not by labels: 40 items with half their labels are not 40 items' work. A queue with no row for that week had
    nothing placed: 0 of its quota, if it existed the whole week. A queue paused in the week (handing out nothing; it
    is active again) is not held to it."""
    if facts.last_closed_week is None:
        return []
    label = week_label(facts.last_closed_week)
    began = week_start(facts.project, facts.last_closed_week)
    findings = []
    for queue in facts.queues:
        if not queue.active or queue.quota is None:
            continue
        if queue.paused_between(began, week_end(facts.project, facts.last_closed_week)):
            continue  # paused in the week: it never had the whole week to meet the quota
        week = queue.closed_week
        if (week is None or not week.items) and queue.created_at >= began:
            continue  # created during the week and got nothing: it never had a whole week to meet the quota
        if week is None:
            # No QueueWeek row: routing placed nothing and nobody labeled, the worst miss, not "no figures".
            week = ClosedQueueWeek(quota=queue.quota, items=0, items_complete=0, labels=0, labels_wanted=0)
        quota = week.quota
        if quota is None:
            continue
        # Held to the items it got: a quota is a cap, and outputs that never arrived (fewer matched its rule or sample
        # than the quota) are nobody's miss, so a queue that completed every item placed met it. A week with nothing
        # placed at all still is told: its routing or its product delivered nothing for a whole week.
        if week.items > 0 and week.items_complete >= min(quota, week.items):
            continue
        findings.append(_missed_quota(queue, label, week, quota))
    return findings


def _missed_quota(queue: QueueFact, label: str, week: ClosedQueueWeek, quota: int) -> Finding:
    if week.items == 0:
        done = f"{queue.shown_name} completed no item in {label}: nothing was placed in it (quota {quota})."
    elif week.items < quota:
        done = (
            f"{queue.shown_name} completed {week.items_complete} of its {counted(week.items, 'item')} in {label} "
            f"(quota {quota}; only {week.items} placed, as fewer outputs matched): {week.labels} of the "
            f"{week.labels_wanted} labels they wanted were given."
        )
    else:
        done = (
            f"{queue.shown_name} completed {week.items_complete} of its {week.items} items in {label} (quota {quota}): "
            f"{week.labels} of the {week.labels_wanted} labels they wanted were given."
        )
    why, facts_why = "", {}
    if queue.nobody_eligible:
        names = ", ".join(isolated(name) for name in queue.nobody_eligible)
        why = (
            f" Nobody can label in it now: it names only {names} as eligible experts, none of whom may label in "
            "the project any more."
        )
        facts_why = {"no_eligible_expert": list(queue.nobody_eligible)}
    elif queue.nobody_may_label:
        why = " Nobody can label in it now: no expert or lead of the project may label any more."
        facts_why = {"no_expert_left": True}
    return Finding(
        rule=AlertRule.QUOTA_MISSED,
        key=queue.slug,
        title=f"{queue.shown_name} missed its quota in {label}",
        detail=f"{done}{why}",
        facts={
            "queue": queue.slug,
            "week": label,
            "items": week.items,
            "items_complete": week.items_complete,
            "labels": week.labels,
            "labels_wanted": week.labels_wanted,
            "quota": quota,
            **facts_why,
        },
    )


def ingest_stopped(facts: AlertFacts) -> list[Finding]:
    """No output for ALERT_INGEST_SILENCE_HOURS while the project usually has them: at least one per such window
    on average over the INGEST_BASELINE_DAYS before. Once open, it holds until outputs arrive again (a silence long
    enough to empty the baseline is not a recovery)."""
    hours = settings.ALERT_INGEST_SILENCE_HOURS
    silent = facts.newest_output_at is None or facts.newest_output_at < facts.now - timedelta(hours=hours)
    usual = facts.baseline_outputs >= ingest_windows()
    if not silent or not (usual or "" in facts.held.get(AlertRule.INGEST_STOPPED, set())):
        return []
    return [
        Finding(
            rule=AlertRule.INGEST_STOPPED,
            key="",
            title=f"No outputs for {counted(hours, 'hour')}",
            detail=(
                f"The newest output is from {_when(facts.newest_output_at)}; in the {INGEST_BASELINE_DAYS} days "
                f"before, the project had at least one every {counted(hours, 'hour')} on average. Is the product app "
                "still sending them (its API key, the ingest URL)?"
            ),
            facts={"newest_output_at": _iso(facts.newest_output_at), "silence_hours": hours},
        )
    ]


def thumbs_down_rise(facts: AlertFacts) -> list[Finding]:
    """Each week with a significant rise of the overall thumbs-down share, as the change detection found it."""
    findings = []
    for change in sorted(facts.thumbs_down, key=lambda change: change.week):
        if change.effect <= 0:
            continue
        label = week_label(change.week)
        so_far = " so far (the week is still running)" if change.partial else ""
        findings.append(
            Finding(
                rule=AlertRule.THUMBS_DOWN_RISE,
                key=label,
                title=f"The thumbs-down share rose in {label}",
                detail=(
                    f"{change.current:.1%} of the outputs of {label} got a thumbs-down{so_far}, against "
                    f"{change.baseline:.1%} in the {counted(change.baseline_weeks, 'week')} before "
                    f"(q = {change.q_value:.3g})."
                ),
                facts={
                    "week": label,
                    "current": change.current,
                    "baseline": change.baseline,
                    "q_value": change.q_value,
                    "partial": change.partial,
                },
            )
        )
    return findings


RULES = (close_failed, close_overdue, queue_idle, quota_missed, ingest_stopped, thumbs_down_rise)


def findings(facts: AlertFacts) -> list[Finding]:
    """Every condition that holds, rule by rule."""
    return [finding for rule in RULES for finding in rule(facts)]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
