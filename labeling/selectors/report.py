"""The weekly report of a cycle week, read from the stored metric rows and the live agenda.

One function answers "the report of week W" for the meeting page, its Markdown export and the API
(`report_of_week`): the report frozen by the week's close, else one built now (`build_report`). The close
freezes what `build_report` returns. Reads only: the metric rows are written by the close or a refresh.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from django.db.models import Case, F, JSONField, Q, When
from django.utils import timezone

from labeling.exceptions import NotFound
from labeling.metrics.agreement import MIN_UNITS, too_few_gold_items, too_few_units
from labeling.metrics.quality import wilson_interval
from labeling.metrics.retention import cell_complete, mean_curves
from labeling.models import (
    AgreementMetric,
    Comment,
    CycleStatus,
    Decision,
    ExpertWeek,
    Flag,
    Item,
    Label,
    Project,
    QuestionKind,
    QueueWeek,
    RetentionCell,
    ReviewCycle,
    week_label,
)
from labeling.rules.access import labels_that_unblind
from labeling.rules.calendar import current_week, local_today, week_end, week_start, week_zone
from labeling.rules.explore import tags_of
from labeling.rules.gold import open_ties
from labeling.rules.moments import stored_moments_in_utc, utc_moment
from labeling.rules.paused import expects_work
from labeling.rules.retention_reference import rate_at
from labeling.rules.text import EXCERPT_CHARS, excerpt
from labeling.rules.weekly_close import ended_before_the_project

from .changes import week_changes
from .gold import adjudication_queue, gold_entries, gold_of_entries
from .left_open import closed_weeks_newest_first
from .metrics import (
    DEFAULT_WEEKS,
    RETENTION_OFFSETS,
    WeekRange,
    figures_freshness,
    first_week_of_the_project,
    pooled_trend,
    quality_series,
    week_range,
    weeks_holding_work,
)
from .rubrics import closed_weeks_beside, questions_of, verdict_question
from .themes import blind_themes, week_themes

TREND_WEEKS = DEFAULT_WEEKS  # the pass-rate trend's weeks (`week_range`'s default)
RETENTION_COHORTS = 8
AGENDA_LIMIT = 50
FLAG_EXCERPT_CHARS = 200
MOVERS = 5
# A week-over-week change on fewer items than this on either side is noise, not news: the headline says "too few
# items to compare" instead, and a tag with fewer is no mover. One minimum for every small sample: an agreement on
# fewer items is no figure either (labeling.metrics.agreement).
MIN_ITEMS_TO_COMPARE = MIN_UNITS


# The cycle of a week and its decisions -----------------------------------------------------------------------


def cycle_of_week(*, project: Project, week: date) -> ReviewCycle | None:
    """Return the project's cycle of the week, if it has one (one query)."""
    return ReviewCycle.objects.filter(project=project, week=week).first()


def latest_closed_week(project: Project) -> date | None:
    """Return the latest week whose cycle is closed (what the meeting discusses), if any (one query)."""
    return closed_weeks_newest_first(project).values_list("week", flat=True).first()


def week_to_discuss(project: Project) -> date:
    """The week a meeting discusses: the latest closed week, else the running week (two queries at most)."""
    return latest_closed_week(project) or current_week(project)


def cycle_decisions(cycle: ReviewCycle | None) -> list[Decision]:
    """Return the cycle's decisions with who made them, oldest first (one query; none without a cycle)."""
    if cycle is None:
        return []
    return list(cycle.decisions.select_related("created_by"))


def open_decisions_before(project: Project, week: date) -> list[Decision]:
    """Decisions of the project's earlier weeks not marked done yet, soonest due first (undated last), with their weeks
    and authors (one query): what a meeting goes through before this week's."""
    return list(
        Decision.objects.filter(cycle__project=project, cycle__week__lt=week, done_at__isnull=True)
        .select_related("cycle", "created_by")
        .order_by(F("due_date").asc(nulls_last=True), "cycle__week", "pk")
    )


def decisions_of(cycle: ReviewCycle | None, *, project: Project) -> list[dict]:
    """The cycle's decisions as plain data with their status now (`decision_status`), for the Markdown export and the
    API's `decisions`."""
    today, zone = local_today(project), week_zone(project, cycle)
    return [
        _decision_data(decision) | decision_status(decision, project=project, today=today, zone=zone)
        for decision in cycle_decisions(cycle)
    ]


def decision_status(decision: Decision, *, project: Project, today: date, zone: tzinfo | None = None) -> dict:
    """A decision's status, the one rule of the meeting page, report.md and the JSON report: `done_on` (the day it was
    marked done in `zone`, ISO; None while open) and `overdue` (open, and due before `today`, the project's date).
    `zone`: the week's (`calendar.week_zone`: a closed week's dates are the zone's it was closed in), else the
    project's."""
    done_at = timezone.localtime(decision.done_at, zone or project.tzinfo) if decision.done_at else None
    done_on = done_at.date().isoformat() if done_at else None
    return {
        "done_on": done_on,
        "overdue": done_on is None and decision.due_date is not None and decision.due_date < today,
    }


