"""What the meeting page and the dashboard show of a report or a trend: headline tiles and the quality chart."""

from datetime import date, timedelta, tzinfo

from labeling.metrics.agreement import MIN_UNITS, too_few_units
from labeling.reports import (
    FIRST_WEEK,
    NOT_COMPUTED,
    TOO_FEW_FOR_AGREEMENT,
    figures_not_computed,
    first_cohort_after,
    fmt_agreement,
    fmt_interval,
    fmt_percent,
    fmt_points,
    fmt_quota,
    fmt_retention,
    labels_so_far_compared,
    no_new_users,
    no_week1_retention_yet,
    retention_basis,
    retention_comparison_label,
    retention_comparison_sentences,
    too_few_to_compare,
    week1_partial,
)
from labeling.rules.explore import reads_as_verdict, week_query
from labeling.rules.gold import verdict_question
from labeling.rules.text import counted

from . import charts


def _change(value: float | int | None, *, unit: str) -> dict | None:
    """A change from last week, formatted, with its direction for styling."""
    if value is None:
        return None
    if unit == "points":
        text = fmt_points(value)
    elif unit == "count":
        text = f"{value:+d}"
    else:
        text = f"{value:+.3f}"
    return {"text": text, "direction": "up" if value > 0 else "down" if value < 0 else "flat"}


# How a figure's link says what explore counts: outputs, where the figures count items (one per queue). Its gold
# answers are written as the explore bar's verdict menu writes them (`<key>:true`, `<key>:false`), which shows them.
OUTPUTS_NOT_ITEMS = "explore lists outputs: one reviewed in two queues is one output there, failed if either failed"


def _explore_can_filter_by_verdict(report: dict, questions_now: list[dict] | None) -> bool:
    """Whether explore can filter by the gold answer to the week's verdict question (the one its report froze): the
    rubric asks it now as a yes/no question, or no longer asks it (explore's `gold=` reads an earlier version's verdict
    question in pass/fail words); not when the rubric asks the key now as another kind of question, which explore
    reads as the rubric asks it: explore's own rule, `rules.explore.reads_as_verdict`. None for `questions_now`: not
    known, taken as asked."""
    return questions_now is None or reads_as_verdict(report.get("verdict_question"), questions_now)


def _pass_rate_notes(report: dict, questions_now: list[dict] | None, *, links: bool) -> list[str]:
    """What the pass-rate tile says of its links where their count can differ from the figure's: explore counts
    outputs, the figure items (one per queue), so two queues answering the verdict question can tell them apart; and
    no link when the rubric asks the week's question now as another kind of question (explore would refuse it)."""
    key = report.get("verdict_question")
    if not key:
        return []
    if not _explore_can_filter_by_verdict(report, questions_now):
        return [
            f"No link into explore: the rubric asks “{key}” now as another kind of question than yes/no, and "
            "explore reads it as the rubric asks it now."
        ]
    queues = {row.get("queue") for row in report.get("quality") or [] if row.get("question") == key and row.get("n")}
    if not links or len(queues) < 2:
        return []
    return [
        f"Explore counts outputs, this figure items: {counted(len(queues), 'queue')} answered “{key}” this week, so an "
        "output reviewed in two of them is one output there, failed if either failed."
    ]


def _disagreement_notes(report: dict, alpha: dict | None, questions_now: list[dict] | None) -> list[str]:
    """What the agreement tile says when explore's disagreement filter, which reads the verdict question the rubric
    asks now, reads another than the figure (the week's, frozen in its report): a rubric change since."""
    key = (alpha or {}).get("question") or report.get("verdict_question")
    if questions_now is None or not key or not alpha or not alpha.get("units"):
        return []
    now = (verdict_question(questions_now) or {}).get("key")
    if now is None:
        return [
            "No link into explore: its disagreement filter reads the rubric's verdict question, and it has none now."
        ]
    if now != key:
        return [f"Its link finds disagreement on the rubric's verdict question now, “{now}”, not “{key}” as this "
                "figure does."]  # fmt: skip
    return []


