"""Reads behind the metrics API: the stored weekly metric rows as plain dicts, per queue, expert and cell.

The week range is `selectors.metrics.week_range`, shared with the dashboards; a week's report is
`selectors.report.report_of_week`, shared with the meeting page.

Rows come from the metric tables a week's close wrote (labeling/models/metrics.py), never from labels; a week not
closed yet has the rows a refresh wrote, and each row says which (`week_status`: "closed" or "open").
Every function takes an already authorised project and runs a fixed number of queries (named in its
docstring), whatever the number of weeks, queues, questions or experts.
"""

from datetime import date, timedelta

from django.contrib.auth import get_user_model

from labeling.exceptions import InvalidInput
from labeling.metrics.agreement import too_few_gold_items, too_few_units
from labeling.metrics.retention import MEASURES, mean_curves
from labeling.models import (
    AgreementMetric,
    ExpertWeek,
    Project,
    Queue,
    QueueWeek,
    RetentionCell,
    RetentionSegment,
    gold_items_of,
    week_label,
)

from .management import project_queues
from .metrics import WeekRange, pooled_trend, week_closed, week_status
from .rubrics import question_kinds

SEGMENTS = tuple(RetentionSegment.values)


def queue_of_project(project: Project, slug: str) -> Queue:
    """The project's queue with this slug, else InvalidInput listing the project's queues (one query)."""
    queues = {queue.slug: queue for queue in sorted(project_queues(project), key=lambda queue: queue.slug)}
    if slug not in queues:
        known = ", ".join(queues) or "none yet"
        raise InvalidInput(f"Unknown queue {slug!r}. This project's queues: {known}.")
    return queues[slug]


def question_of_project(project: Project, key: str, *, measured: tuple[str, ...] | None, metric: str) -> str:
    """The key, if a version of the project's rubric asked it as a kind the metric is computed for (`measured`;
    None: any kind), else InvalidInput listing the keys that are (one query): a text question's quality rows are
    never there, and an empty answer read as "nothing labeled yet"."""
    kinds = question_kinds(project)
    measurable = sorted(question for question, asked in kinds.items() if measured is None or asked & set(measured))
    if key not in kinds:
        known = ", ".join(sorted(kinds)) or "none yet"
        raise InvalidInput(f"Unknown question {key!r}. This project's rubric questions: {known}.")
    if key not in measurable:
        asked = " or ".join(sorted(kinds[key]))
        raise InvalidInput(
            f"{key!r} is a {asked} question: {metric} is computed for {', '.join(measured)} questions only. "
            f"This project's: {', '.join(measurable) or 'none yet'}."
        )
    return key


def _week_fields(week: date, closed: bool) -> dict:
    """A row's week, and whether its close froze it (`closed`, annotated by `week_closed`)."""
    return {"week": week_label(week), "week_start": week, "week_status": week_status(closed)}


# The kinds a pooled figure exists for: a pass rate and a mean rating (a choice's shares are not pooled).
POOLED_KINDS = ("binary", "rating")


def pooled_quality_rows(rows: list[dict], *, weeks: WeekRange) -> list[dict]:
    """The quality rows (`quality_series`) pooled over the queues, a row per week and yes/no or rating question with
    `queue` null: the meeting's headline pass rate is the week's row of the verdict question, pooled by the same rule
    (`pooled_trend`). Ordered by week and question; no query."""
    sources = {(row["week"], row["question"]): row for row in rows if row["n"]}
    pooled = []
    for question in sorted({row["question"] for row in rows if row["kind"] in POOLED_KINDS}):
        for point in pooled_trend(rows, question=question, weeks=weeks):
            source = sources.get((point["week"], question))
            if source is None or source["kind"] not in POOLED_KINDS:
                continue
            pooled.append(
                {
                    **{key: source[key] for key in ("week", "week_start", "week_status")},
                    "queue": None,
                    "queue_name": None,
                    "question": question,
                    "kind": source["kind"],
                    **{key: point[key] for key in ("n", "passes", "value", "ci_low", "ci_high")},
                    "shares": {},
                    "scale": source["scale"],
                }
            )
    return sorted(pooled, key=lambda row: (row["week_start"], row["question"]))


def agreement_rows(*, project: Project, weeks: WeekRange, question: str | None = None) -> list[dict]:
    """Agreement per week and question, pairs naming experts by username (two queries, one without pairs)."""
    rows = AgreementMetric.objects.filter(project=project, week__range=(weeks.first, weeks.last))
    if question is not None:
        rows = rows.filter(question=question)
    rows = list(rows.order_by("week", "question").annotate(closed=week_closed()))
    user_ids = {pair[side] for row in rows for pair in row.pairs for side in ("a", "b")}
    names = _usernames(user_ids)
    return [
        {
            **_week_fields(row.week, row.closed),
            "question": row.question,
            "kind": row.kind,
            "level": row.level,
            "alpha": row.alpha,
            "alpha_interval": row.alpha_interval,
            "alpha_at_interval_level": row.alpha_interval,
            "fleiss_kappa": row.fleiss_kappa,
            "cohen_kappa": row.cohen_kappa,
            "pairs": [
                {"a": names.get(pair["a"]), "b": names.get(pair["b"]), "kappa": pair.get("kappa"), "n": pair.get("n")}
                for pair in row.pairs
            ],
            "units": row.units,
            "too_few_items": too_few_units(row.units),
            "labels": row.labels,
            "experts": row.experts,
        }
        for row in rows
    ]