def carried_decisions(project: Project, week: date, *, today: date) -> list[dict]:
    """The earlier weeks' decisions still open, as plain data with the week each was made in and whether it is overdue
    on `today` (the project's date): what the report of `week` carries, frozen as they stood at its close."""
    return [
        {
            **_decision_data(decision),
            "week": decision.cycle.label,
            "overdue": decision_status(decision, project=project, today=today)["overdue"],
        }
        for decision in open_decisions_before(project, week)
    ]


def _decision_data(decision: Decision) -> dict:
    return {
        "id": decision.pk,
        "text": decision.text,
        "owner": decision.owner,
        "due_date": decision.due_date.isoformat() if decision.due_date else None,
        "item_id": decision.item_id,
        "created_by": decision.created_by.username if decision.created_by else None,
        "created_at": utc_moment(decision.created_at),
    }


# The report of a week ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeekReport:
    """A week's cycle (None before one is made) and its report: frozen if the cycle is closed, else live."""

    cycle: ReviewCycle | None
    report: dict
    # The closed cycles of the weeks before and after it, by week, read with `cycle`: what `calendar.week_span` reads
    # beside it for the versions published in it (`rubrics.rubrics_published_data`'s `beside`).
    beside: dict[date, ReviewCycle]


def report_of_week(*, project: Project, week: date) -> WeekReport:
    """The week's report: frozen when its cycle is closed, else built now from the stored rows.

    Every week that has started has a report, one without items too (its figures are zero or empty, as a
    lead may still record decisions on it or close it, unless it ended before the project existed and holds none of
    its outputs: `has_something_to_close`); a week that has not started is NotFound. A closed
    cycle without a frozen report (closed by hand) is built now.
    """
    if week > current_week(project):
        raise NotFound(f"Week {week_label(week)} has not started yet.")
    cycle, beside = _cycle_and_closed_beside(project, week)
    if cycle is not None and cycle.is_closed and cycle.report:
        # Served as frozen, but for how its moments are written: a report frozen or restated before they were written
        # with `Z` reads as every moment the API hands out.
        return WeekReport(cycle=cycle, report=stored_moments_in_utc(cycle.report), beside=beside)
    status = cycle.status if cycle else CycleStatus.OPEN
    return WeekReport(cycle=cycle, report=build_report(project=project, week=week, status=status), beside=beside)


def _cycle_and_closed_beside(project: Project, week: date) -> tuple[ReviewCycle | None, dict[date, ReviewCycle]]:
    """The week's cycle (None before one is made) and the closed cycles of the weeks before and after it, by week
    (`rubrics.closed_weeks_beside`): one query. Only the week's own frozen report is read; those beside it are left
    in the database, as nothing reads them."""
    rows = (
        ReviewCycle.objects.filter(Q(week=week) | closed_weeks_beside(project, week), project=project)
        .order_by()  # the default ordering (by project, hence its slug) would join labeling_project for nothing
        .defer("report")
        .annotate(own_report=Case(When(week=week, then=F("report")), output_field=JSONField()))
    )
    cycle, beside = None, {}
    for row in rows:
        if row.week == week:
            row.report = row.own_report
            cycle = row
        else:
            beside[row.week] = row
    return cycle, beside


def has_something_to_close(project: Project, week: date) -> bool:
    """Whether a week that is over may be closed: the project existed then, or the week holds its outputs (sent with
    older dates) or review work. A week of outputs only closes as any week does, freezing its figures: the outputs
    counted, nothing labeled; a week before the project that holds nothing of it has no meeting and no cycle."""
    return not ended_before_the_project(project, week) or week in weeks_holding_work(project, [week])


def next_week_at_close(project: Project, week: date) -> str | None:
    """What closing the week does to the week after it, as the close (`services.cycles`) does it: "opens" it when it
    has no cycle yet; none when it is open already or closed ("open", "closed": an older week closed out of order);
    None for a week before the project that holds nothing (`has_something_to_close`), which gets no cycle. One query,
    two for a week before the project."""
    following = cycle_of_week(project=project, week=week + timedelta(days=7))
    if following is not None:
        return "closed" if following.is_closed else "open"
    return "opens" if has_something_to_close(project, week + timedelta(days=7)) else None


def within_the_project(project: Project, week: date) -> bool:
    """Whether the week is one of the project's: it had not ended when the project was created, or it or an earlier
    week holds outputs sent with older dates, routed into review items or not yet (a week of outputs and their themes
    and changes, no items, is answered with zero review figures). The meeting page offers no week before the first of
    them (no query unless the week ended before the project). The dashboards' default range starts at the first such
    week (`first_week_of_the_project`)."""
    return not ended_before_the_project(project, week) or week >= first_week_of_the_project(project)


def check_week_of_the_project(project: Project, week: date) -> None:
    """NotFound for a week that is not one of the project's: it has not started, or it ended before the project was
    created and neither it nor an earlier week holds outputs or review work (`within_the_project`). The API serves no
    report or changes of such a week; the meeting page shows the latter with its "before the project" note instead."""
    if week > current_week(project):
        raise NotFound(f"Week {week_label(week)} has not started yet.")
    if not within_the_project(project, week):
        raise NotFound(f"Week {week_label(week)} ended before this project was created.")