def _explore_link(key: str, text: str, query: str, title: str) -> dict:
    """A link from a figure to the explore page filtered to the outputs behind it (`rules.explore.week_query`)."""
    return {"key": key, "text": text, "query": query, "title": title}


def _pass_rate_links(report: dict, *, blind: bool) -> list[dict]:
    """The week's passed and failed outputs on the verdict question; none for an expert, who labels blind."""
    key = report.get("verdict_question")
    if blind or not key:
        return []
    week_start = date.fromisoformat(report["week_start"])
    return [
        _explore_link(
            verdict,
            text,
            week_query(week_start, gold=((key, answer),)),
            f"The week's outputs whose gold answer to “{key}” is {verdict}, in explore ({OUTPUTS_NOT_ITEMS}).",
        )
        for verdict, answer, text in (("pass", "true", "Passed outputs"), ("fail", "false", "Failed outputs"))
    ]


def _disagreement_links(
    report: dict, alpha: dict | None, *, blind: bool, questions_now: list[dict] | None = None
) -> list[dict]:
    """The week's outputs the experts disagreed on (on the verdict question the rubric asks now: the figure's unless a
    rubric change since, `_disagreement_notes`); none for an expert, who labels blind, before any item has two labels,
    nor when the rubric has no verdict question now (explore would refuse the filter)."""
    key = report.get("verdict_question")
    if blind or not key or not alpha or not alpha.get("units"):
        return []
    if questions_now is not None and verdict_question(questions_now) is None:
        return []
    return [
        _explore_link(
            "disagree",
            "Outputs the experts disagreed on",
            week_query(date.fromisoformat(report["week_start"]), disagree=True),
            f"The week's outputs with an item whose labels do not all give the same answer to “{key}”, in explore "
            "(each output once: the figure counts items).",
        )
    ]


def mover_links(
    movers: list[dict], report: dict, *, blind: bool, questions_now: list[dict] | None = None
) -> list[dict]:
    """The biggest movers by tag, each with `explore_query`: the week's failed outputs with its tag (none for an
    expert, who labels blind, nor when `_explore_can_filter_by_verdict` says explore cannot filter by the week's
    verdict question)."""
    key = report.get("verdict_question")
    if blind or not key or not _explore_can_filter_by_verdict(report, questions_now):
        return movers
    week_start = date.fromisoformat(report["week_start"])
    return [
        mover | {"explore_query": week_query(week_start, tags=(mover["tag"],), gold=((key, "false"),))}
        for mover in movers
    ]