def _usernames(user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    return dict(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username"))


def expert_gold_rows(*, project: Project, weeks: WeekRange, question: str | None = None) -> list[dict]:
    """Each expert's agreement with the gold answers per week, by question (one query).

    With `question`, only that question counts and experts never compared on it are left out.
    """
    rows = ExpertWeek.objects.filter(project=project, week__range=(weeks.first, weeks.last))
    result = []
    for row in (
        rows.order_by("week", "expert__username")
        .annotate(closed=week_closed())
        .values("week", "expert__username", "gold_rate", "gold_agreement", "closed")
    ):
        by_question = row["gold_agreement"] or {}
        if question is not None:
            if question not in by_question:
                continue
            by_question = {question: by_question[question]}
        agree = sum(counts.get("agree", 0) for counts in by_question.values())
        compared = sum(counts.get("compared", 0) for counts in by_question.values())
        # The stored rate is the whole week's; narrowed to one question it is recomputed from the counts.
        rate = row["gold_rate"] if question is None else (agree / compared if compared else None)
        items = gold_items_of(by_question)
        result.append(
            {
                **_week_fields(row["week"], row["closed"]),
                "expert": row["expert__username"],
                "gold_rate": rate,
                "agree": agree,
                "compared": compared,
                "items": items,
                "too_few_items": too_few_gold_items(items),
                "questions": {
                    key: {
                        "agree": counts.get("agree", 0),
                        "compared": counts.get("compared", 0),
                        "rate": counts.get("agree", 0) / counts["compared"] if counts.get("compared") else None,
                    }
                    for key, counts in sorted(by_question.items())
                },
            }
        )
    return result


def queue_week_rows(*, project: Project, weeks: WeekRange, queue: Queue | None = None) -> list[dict]:
    """Throughput per week and queue, ordered so (one query)."""
    rows = QueueWeek.objects.filter(project=project, week__range=(weeks.first, weeks.last))
    if queue is not None:
        rows = rows.filter(queue=queue)
    fields = ("quota", "items", "items_complete", "labels", "labels_wanted", "backlog", "median_seconds")
    return [
        {**_week_fields(row["week"], row["closed"]), "queue": row["queue__slug"], "queue_name": row["queue__name"]}
        | {key: row[key] for key in fields}
        for row in rows.order_by("week", "queue__slug")
        .annotate(closed=week_closed())
        .values("week", "queue__slug", "queue__name", "closed", *fields)
    ]


def expert_week_rows(*, project: Project, weeks: WeekRange) -> list[dict]:
    """Throughput per week and expert, ordered by week and username (one query)."""
    rows = ExpertWeek.objects.filter(project=project, week__range=(weeks.first, weeks.last))
    fields = ("labels", "skips", "flags", "median_seconds")
    return [
        {**_week_fields(row["week"], row["closed"]), "expert": row["expert__username"]}
        | {key: row[key] for key in fields}
        for row in rows.order_by("week", "expert__username")
        .annotate(closed=week_closed())
        .values("week", "expert__username", "closed", *fields)
    ]


def retention_cells(*, project: Project, weeks: WeekRange, segment: str | None = None) -> list[dict]:
    """The cohort grid of the cohorts first active in `weeks`, with rates beside the counts (one query).

    Ordered by segment ("all", "pass", "fail"), cohort week and offset.
    """
    if segment is not None and segment not in SEGMENTS:
        raise InvalidInput(f"Unknown segment {segment!r}: use one of {', '.join(SEGMENTS)}.")
    rows = RetentionCell.objects.filter(project=project, cohort_week__range=(weeks.first, weeks.last))
    if segment is not None:
        rows = rows.filter(segment=segment)
    fields = ("segment", "cohort_week", "offset", "cohort_users", "active_on", "active_on_or_after", "incomplete")
    # Tuples, sorted before any dict is built: a long range has 16k cells, and each step here runs per cell.
    order = {name: index for index, name in enumerate(SEGMENTS)}
    found = sorted(rows.values_list(*fields), key=lambda row: (order[row[0]], row[1], row[2]))
    labels = {week: week_label(week) for week in {row[1] for row in found}}
    # The week each cell counts activity in, as a label: `to` bounds the cohorts, and their cells run on past it.
    activity = {
        (week, offset): week_label(week + timedelta(weeks=offset)) for week, offset in {row[1:3] for row in found}
    }
    # Keys in the API's order (RetentionCellOut), so the API copies each cell without reordering it.
    return [
        {
            "segment": cell_segment,
            "cohort": labels[cohort_week],
            "cohort_week": cohort_week,
            "offset": offset,
            "activity_week": activity[cohort_week, offset],
            "cohort_users": users,
            "active_on": active_on,
            "active_on_or_after": on_or_after,
            "rate": active_on / users if users else None,
            "rate_on_or_after": on_or_after / users if users else None,
            "incomplete": incomplete,
        }
        for cell_segment, cohort_week, offset, users, active_on, on_or_after, incomplete in found
    ]


def retention_curves(
    cells: list[dict], *, weeks: WeekRange, segments: tuple[str, ...] = SEGMENTS, measure: str = "active_on"
) -> dict[str, list[dict]]:
    """Per segment, the cohort-size-weighted mean at each offset over the complete cells (no query).

    Each point: {"offset", "rate", "returned", "users", "cohorts"}; offsets run from 0 to the largest
    complete one, so a curve never ends on a week still running.
    """
    if measure not in MEASURES:
        raise InvalidInput(f"Unknown measure {measure!r}: use one of {', '.join(MEASURES)}.")
    return mean_curves(cells, segments=segments, measure=measure, first_cohort=weeks.first, last_cohort=weeks.last)