def build_report(*, project: Project, week: date, status: str, now: datetime | None = None) -> dict:
    """Build the week's report from the stored rows and the live agenda (the format DESIGN describes)."""
    now = now or timezone.now()
    questions = questions_of(project)
    verdict = verdict_question(project, questions)
    verdict_key = verdict["key"] if verdict else None
    previous = week - timedelta(days=7)
    # TREND_WEEKS up to the week, from the project's first week at the earliest, as the dashboard's range (no rows
    # "2026-W33 | — | 0" before a young project existed).
    trend_weeks = week_range(project=project, last=week)
    quality = quality_series(project=project, weeks=trend_weeks)
    agreement = {
        (row.week, row.question): row
        for row in AgreementMetric.objects.filter(project=project, week__in=[week, previous])
    }
    queue_weeks = list(
        QueueWeek.objects.filter(project=project, week__in=[week, previous])
        .select_related("queue")
        .order_by("queue__slug")
    )
    # The headline counts the work expected: a queue paused now, in the running week, as the platform page does.
    running = current_week(project, now)
    expected = [
        row
        for row in queue_weeks
        if expects_work(queue_active=row.queue.is_active, week=row.week, running_week=running)
    ]
    trend = pooled_trend(quality, question=verdict_key, weeks=trend_weeks) if verdict_key else []
    # The trend has a point per week; a week without gold answers has no value and no headline figure.
    measured = {point["week_start"]: point for point in trend if point["value"] is not None}
    this_week, last_week = measured.get(week.isoformat()), measured.get(previous.isoformat())
    retention = _retention(project, week, running=running)
    first_week = not within_the_project(project, previous)  # no week before it to compare with
    freshness = None
    if str(status) != CycleStatus.CLOSED and has_something_to_close(project, week):
        stored = (
            any(row.week == week for row in queue_weeks)
            or any(row_week == week for row_week, _ in agreement)
            or this_week is not None
        )
        freshness = _freshness(project, week, stored=stored)
    not_computed = {}
    if freshness and not freshness["computed"]:
        # No change to show: none from zeros never computed, and none at all in the first week (the schema's "absent").
        not_computed = {"not_computed": True} | ({} if first_week else {"change": None})
    return {
        "version": 1,
        "project": project.slug,
        "project_name": project.name,
        "week": week_label(week),
        "week_start": week.isoformat(),
        "week_end": (week + timedelta(days=6)).isoformat(),
        "status": str(status),
        "generated_at": utc_moment(now),
        "verdict_question": verdict_key,
        "headline": {
            "pass_rate": _headline_pass_rate(this_week, last_week),
            "alpha": _headline_alpha(agreement, verdict_key, week, previous),
            "labels": _headline_labels(expected, week, previous, first_week=first_week)
            | (_running_week_so_far(project, week, previous, now) if week == running and not first_week else {})
            | not_computed,
            "retention_week1": retention.pop("week1"),
        },
        "quality": [_quality_entry(row) for row in quality if row["week_start"] == week.isoformat()],
        "pass_rate_trend": trend,
        "agreement": [_agreement_entry(row) for (row_week, _), row in sorted(agreement.items()) if row_week == week],
        "throughput": {
            "queues": [_queue_entry(row) for row in queue_weeks if row.week == week],
            "experts": [
                {
                    "expert": row.expert.username,
                    "labels": row.labels,
                    "skips": row.skips,
                    "flags": row.flags,
                    "median_seconds": row.median_seconds,
                    "gold_rate": row.gold_rate,
                    "gold_compared": sum(c["compared"] for c in row.gold_agreement.values()),
                    "gold_items": row.gold_items,
                    **({"too_few_items": True} if too_few_gold_items(row.gold_items) else {}),
                }
                for row in ExpertWeek.objects.filter(project=project, week=week)
                .select_related("expert")
                .order_by("expert__username")
            ],
        },
        "retention": retention,
        "changes": week_changes(project=project, week=week),
        "themes": week_themes(project=project, week=week),
        "agenda": _agenda(project, verdict_key, week),
        "carried_decisions": carried_decisions(project, week, today=local_today(project, now)),
    } | ({"freshness": freshness} if freshness else {})


def _freshness(project: Project, week: date, *, stored: bool) -> dict:
    """How current an open week's figures are, for every reader (`figures_freshness`, two queries): when they were last
    computed (in the project's time zone; None: no finished computation recorded), the labels saved since, and whether
    they were computed at all (a refresh recorded, or rows stored): zeros never computed are not figures."""
    found = figures_freshness(project=project, week=week)
    refreshed_at = timezone.localtime(found.refreshed_at, project.tzinfo).isoformat() if found.refreshed_at else None
    return {
        "refreshed_at": refreshed_at,
        "labels_since": found.labels_since,
        "computed": found.refreshed_at is not None or stored,
    }


def _change(value, previous):
    return None if value is None or previous is None else value - previous


def _too_few_to_compare(units: int, previous_units: int | None) -> dict:
    """The keys that mark a change left out because a side has fewer than MIN_ITEMS_TO_COMPARE items ({} if not)."""
    if previous_units is None or min(units, previous_units) >= MIN_ITEMS_TO_COMPARE:
        return {}
    return {"change": None, "too_few_to_compare": True, "previous_units": previous_units}


def _headline_pass_rate(this_week: dict | None, last_week: dict | None) -> dict | None:
    if this_week is None:
        return None
    previous = last_week["value"] if last_week else None
    return {
        **{key: this_week[key] for key in ("value", "ci_low", "ci_high", "n", "passes")},
        "previous": previous,
        "change": _change(this_week["value"], previous),
    } | _too_few_to_compare(this_week["n"], last_week["n"] if last_week else None)