def headline_tiles(
    report: dict,
    *,
    blind: bool = False,
    explore: bool = True,
    zone: tzinfo | None = None,
    questions_now: list[dict] | None = None,
) -> list[dict]:
    """The headline figures as tiles: value, what it is made of, the change from last week, and links to the outputs
    behind the figure in explore (`blind`: an expert's tiles, without links to gold answers; not `explore`: a reader
    the project keeps out of explore, `rules.access.may_explore`, gets no link at all), with `notes` where a link's
    count can differ from the figure's. `questions_now`: the current rubric's questions, which explore's filters read
    (a closed week's figures read the questions of its report)."""
    headline = report.get("headline") or {}
    tiles = []
    # An open week never computed: its empty tiles and zeros are no figures, each says so instead of "no activity".
    not_computed = f"Figures {NOT_COMPUTED}." if figures_not_computed(report) else None
    # The project's first week: no tile compares with the week before it (which was not the project's).
    first_week = FIRST_WEEK if (headline.get("labels") or {}).get("first_week") else None
    pass_rate = headline.get("pass_rate")
    # Without a figure this week the headline keeps none of last week's either; the trend has it.
    previous_pass_rate = fmt_percent(pass_rate.get("previous")) if pass_rate else _trend_value_before(report)
    filterable = _explore_can_filter_by_verdict(report, questions_now)
    pass_rate_links = _pass_rate_links(report, blind=blind) if pass_rate and explore and filterable else []
    tiles.append(
        {
            "key": "pass-rate",
            "label": f"Pass rate ({report.get('verdict_question') or 'no verdict question'})",
            "value": fmt_percent(pass_rate["value"]) if pass_rate else "—",
            "detail": (
                f"{pass_rate['passes']} of {counted(pass_rate['n'], 'item')} · 95% interval "
                f"{fmt_percent(pass_rate['ci_low'])}–{fmt_percent(pass_rate['ci_high'])}"
            )
            if pass_rate
            else not_computed or "No gold answers yet this week.",
            "change": _change(pass_rate.get("change"), unit="points") if pass_rate else None,
            "previous": None if first_week else previous_pass_rate,
            "compared": (too_few_to_compare(pass_rate.get("n", 0), pass_rate) if pass_rate else None) or first_week,
            "measured": pass_rate is not None,
            "links": pass_rate_links,
            "notes": _pass_rate_notes(report, questions_now, links=bool(pass_rate_links))
            if pass_rate and explore and not blind
            else [],
        }
    )
    alpha = headline.get("alpha")
    tiles.append(
        {
            "key": "alpha",
            "label": "Agreement (Krippendorff's α)",
            "value": fmt_agreement(alpha.get("value"), alpha.get("units", 0)) if alpha else "—",
            "detail": f"{alpha.get('question')} · {counted(alpha.get('units', 0), 'item')} with two labels or more"
            + (f": {TOO_FEW_FOR_AGREEMENT} ({MIN_UNITS} needed)" if too_few_units(alpha.get("units", 0)) else "")
            if alpha
            else not_computed or "No item has two labels yet.",
            "change": _change(alpha.get("change"), unit="decimal") if alpha else None,
            "previous": None if not alpha or alpha.get("previous") is None else f"{alpha['previous']:.3f}",
            "compared": (too_few_to_compare(alpha.get("units", 0), alpha) if alpha else None) or first_week,
            "measured": alpha is not None,
            "links": _disagreement_links(report, alpha, blind=blind, questions_now=questions_now) if explore else [],
            "notes": _disagreement_notes(report, alpha, questions_now) if explore and not blind else [],
        }
    )
    labels = headline.get("labels") or {}
    labels_not_computed = labels.get("not_computed")
    tiles.append(
        {
            "key": "labels",
            "label": "Labels done",
            "value": "—" if labels_not_computed else f"{labels.get('done', 0)} / {labels.get('wanted', 0)}",
            "detail": not_computed
            if labels_not_computed
            else f"on {counted(labels.get('items', 0), 'item')} · {fmt_quota(labels)}",
            "change": _change(labels.get("change"), unit="count") if labels else None,
            "previous": str(labels["previous_done"]) if "previous_done" in labels else None,
            "compared": _labels_compared(labels, first_week),
            "links": [
                _explore_link(
                    "labeled",
                    "Labeled outputs",
                    week_query(date.fromisoformat(report["week_start"]), labeled=True),
                    "The week's outputs an expert has labeled, in explore (each output once: the tile counts labels).",
                )
            ]
            if explore and labels.get("done") and not labels_not_computed
            else [],
        }
    )
    # No explore link on the retention tiles: explore has no filter for a cohort (the end users first seen in a week),
    # and the rows that know it (RetentionUser) are PostgreSQL-only and as of the last refresh, not the frozen tile.
    retention = headline.get("retention_week1")
    before_first = first_cohort_after(report, retention)
    empty = None if before_first else no_new_users(retention)
    partial = None if before_first or empty else week1_partial(retention, zone)  # `zone`: the week's, as report.md's
    tiles.append(
        {
            "key": "retention",
            "label": "Week-1 retention, pass vs fail",
            "value": f"{fmt_retention(retention['pass'])} vs {fmt_retention(retention['fail'])}"
            f"{' so far' if partial else ''}"
            if retention and not empty
            else "—",
            "detail": empty
            or (
                f"cohort {retention['cohort_week']}: pass {retention_basis(retention['pass'])}, "
                f"fail {retention_basis(retention['fail'])}, all {fmt_retention(retention['all'])} "
                f"({retention_basis(retention['all'])}){f'; {partial}' if partial else ''}"
            )
            if retention and not before_first
            else no_week1_retention_yet(retention, before_first)
            if before_first
            else not_computed or "No end-user activity yet.",
            "change": None,
            "previous": _previous_all(retention, "all")
            if retention and retention.get("previous_all") and not before_first
            else None,
            "measured": not before_first,
        }
    )
    comparison = retention.get("comparison") if retention and not before_first else None
    if comparison:
        tiles.append(_retention_comparison_tile(retention, comparison, partial=partial, empty=empty))
    return tiles