def _headline_alpha(agreement: dict, verdict_key: str | None, week: date, previous: date) -> dict | None:
    row = agreement.get((week, verdict_key))
    if row is None:
        return None
    before = agreement.get((previous, verdict_key))
    return _alpha_figure(
        verdict_key, row.alpha, row.units, before.alpha if before else None, before.units if before else 0
    )


def _alpha_figure(question: str | None, alpha, units: int, previous_alpha, previous_units: int) -> dict:
    return {
        "question": question,
        "value": alpha,
        "previous": previous_alpha,
        "change": _change(alpha, previous_alpha),
        "units": units,
        **({"too_few_items": True} if too_few_units(units) else {}),
    } | _too_few_to_compare(units, previous_units if previous_alpha is not None else None)


def _labels_change(done: int, previous_done: int) -> dict:
    return {"previous_done": previous_done, "change": done - previous_done}


def compared_with_week_before(project: Project, report: dict, before: dict) -> dict:
    """`report` with its week-over-week comparison made again from `before`, the report its week before froze: the
    headline's previous figures and changes, and that week's point of the pass-rate trend, as `build_report` makes
    them from the rows that week's close left (what a close in order reads); and the agenda's movers by tag, read
    again from the gold answers of both weeks (one query).

    A week closed before the week before it compared with that week as it stood then (still open, later labels
    missing): the later close restates it once that week's figures are final. The week's own figures and the rest of
    its agenda are left as they were frozen. A report frozen in an older format without a figure keeps it as it was."""
    headline, previous_headline = report.get("headline") or {}, before.get("headline") or {}
    restated = dict(headline)
    alpha, previous_alpha = headline.get("alpha"), previous_headline.get("alpha")
    if alpha and "units" in alpha:
        same_question = previous_alpha and previous_alpha.get("question") == alpha.get("question")
        restated["alpha"] = _alpha_figure(
            alpha.get("question"),
            alpha["value"],
            alpha["units"],
            previous_alpha.get("value") if same_question else None,
            previous_alpha.get("units", 0) if same_question else 0,
        )
    labels, previous_labels = headline.get("labels"), previous_headline.get("labels")
    if labels and "previous_done" in labels and previous_labels and "done" in previous_labels:
        restated["labels"] = labels | _labels_change(labels["done"], previous_labels["done"])
    trend = with_final_trend_point(report, before, project=project) or report
    pass_rate = headline.get("pass_rate")
    if pass_rate and "passes" in pass_rate:
        if report.get("verdict_question") == before.get("verdict_question"):
            restated["pass_rate"] = _headline_pass_rate(pass_rate, previous_headline.get("pass_rate"))
        elif trend is not report:
            # After a rubric changed the verdict, the week before's own pass rate is of another question: its figure
            # of this report's verdict is its trend point, made again from the stored rows (as `build_report` reads).
            previous = _point_of(trend, before.get("week_start"))
            restated["pass_rate"] = _headline_pass_rate(pass_rate, previous if previous["value"] is not None else None)
    restated_report = {**trend, "headline": restated}
    agenda = report.get("agenda")
    if isinstance(agenda, dict) and "movers" in agenda and report.get("week_start"):
        week = date.fromisoformat(report["week_start"])
        restated_report["agenda"] = agenda | {"movers": _movers(project, report.get("verdict_question"), week)}
    return restated_report


# A trend point's figures: what another week's final point restates. Not `scale_changed`, which says how the point
# compares with those before it in the reader's own range (the first point of a trend follows none).
_TREND_POINT_FIGURES = ("value", "ci_low", "ci_high", "n", "passes")


def with_final_trend_point(report: dict, final: dict, *, project: Project) -> dict | None:
    """`report` with the figures of its pass-rate trend point for the week `final` is the report of made again as a
    close in order reads them, from the rows that week's close left: that week's own point, or, when its verdict
    question is another (a rubric changed it between the closes), its stored rows of `report`'s verdict question, if
    they are still of a binary question (one query). None when there is nothing to restate: the same figures already,
    no point in the report (a week outside its trend, or a report frozen in an older format), or no such rows."""
    week_start, trend = final.get("week_start"), report.get("pass_rate_trend")
    if _point_of(report, week_start) is None:
        return None
    if report.get("verdict_question") == final.get("verdict_question"):
        own = _point_of(final, week_start)
    else:
        own = _stored_pass_rate_point(project, question=report.get("verdict_question"), week_start=week_start)
    if own is None:
        return None
    figures = {key: own[key] for key in _TREND_POINT_FIGURES if key in own}
    restated = [point | figures if point.get("week_start") == week_start else point for point in trend]
    return None if restated == trend else {**report, "pass_rate_trend": restated}


def _point_of(report: dict, week_start: str | None) -> dict | None:
    """The report's pass-rate trend point of the week (None if it has none, or no trend)."""
    trend = report.get("pass_rate_trend")
    if not isinstance(trend, list):
        return None
    return next((point for point in trend if isinstance(point, dict) and point.get("week_start") == week_start), None)


def _stored_pass_rate_point(project: Project, *, question: str | None, week_start: str | None) -> dict | None:
    """The week's pass-rate point of `question` from its stored quality rows, as `build_report`'s trend pools them;
    None if it has no rows of it, or rows of another kind (the question was asked otherwise since: not a pass rate)."""
    if not question or not week_start:
        return None
    week = date.fromisoformat(week_start)
    weeks = WeekRange(first=week, last=week)
    rows = quality_series(project=project, weeks=weeks, question=question)
    if not rows or any(row["kind"] != QuestionKind.BINARY for row in rows):
        return None
    return pooled_trend(rows, question=question, weeks=weeks)[0]


# The retention figures split by verdict: what a week's gold answers decide (a cohort's users' verdicts).
VERDICT_SEGMENTS = ("pass", "fail")


def with_final_verdict_split(reports: dict[date, dict], *, project: Project) -> dict[date, dict]:
    """Of `reports` (closed weeks' reports by week), those whose retention by verdict the stored cells now give
    otherwise, with it made again as `build_report` makes it: the week-1 headline's `pass` and `fail` and the curves of
    those segments. A user's verdict is the gold answers on their cohort week's outputs, so a report frozen before a
    week of its cohorts closed (and got its final gold answers) split that week's users as they stood then. The rest
    of the retention (all users, the grid, the comparison) is the report's own, as frozen. One query; a report frozen
    in an older format without those figures is left as it was."""
    split = {
        week: report
        for week, report in reports.items()
        if isinstance(report.get("headline"), dict)
        and isinstance(report.get("retention"), dict)
        and isinstance(report["retention"].get("curves"), dict)
    }
    if not split:
        return {}
    cells = _retention_cells(project, last=max(split))
    running = current_week(project)
    restated = {}
    for week, report in split.items():
        again = _retention_of(cells, week, reference=None, running=running)
        frozen_week1, curves = report["headline"].get("retention_week1"), report["retention"]["curves"]
        week1 = frozen_week1
        if isinstance(frozen_week1, dict) and again["week1"]:
            week1 = frozen_week1 | {segment: again["week1"][segment] for segment in VERDICT_SEGMENTS}
        curves_again = curves | {segment: again["curves"][segment] for segment in VERDICT_SEGMENTS}
        if week1 == frozen_week1 and curves_again == curves:
            continue
        restated[week] = report | {
            "headline": report["headline"] | {"retention_week1": week1},
            "retention": report["retention"] | {"curves": curves_again},
        }
    return restated


def _headline_labels(queue_weeks: list[QueueWeek], week: date, previous: date, *, first_week: bool) -> dict:
    """Labels done of those wanted, and the quota of the queues that have one against the items placed in them. The
    project's first week (`first_week`: the one before is not the project's) is compared with no week."""
    current = [row for row in queue_weeks if row.week == week]
    done = sum(row.labels for row in current)
    previous_done = sum(row.labels for row in queue_weeks if row.week == previous)
    # A quota caps the items placed in its queue: summed over the queues that have one, it is set against their items
    # alone (a queue without one, say every thumbs-down, would fill anyone's quota). Reports frozen before these
    # counts have `quota` only, None when a queue had none (`reports.fmt_quota` reads both).
    with_quota = [row for row in current if row.quota is not None]
    return {
        "done": done,
        "wanted": sum(row.labels_wanted for row in current),
        "quota": sum(row.quota for row in with_quota) if with_quota else None,
        "queues": len(current),
        "queues_with_quota": len(with_quota),
        "items_in_quota_queues": sum(row.items for row in with_quota),
        "items": sum(row.items for row in current),
    } | ({"first_week": True} if first_week else _labels_change(done, previous_done))


def _running_week_so_far(project: Project, week: date, previous: date, now: datetime) -> dict:
    """While the week runs, its labels so far against last week's by the same moment of its week, not its whole.

    Set against the whole of last week, a running week always looked like a drop. `previous_by_now` counts the labels
    on last week's items saved by then (one query); `change` is left out (None): this week's figure is the hourly
    refresh's, so a difference of the two would lag by up to an hour. A frozen report never has the key. Only the
    queues the running week's `done` counts (`expects_work`: not those paused now) are counted last week too.
    """
    by_now = week_start(project, previous) + (now - week_start(project, week))
    labels = Label.objects.filter(item__project=project, item__queue__is_active=True).on_items_of_week(previous)
    return {"change": None, "previous_by_now": labels.filter(created_at__lt=by_now).count()}


def _quality_entry(row: dict) -> dict:
    fields = ("queue", "queue_name", "question", "kind", "n", "passes", "value", "ci_low", "ci_high", "shares")
    return {name: row[name] for name in fields}


def _agreement_entry(row: AgreementMetric) -> dict:
    fields = ("question", "kind", "level", "alpha", "alpha_interval", "fleiss_kappa", "cohen_kappa")
    return {
        **{name: getattr(row, name) for name in fields},
        "units": row.units,
        "labels": row.labels,
        "experts": row.experts,
    }


def _queue_entry(row: QueueWeek) -> dict:
    fields = ("quota", "items", "items_complete", "labels", "labels_wanted", "backlog", "median_seconds")
    return {"queue": row.queue.slug, "queue_name": row.queue.name, **{name: getattr(row, name) for name in fields}}


def _rate(returned: int, users: int) -> float | None:
    return returned / users if users else None