def _labels_compared(labels: dict, first_week: str | None) -> str | None:
    """What the labels tile sets this week's against: the running week's last week by the same moment ("so far", but
    not beside figures never computed), else the first week's note."""
    if "previous_by_now" not in labels:
        return first_week
    compared = labels_so_far_compared(labels)
    return compared if labels.get("not_computed") else f"so far; {compared}"


def _trend_value_before(report: dict) -> str | None:
    """Last week's pooled pass rate from the report's trend, formatted (None when it had none)."""
    last_week = (date.fromisoformat(report["week_start"]) - timedelta(days=7)).isoformat()
    point = next((point for point in report.get("pass_rate_trend") or [] if point["week_start"] == last_week), None)
    return fmt_percent(point["value"]) if point and point["value"] is not None else None


def _retention_comparison_tile(retention: dict, comparison: dict, *, partial: str | None, empty: str | None) -> dict:
    """Week-1 retention of this week's cohort with its interval, against the reference and the last cohorts (none
    while it is `partial`: `week1_partial`)."""
    cohort = comparison["cohort"]
    measured = cohort.get("rate") is not None
    counts = (
        f"cohort {retention['cohort_week']}: {retention_basis(cohort)} · {fmt_interval(cohort)}"
        if measured
        else empty or f"cohort {retention['cohort_week']} has no users yet"
    )
    return {
        "key": "retention-comparison",
        "label": retention_comparison_label(comparison),
        "value": f"{fmt_retention(cohort)} so far" if partial and measured else fmt_retention(cohort),
        "detail": " · ".join(
            [counts, *(retention_comparison_sentences(comparison, partial=partial) if measured else [])]
        ),
        "change": None,
        "previous": _previous_all(retention) if retention.get("previous_all") else None,
    }


def _previous_all(retention: dict, segment: str | None = None) -> str:
    """Last week's cohort's week-1 retention, all users: "20.0% (2 of 10 users, all)"."""
    previous = retention["previous_all"]
    return f"{fmt_retention(previous)} ({retention_basis(previous)}{f', {segment}' if segment else ''})"


def quality_chart(question: str | None, kind: str | None, trend: list[dict], questions: list[dict]):
    """The trend of the question the dashboard shows: pass rate, mean rating, or why there is none."""
    if question is None:
        return charts.line_chart(name="quality", title="Quality by week", points=[],
                                 empty_message="The rubric has no question yet.")  # fmt: skip
    if kind == "binary":
        return charts.pass_rate_chart(trend, title=f"Pass rate of “{question}” by week")
    if kind == "rating":
        scale = next((q.get("scale") for q in questions if q["key"] == question), None) or [0, 1]
        points = [
            {
                "x": p["week"],
                "value": p["value"],
                "low": p["ci_low"],
                "high": p["ci_high"],
                "detail": f"n = {p['n']}"
                + (" · asked on another scale from here" if p.get("scale_changed") else "")
                + (f" · {p['note']}" if p.get("note") else ""),
                "break_before": bool(p.get("scale_changed")),
                "provisional": bool(p.get("provisional")),
            }
            for p in trend
        ]
        return charts.line_chart(
            name="quality",
            title=f"Mean rating of “{question}” by week",
            points=points,
            fmt="decimal",
            y_range=(float(scale[0]), float(scale[1])),
            empty_message="No ratings yet in this range.",
        )
    return charts.line_chart(
        name="quality", title=f"“{question}” by week", points=[],
        empty_message="This question has no trend chart: pick a yes/no or rating question.",
    )  # fmt: skip