def _retention(project: Project, week: date, *, running: date | None = None) -> dict:
    """The cohort grid of the last cohorts, the verdict-split curves, and the week-1 headline, while `running` runs
    (default: the week running now)."""
    running = running or current_week(project)
    cells = _retention_cells(project, last=week)
    retention = _retention_of(cells, week, reference=retention_reference_of(project), running=running)
    if retention["week1"]:
        # When the headline cohort's week 1 (the report's week) is over: "so far, until …" while it runs.
        retention["week1"]["ends_at"] = utc_moment(week_end(project, week))
    return retention


def _retention_cells(project: Project, *, last: date) -> list[dict]:
    """The stored cells the reports of the weeks up to `last` read (one query)."""
    # Only the offsets shown: the curves stop at RETENTION_OFFSETS, the grid's last cohorts cannot reach further,
    # the headline is offset 1. Reading every cell up to the week (16k at 104 weeks) grew with the project's age.
    shown_offsets = max(RETENTION_OFFSETS, RETENTION_COHORTS)
    return list(
        RetentionCell.objects.filter(project=project, cohort_week__lte=last, offset__lt=shown_offsets)
        .order_by("segment", "cohort_week", "offset")
        .values("segment", "cohort_week", "offset", "cohort_users", "active_on", "active_on_or_after", "incomplete")
    )


def _retention_of(cells: list[dict], week: date, *, reference: dict | None, running: date) -> dict:
    """`_retention` of the week from `cells` (`_retention_cells` up to the week or a later one), while the week
    `running` runs: a cell is final by one rule (`cell_complete`), which the grid, the curves, the week-1 headline
    and its comparison all read."""
    first = week - timedelta(weeks=RETENTION_COHORTS - 1)
    cells = [c for c in cells if c["cohort_week"] <= week]
    # A cell past the report's week is in the future as far as this report is concerned.
    visible = [c for c in cells if c["cohort_week"] + timedelta(weeks=c["offset"]) <= week]
    cohorts: dict[date, dict] = {}
    for cell in visible:
        if cell["segment"] != "all" or cell["cohort_week"] < first:
            continue
        cohort = cohorts.setdefault(
            cell["cohort_week"],
            {
                "cohort_week": week_label(cell["cohort_week"]),
                "cohort_start": cell["cohort_week"].isoformat(),
                "users": cell["cohort_users"],
                "cells": [],
            },
        )
        cohort["cells"].append(
            {
                "offset": cell["offset"],
                "active_on": cell["active_on"],
                "rate": _rate(cell["active_on"], cell["cohort_users"]),
                "active_on_or_after": cell["active_on_or_after"],
                "rate_on_or_after": _rate(cell["active_on_or_after"], cell["cohort_users"]),
                "incomplete": not cell_complete(cell, current_week=running),
            }
        )
    complete = [c for c in visible if cell_complete(c, current_week=running)]
    curves = mean_curves(complete, offsets=RETENTION_OFFSETS, last_cohort=week)

    def week1(cohort_week: date, segment: str) -> dict:
        cell = next(
            (c for c in visible if c["segment"] == segment and c["cohort_week"] == cohort_week and c["offset"] == 1),
            None,
        )
        if cell is None:
            return {"rate": None, "returned": 0, "users": 0}
        return {
            "rate": _rate(cell["active_on"], cell["cohort_users"]),
            "returned": cell["active_on"],
            "users": cell["cohort_users"],
        }

    cohort_week = week - timedelta(days=7)
    headline_cell = next(
        (c for c in visible if c["segment"] == "all" and c["cohort_week"] == cohort_week and c["offset"] == 1), None
    )
    # Week 1 of last week's cohort is the report's week: partial while it runs, or as stored before it ended.
    week1_complete = headline_cell is not None and cell_complete(headline_cell, current_week=running)
    headline = {
        "cohort_week": week_label(cohort_week),
        "complete": week1_complete,
        **{segment: week1(cohort_week, segment) for segment in ("all", *VERDICT_SEGMENTS)},
        "previous_all": week1(cohort_week - timedelta(days=7), "all"),
    }
    if cells:
        headline["comparison"] = _week1_comparison(visible, cohort_week, reference, running=running)
    return {
        "cohorts": list(cohorts.values()),
        "curves": curves,
        "reference": reference,
        "week1": headline if cells else None,
    }


def retention_reference_of(project: Project) -> dict | None:
    """The lead's reference curve as the report keeps it (frozen with it), or None without one."""
    if not project.retention_reference:
        return None
    points = [{"week": point["week"], "rate": point["rate"]} for point in project.retention_reference]
    return {"points": points, "source": project.retention_reference_source}


def _with_interval(returned: int, users: int) -> dict:
    """A week-1 rate with its 95% Wilson interval (None without users), so a small cohort is not over-read."""
    low, high = wilson_interval(returned, users) if users else (None, None)
    return {"rate": _rate(returned, users), "returned": returned, "users": users, "ci_low": low, "ci_high": high}


def _verdict(interval: dict, value: float | None) -> str | None:
    """Where the cohort stands against a value: above or below when its whole interval is, else within."""
    if value is None or interval["ci_low"] is None:
        return None
    if interval["ci_low"] > value:
        return "above"
    if interval["ci_high"] < value:
        return "below"
    return "within"


def _week1_comparison(visible: list[dict], cohort_week: date, reference: dict | None, *, running: date) -> dict:
    """This week's cohort's week-1 rate against the reference's week 1 and the mean of the cohorts before it.

    The mean pools the counts of the RETENTION_COHORTS cohorts before this one (all users; a cohort without users
    adds nothing and is not counted), those whose week 1 is final (`cell_complete`: it ended before the report's week,
    but a cell stored before then, the refresh not run since, is partial and left out). The mean has its own interval;
    each verdict says whether this cohort's interval lies above, below or around the value (the reference's week 1,
    the mean's rate). A cohort whose week 1 is not final has no verdict: a partial figure against complete ones
    (Amplitude and Mixpanel leave the running period out of their comparisons alike).
    """
    first_past = cohort_week - timedelta(weeks=RETENTION_COHORTS)
    returned = users = 0
    cohort = None
    past_cohorts = []
    for cell in visible:
        if cell["segment"] != "all" or cell["offset"] != 1:
            continue
        if cell["cohort_week"] == cohort_week:
            cohort = cell
        elif (
            first_past <= cell["cohort_week"] < cohort_week
            and cell["cohort_users"]
            and cell_complete(cell, current_week=running)
        ):
            returned += cell["active_on"]
            users += cell["cohort_users"]
            past_cohorts.append(cell["cohort_week"])
    this = _with_interval(cohort["active_on"], cohort["cohort_users"]) if cohort else _with_interval(0, 0)
    final = cohort is not None and cell_complete(cohort, current_week=running)

    def verdict(value: float | None) -> str | None:
        return _verdict(this, value) if final else None

    reference_rate = rate_at(reference["points"], 1) if reference else None
    past = None
    if past_cohorts:
        past = {
            **_with_interval(returned, users),
            "cohorts": len(past_cohorts),
            "first_cohort_week": week_label(min(past_cohorts)),
            "last_cohort_week": week_label(max(past_cohorts)),
        }
    return {
        "cohort": this,
        "reference": None
        if reference is None
        else {"rate": reference_rate, "source": reference["source"], "verdict": verdict(reference_rate)},
        "past": None if past is None else {**past, "verdict": verdict(past["rate"])},
    }


def blind_report(report: dict, *, reader) -> dict:
    """The report as an expert reads it (`rules.access.labels_blind`): the failure themes without their examples
    (`themes.blind_themes`), and the flagged items blind as on the labeling screen (`rules.access.labels_that_unblind`):
    on an item the reader has not labeled, another person's flag note and comments are left out (`note_hidden`, and
    how many comments in `comments_hidden`), and so is who flagged it (`expert` null, `expert_hidden`): knowing which
    colleague doubted an item biases a label as the note would, and the reader may still be handed it. One query,
    with flags.

    A report names people by username as it was frozen, and by user id (`expert_id`, `author_id`): the reader's own note
    and comments are those under their id, so a rename after the close keeps them theirs and a newcomer given an old
    name reads nobody else's. Reports frozen before the ids were kept match by username."""
    report = blind_themes(report)
    agenda = report.get("agenda")
    flags = agenda.get("flags") if isinstance(agenda, dict) else None
    if not isinstance(flags, list) or not flags:
        return report
    shown = {flag.get("item_id") for flag in flags} - {None}
    labeled = set(labels_that_unblind(reader.pk).filter(item_id__in=shown).values_list("item_id", flat=True))
    flags = [flag if flag.get("item_id") in labeled else _blind_flag(flag, reader) for flag in flags]
    return {**report, "agenda": {**agenda, "flags": flags}}


def _written_by(entry: dict, reader, *, name: str, user_id: str) -> bool:
    """Is the report entry the reader's: by its user id, or by its username in a report frozen before ids were kept."""
    if entry.get(user_id) is not None:
        return entry[user_id] == reader.pk
    return entry.get(name) == reader.get_username()


def _blind_flag(flag: dict, reader) -> dict:
    """A flagged item's agenda entry without the name (nor id), note and comments of anyone but the reader."""
    comments = flag.get("comments") or []
    kept = [comment for comment in comments if _written_by(comment, reader, name="author", user_id="author_id")]
    others = not _written_by(flag, reader, name="expert", user_id="expert_id")
    shown = {key: value for key, value in flag.items() if not (others and key == "expert_id")}
    return {
        **shown,
        "expert": None if others else flag.get("expert"),
        "expert_hidden": others,
        "note": None if others else flag.get("note"),
        "note_hidden": others,
        "comments": kept,
        "comments_hidden": len(comments) - len(kept),
    }


def with_excerpts_of(
    report: dict, *, by_item: dict[int, Any], by_output: dict[str, Any], words: Callable[[str], str] | None = None
) -> dict:
    """The report with the excerpts of some outputs made again from their values, as `build_report` makes them:
    agenda entries name the output's item (`by_item`), failure-theme examples its external id (`by_output`). The
    flag notes and comments quoted about those items go through `words` (the redaction rules), when given."""
    cleaned = dict(report)
    if isinstance(report.get("agenda"), dict):
        agenda = cleaned["agenda"] = dict(report["agenda"])
        for key, limit in (("flags", FLAG_EXCERPT_CHARS), ("adjudication", EXCERPT_CHARS)):
            if isinstance(agenda.get(key), list):
                agenda[key] = [
                    _with_words(entry, words) | {"excerpt": excerpt(by_item[entry["item_id"]], limit)}
                    if entry.get("item_id") in by_item
                    else entry
                    for entry in agenda[key]
                ]
    if isinstance(report.get("themes"), list):
        cleaned["themes"] = [
            {
                **theme,
                "examples": [
                    {**example, "excerpt": excerpt(by_output[example["output"]], EXCERPT_CHARS)}
                    if example.get("output") in by_output
                    else example
                    for example in theme.get("examples") or []
                ],
            }
            if "examples" in theme
            else theme
            for theme in report["themes"]
        ]
    return cleaned


def _with_words(entry: dict, words: Callable[[str], str] | None) -> dict:
    """An agenda entry with its flag's note and its comments' bodies through `words`."""
    if words is None:
        return entry
    entry = dict(entry)
    if isinstance(entry.get("note"), str):
        entry["note"] = words(entry["note"])
    if isinstance(entry.get("comments"), list):
        entry["comments"] = [
            {**comment, "body": words(comment["body"])}
            if isinstance(comment, dict) and isinstance(comment.get("body"), str)
            else comment
            for comment in entry["comments"]
        ]
    return entry


def _agenda(project: Project, verdict_key: str | None, week: date) -> dict:
    """What the meeting goes through: none for a week with no meeting (`has_something_to_close`)."""
    if not has_something_to_close(project, week):
        return {"adjudication": [], "flags": [], "movers": []}
    return {
        "adjudication": _adjudication_agenda(project, week),
        "flags": _flag_agenda(project, week),
        "movers": _movers(project, verdict_key, week),
    }


def _adjudication_agenda(project: Project, week: date) -> list[dict]:
    """Items of the week and earlier ones waiting for a lead's decision, oldest complete first, with the questions
    that tie. As the flags: a past week's agenda (and the one frozen at its close, made in a later week) never lists
    a later week's items, and a tie left waiting stays on the next weeks' agendas."""
    waiting, _ = adjudication_queue(project, limit=AGENDA_LIMIT, up_to_week=week)
    return [
        {
            "item_id": row.item.pk,
            "queue": row.item.queue.slug,
            "queue_name": row.item.queue.name,
            "week": week_label(row.item.week),
            "questions": open_ties(row.resolution.automatic, row.resolution.adjudicated),
            "excerpt": row.excerpt,
        }
        for row in waiting
    ]


def _flag_agenda(project: Project, week: date) -> list[dict]:
    """Open flags on the items of the week and earlier ones, with the items' comments."""
    flags = list(
        Flag.objects.filter(item__project=project, item__week__lte=week, resolved_at__isnull=True)
        .select_related("item__queue", "item__output", "expert")
        .defer("item__output__input", "item__output__context", "item__output__metadata")
        .order_by("created_at", "pk")[:AGENDA_LIMIT]
    )
    comments: dict[int, list[dict]] = {}
    for comment in Comment.objects.filter(item_id__in={flag.item_id for flag in flags}).select_related("author"):
        comments.setdefault(comment.item_id, []).append(
            {
                "author": comment.author.username,
                "author_id": comment.author_id,  # names change: `blind_report` knows the reader's own by id
                "body": comment.body,
                "created_at": utc_moment(comment.created_at),
            }
        )
    return [
        {
            "flag_id": flag.pk,
            "item_id": flag.item_id,
            "queue": flag.item.queue.slug,
            "queue_name": flag.item.queue.name,
            "expert": flag.expert.username,
            "expert_id": flag.expert_id,
            "note": flag.note,
            "created_at": utc_moment(flag.created_at),
            "excerpt": excerpt(flag.item.output.output, FLAG_EXCERPT_CHARS),
            "comments": comments.get(flag.item_id, []),
        }
        for flag in flags
    ]


def _movers(project: Project, verdict_key: str | None, week: date) -> list[dict]:
    """Pass rate by output tag this week against last week: the biggest changes first."""
    if verdict_key is None:
        return []
    previous = week - timedelta(days=7)
    counts: dict[tuple[str, date], list[int]] = {}
    # The verdict's two entries as JSON text: a resolution holds every question's answers, only one is read.
    rows = (
        Item.objects.filter(project=project, week__in=[week, previous], resolution__isnull=False)
        .annotate(**gold_entries(verdict_key, resolution="resolution__"))
        .values_list("week", "output__tags", "auto", "decided")
        .order_by()
    )
    for row_week, tags, auto, decided in rows:
        verdict = gold_of_entries(auto, decided)
        if verdict is None:
            continue
        for tag in tags_of(tags):
            passes_n = counts.setdefault((tag, row_week), [0, 0])
            passes_n[0] += verdict is True
            passes_n[1] += 1
    movers = []
    for tag in {tag for tag, _ in counts}:
        now_counts, before = counts.get((tag, week)), counts.get((tag, previous))
        if not now_counts or not before or min(now_counts[1], before[1]) < MIN_ITEMS_TO_COMPARE:
            continue
        value, previous_value = now_counts[0] / now_counts[1], before[0] / before[1]
        movers.append(
            {
                "tag": tag,
                "value": value,
                "previous": previous_value,
                "change": value - previous_value,
                "n": now_counts[1],
                "previous_n": before[1],
            }
        )
    movers.sort(key=lambda mover: (-abs(mover["change"]), mover["tag"]))
    return movers[:MOVERS]
