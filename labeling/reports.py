"""The weekly report as Markdown: a pure function of the report dict and the meeting's decisions.

Every value that comes from people or the AI (output excerpts, flag notes, comments, decisions, tags,
names) goes through `md_text`, which flattens it to one line and backslash-escapes Markdown and HTML
syntax, so a rendered export shows the text as written and never runs or formats it. It also drops the
directional formatting characters (a right-to-left override, U+202E, …): in a file read in any editor or
viewer they would reverse the report's own words after the value.
"""

import re
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo

from labeling.metrics.agreement import MIN_GOLD_ITEMS, MIN_UNITS, too_few_gold_items, too_few_units
from labeling.metrics.retention import too_few_users
from labeling.notices import rubric_published_text
from labeling.rules.text import DIRECTIONAL_FORMATTING, counted, listed

# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that can start markup
# mid-line (emphasis, code, links, images, raw HTML, entities, tables, strikethrough, headings).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&$])")
_WHITESPACE = re.compile(r"\s+")
_WITHOUT_DIRECTIONAL_FORMATTING = dict.fromkeys(map(ord, DIRECTIONAL_FORMATTING))  # str.translate drops them
HIDDEN_UNTIL_LABELED = "hidden until you have labeled it"  # an expert's copy: blind labeling (`blind_report`)


def with_stop(text: str) -> str:
    """The text as a sentence: a full stop added unless it ends in one already, or in ? ! or …."""
    return text if text.rstrip().endswith((".", "?", "!", "…")) else f"{text}."


def md_strong(words: str) -> str:
    """Return Markdown words (already inert) in bold."""
    return f"**{words}**"


def md_text(value: object) -> str:
    """Return `value` as one line of inert Markdown text."""
    text = "" if value is None else str(value).translate(_WITHOUT_DIRECTIONAL_FORMATTING)
    text = _WHITESPACE.sub(" ", text).strip()
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _comments_hidden(count: int) -> str:
    return f"{count} comment{'s' if count != 1 else ''} by others {HIDDEN_UNTIL_LABELED}"


def fmt_percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def fmt_decimal(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


TOO_FEW_FOR_AGREEMENT = "too few for an agreement figure"


def fmt_agreement(value: float | None, units: int) -> str:
    """An agreement figure over `units` items with two labels: "—" when they are too few for it to mean anything."""
    return "—" if too_few_units(units) else fmt_decimal(value)


def agreement_basis(units: int) -> str:
    """What an agreement stands on: "12 items", or "1 item: too few for an agreement figure" under the minimum."""
    return counted(units, "item") + (f": {TOO_FEW_FOR_AGREEMENT}" if too_few_units(units) else "")


def gold_too_few(items: int) -> str | None:
    """Why an expert's agreement with the gold answers is no figure ("2 items: too few for a gold agreement figure
    (5 needed)"), or None when it stands on enough items."""
    if not too_few_gold_items(items):
        return None
    return f"{counted(items, 'item')}: too few for a gold agreement figure ({MIN_GOLD_ITEMS} needed)"


def fmt_points(change: float | None) -> str:
    """A change in a rate, in percentage points."""
    return "—" if change is None else f"{change * 100:+.1f} pts"


def fmt_signed(change: float | int | None, decimals: int = 3) -> str:
    if change is None:
        return "—"
    return f"{change:+d}" if isinstance(change, int) else f"{change:+.{decimals}f}"


TOO_FEW_USERS = "too few users"


def fmt_retention(cell: dict) -> str:
    """A retention rate ({"rate", "users", …}): "too few users" when they are too few for it to mean anything."""
    if cell.get("rate") is not None and too_few_users(cell.get("users", 0)):
        return TOO_FEW_USERS
    return fmt_percent(cell.get("rate"))


def retention_basis(cell: dict) -> str:
    """Whom a retention rate counts: "3 of 40 users", "1 of 1 user"."""
    return f"{cell.get('returned', 0)} of {counted(cell.get('users', 0), 'user')}"


def _rate(cell: dict | None) -> str:
    """A retention rate with the user counts beside it: "25.0% (10 of 40 users)", "too few users (1 of 1 user)"."""
    if not cell:
        return "—"
    return f"{fmt_retention(cell)} ({retention_basis(cell)})"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def fmt_interval(figure: dict) -> str:
    """A rate's 95% interval ("95% interval 25.1%–38.0%")."""
    return f"95% interval {fmt_percent(figure.get('ci_low'))}–{fmt_percent(figure.get('ci_high'))}"


def week1_partial(retention: dict | None, zone: tzinfo | None = None) -> str | None:
    """Why the headline cohort's week-1 retention is no final figure, "so far: its week 1 runs until 2026-12-14 00:00
    CET", or None when it is final. Its week 1 is the report's week: while it runs (or as stored before it ended) the
    figure counts only the returns so far, and is compared with no complete cohort. A report frozen before `complete`
    existed was frozen after its week ended, with its figures final."""
    if not retention or retention.get("complete", True):
        return None
    ends = _moment_text(retention.get("ends_at"), zone)
    return f"so far: its week 1 runs until {ends}" if ends else "so far: its week 1 is not over"


def retention_comparison_label(comparison: dict) -> str:
    """What this cohort's week-1 retention is compared with: the reference (when set) and the last cohorts."""
    return "Week-1 retention vs reference" if comparison.get("reference") else "Week-1 retention vs last cohorts"


def retention_comparison_sentences(
    comparison: dict, text: Callable[[object], str] = str, *, partial: str | None = None
) -> list[str]:
    """This week's cohort's week-1 retention against the reference and the last cohorts' mean, a sentence each.

    "Above" / "below": the cohort's whole 95% interval is; "within": the value lies inside it, no clear
    difference. `text` renders the lead's source text (`md_text` for Markdown; the web page autoescapes).
    Over fewer than MIN_USERS users there is no rate to compare, as the retention chart draws none: a cohort that
    small is compared with nothing, and the last cohorts' mean, which pools their users as the chart's curves pool
    cohorts (so a cohort of one weighs one user), is no figure while those users in all are too few.
    """

    def sentence(verdict: str | None, what: str) -> str:
        if verdict == "within":
            return f"{what[0].upper()}{what[1:]} lies within this interval: no clear difference."
        if verdict in ("above", "below"):
            return f"{verdict.capitalize()} {what}."
        return f"Not compared with {what}."

    cohort = comparison.get("cohort") or {}
    if partial:  # `week1_partial`: a figure still moving set against final ones would read as a verdict
        return [f"A partial figure, {partial}: not compared with complete cohorts until then."]
    if cohort.get("rate") is not None and too_few_users(cohort.get("users", 0)):
        return [f"Not compared: {TOO_FEW_USERS} in this cohort."]
    sentences = []
    reference = comparison.get("reference")
    if reference:
        source = f" ({text(reference['source'])})" if reference.get("source") else ""
        if reference.get("rate") is None:
            sentences.append(f"The reference{source} gives no week-1 rate.")
        else:
            sentences.append(
                sentence(reference.get("verdict"), f"the reference {fmt_percent(reference['rate'])}{source}")
            )
    past = comparison.get("past")
    if past and past.get("rate") is not None:
        cohorts = "cohort" if past["cohorts"] == 1 else f"{past['cohorts']} cohorts"
        if too_few_users(past.get("users", 0)):
            sentences.append(f"Not compared with the mean of the last {cohorts}, {_rate(past)}.")
        else:
            rate = f"{fmt_percent(past['rate'])} ({retention_basis(past)}, {fmt_interval(past)})"
            sentences.append(sentence(past.get("verdict"), f"the mean of the last {cohorts}, {rate}"))
    return sentences


def fmt_quota(labels: dict) -> str:
    """A report's quota as the headline says it: "quota 60 items in 2 of 3 queues (52 placed there)" when only some
    queues have one, "quota 20 items" when all do, "no quota" when none does (or, in a report frozen before the
    queues were counted, when one had none)."""
    quota = labels.get("quota")
    if quota is None:
        return "no quota"
    queues, with_quota = labels.get("queues"), labels.get("queues_with_quota")
    if queues is None or with_quota is None or with_quota >= queues:
        return f"quota {counted(quota, 'item')}"
    placed = labels.get("items_in_quota_queues", 0)
    return f"quota {counted(quota, 'item')} in {with_quota} of {counted(queues, 'queue')} ({placed} placed there)"


FIRST_WEEK = "first week of the project: no earlier week to compare with"
NOT_COMPUTED = "not computed yet"


def figures_not_computed(report: dict) -> bool:
    """Whether an open report's figures were never computed (no refresh recorded, no rows stored): its zeros and
    empty tiles are no figures, and every reader says "not computed yet" instead."""
    return (report.get("freshness") or {}).get("computed") is False


def figures_as_of(freshness: dict) -> str | None:
    """When an open week's figures were last computed, "2026-12-01 09:05" in the project's time zone (None: never)."""
    try:
        return f"{datetime.fromisoformat(freshness['refreshed_at']):%Y-%m-%d %H:%M}"
    except (KeyError, TypeError, ValueError):
        return None


def labels_left_out(freshness: dict) -> str | None:
    """The stale-figures warning of an open week, the page's and report.md's: the labels saved since its figures were
    computed, "6 labels saved this week, and no finished computation of these figures is recorded" without one (None
    when nothing was saved since)."""
    saved = freshness.get("labels_since") or 0
    if not saved:
        return None
    since = (
        "since these figures were computed"
        if figures_as_of(freshness)
        else "this week, and no finished computation of these figures is recorded"
    )
    return f"{counted(saved, 'label')} saved {since}"


def too_few_to_compare(units: int, figure: dict) -> str | None:
    """Why a headline figure has no change from last week when a side had too few items (None when it has one)."""
    if not figure.get("too_few_to_compare"):
        return None
    return f"too few items to compare ({units} this week, {figure.get('previous_units', 0)} last week)"


def first_cohort(report: dict) -> dict | None:
    """The report's first cohort of end users ({"cohort_week", "users"}; its cohorts run oldest first), or None."""
    return next(iter((report.get("retention") or {}).get("cohorts") or []), None)


def first_cohort_after(report: dict, retention: dict | None) -> dict | None:
    """The report's first cohort of end users when the week-1 headline's cohort came before it (a young project:
    nobody to measure yet, rather than "0 of 0 users"); None otherwise."""
    first = first_cohort(report)
    if not retention or not first or retention["all"]["users"]:
        return None
    return first if first["cohort_week"] > retention["cohort_week"] else None  # ISO week labels sort as weeks


def no_week1_retention_yet(retention: dict, first: dict) -> str:
    """The week-1 headline of a young project, whose cohort came before the first one: when it will have a figure.
    The meeting page's tile and report.md say it in these words."""
    return (
        f"No cohort in {retention['cohort_week']}: the first one ({first['cohort_week']}, "
        f"{counted(first['users'], 'user')}) has its week-1 retention once the week after it is over."
    )


def no_new_users(retention: dict | None) -> str | None:
    """Why the week-1 headline has no figure when its cohort is empty although cohorts came before it: every end user
    active that week had been seen before (a team using the tool each week), so there is nobody to measure, not yet
    and not later. None when the cohort has users. The meeting page's tiles and report.md say it in these words."""
    if not retention or retention["all"]["users"]:
        return None
    return (
        f"No new end users in {retention['cohort_week']} (all those active then had been seen before): "
        "no week-1 retention to measure."
    )


def first_cohort_running(first: dict) -> str:
    """Why there is no retention curve while the first cohort's week runs (curves are made of complete weeks only).
    The retention chart's empty message (meeting page, dashboard) and report.md say it in these words."""
    users = counted(first["users"], "user")
    return (
        f"First cohort ({first['cohort_week']}, {users}) still running: retention shows once its week is "
        "over, week-1 retention a week later."
    )


def labels_so_far_compared(labels: dict) -> str:
    """A running week's labels set against last week by the same moment: "last week by this time: 2 (132 in all)"."""
    return f"last week by this time: {labels['previous_by_now']} ({labels.get('previous_done', 0)} in all)"


def _headline(report: dict, zone: tzinfo | None = None) -> list[str]:
    headline = report.get("headline") or {}
    rows = []
    pass_rate = headline.get("pass_rate")
    if pass_rate:
        rows.append(
            [
                f"Pass rate ({md_text(report.get('verdict_question'))})",
                f"{fmt_percent(pass_rate.get('value'))} "
                f"({pass_rate.get('passes')} of {counted(pass_rate.get('n', 0), 'item')}; "
                f"95% interval {fmt_percent(pass_rate.get('ci_low'))} – {fmt_percent(pass_rate.get('ci_high'))})",
                fmt_percent(pass_rate.get("previous")),
                too_few_to_compare(pass_rate.get("n", 0), pass_rate) or fmt_points(pass_rate.get("change")),
            ]
        )
    alpha = headline.get("alpha")
    if alpha:
        units = alpha.get("units", 0)
        rows.append(
            [
                f"Agreement, Krippendorff's α ({md_text(alpha.get('question'))})",
                f"{fmt_agreement(alpha.get('value'), units)} ({agreement_basis(units)})",
                # The week before's item count is kept only when it was too few to compare with (else enough).
                fmt_agreement(alpha.get("previous"), alpha.get("previous_units", MIN_UNITS)),
                too_few_to_compare(alpha.get("units", 0), alpha) or fmt_signed(alpha.get("change")),
            ]
        )
    labels = headline.get("labels")
    if labels:
        so_far = "previous_by_now" in labels
        rows.append(
            [
                "Labels done (so far)" if so_far else "Labels done",
                NOT_COMPUTED
                if labels.get("not_computed")
                else f"{labels.get('done', 0)} of {labels.get('wanted', 0)} wanted "
                f"({counted(labels.get('items', 0), 'item')}; {fmt_quota(labels)})",
                labels_so_far_compared(labels)
                if so_far
                else FIRST_WEEK
                if labels.get("first_week")
                else str(labels.get("previous_done", "—")),
                fmt_signed(labels.get("change")),
            ]
        )
    retention = headline.get("retention_week1")
    before_first = first_cohort_after(report, retention)
    partial = week1_partial(retention, zone)
    so_far = f" ({md_text(partial)})" if partial else ""
    if before_first:
        rows.append(
            [
                f"Week-1 retention (cohort {md_text(retention.get('cohort_week'))})",
                no_week1_retention_yet(retention, before_first),
                "—",
                "—",
            ]
        )
    elif empty := no_new_users(retention):
        rows.append(
            [
                f"Week-1 retention (cohort {md_text(retention.get('cohort_week'))})",
                empty,
                _rate(retention.get("previous_all")),
                "—",
            ]
        )
    elif retention:
        rows.append(
            [
                f"Week-1 retention (cohort {md_text(retention.get('cohort_week'))})",
                f"pass: {_rate(retention.get('pass'))}; fail: {_rate(retention.get('fail'))}; "
                f"all: {_rate(retention.get('all'))}{so_far}",
                _rate(retention.get("previous_all")),
                "—",
            ]
        )
    comparison = (retention or {}).get("comparison") if not before_first else None
    if comparison and comparison["cohort"].get("rate") is not None:
        cohort = comparison["cohort"]
        rows.append(
            [
                f"{retention_comparison_label(comparison)} (cohort {md_text(retention.get('cohort_week'))})",
                f"{_rate(cohort)}; {fmt_interval(cohort)}. "
                + " ".join(retention_comparison_sentences(comparison, md_text, partial=md_text(partial) or None)),
                _rate(retention.get("previous_all")),
                "—",
            ]
        )
    if not rows:
        return ["No figures yet.", ""]
    return _table(["Figure", "This week", "Previous week", "Change"], rows)


def from_first_value(trend: list[dict]) -> list[dict]:
    """A trend's points from its first with a value: weeks before it (a product adopted with its history, whose
    outputs go back before its experts labeled) have nothing to draw or list. A trend without any value is kept
    whole, for its chart or table to say so; a week without a value later on stays, a gap."""
    first = next((n for n, point in enumerate(trend) if point.get("value") is not None), len(trend))
    return trend[first:] or trend


def trend_shown(report: dict) -> list[dict]:
    """The report's pass-rate trend as the meeting page and the Markdown show it (`from_first_value`). The report
    keeps every point, a frozen one as it froze them: a later close restates a point it holds
    (`selectors.report.with_final_trend_point`), so a week closed late gets its value in."""
    return from_first_value(report.get("pass_rate_trend") or [])


def _trend(report: dict) -> list[str]:
    trend = trend_shown(report)
    # A week without gold answers is a point without a value: a trend of such weeks only has nothing to show.
    if all(row.get("value") is None for row in trend):
        return ["No pass rate yet.", ""]
    rows = [
        [
            md_text(row.get("week")),
            fmt_percent(row.get("value")),
            f"{fmt_percent(row.get('ci_low'))} – {fmt_percent(row.get('ci_high'))}",
            str(row.get("n", 0)),
        ]
        for row in trend
    ]
    return _table(["Week", "Pass rate", "95% interval", "Items"], rows)


def _quality(report: dict) -> list[str]:
    rows = []
    for row in report.get("quality") or []:
        if row.get("kind") in ("choice", "multi_choice"):
            shares = row.get("shares") or {}
            value = ", ".join(
                f"{md_text(option)} {fmt_percent(share.get('share'))} ({share.get('count', 0)})"
                for option, share in shares.items()
            )
            interval = "—"
        else:
            is_rate = row.get("kind") == "binary"
            fmt = fmt_percent if is_rate else fmt_decimal
            value = fmt(row.get("value"))
            interval = f"{fmt(row.get('ci_low'))} – {fmt(row.get('ci_high'))}"
        rows.append([md_text(row.get("queue_name") or row.get("queue")), md_text(row.get("question")),
                     str(row.get("n", 0)), value or "—", interval])  # fmt: skip
    if not rows:
        return ["No quality figures yet.", ""]
    return _table(["Queue", "Question", "Items", "Value", "95% interval"], rows)


def _agreement(report: dict) -> list[str]:
    rows = [
        [
            md_text(row.get("question")),
            md_text(row.get("level")),
            *(
                fmt_agreement(row.get(figure), row.get("units", 0))
                for figure in ("alpha", "fleiss_kappa", "cohen_kappa")
            ),
            f"{row.get('units', 0)} (too few)" if too_few_units(row.get("units", 0)) else str(row.get("units", 0)),
            str(row.get("labels", 0)),
            str(row.get("experts", 0)),
        ]
        for row in report.get("agreement") or []
    ]
    if not rows:
        return ["No agreement figures yet (no item with two labels).", ""]
    return _table(["Question", "Level", "α", "Fleiss' κ", "Cohen's κ (mean)", "Items", "Labels", "Experts"], rows)


def _throughput(report: dict) -> list[str]:
    throughput = report.get("throughput") or {}
    queues = [
        [
            md_text(row.get("queue_name") or row.get("queue")),
            "—" if row.get("quota") is None else str(row["quota"]),
            str(row.get("items", 0)),
            str(row.get("items_complete", 0)),
            f"{row.get('labels', 0)} of {row.get('labels_wanted', 0)}",
            str(row.get("backlog", 0)),
        ]
        for row in throughput.get("queues") or []
    ]
    experts = [
        [
            md_text(row.get("expert")),
            str(row.get("labels", 0)),
            str(row.get("skips", 0)),
            str(row.get("flags", 0)),
            "—" if row.get("median_seconds") is None else f"{row['median_seconds']:.0f} s",
            (row.get("too_few_items") and gold_too_few(row.get("gold_items", 0)))
            or f"{fmt_percent(row.get('gold_rate'))} of {row.get('gold_compared', 0)}",
        ]
        for row in throughput.get("experts") or []
    ]
    lines = _table(["Queue", "Quota", "Items", "Complete", "Labels", "Backlog"], queues) if queues else []
    if experts:
        lines += _table(["Expert", "Labels", "Skips", "Flags", "Median time", "Agrees with gold"], experts)
    return lines or ["No labels yet.", ""]


def _retention(report: dict) -> list[str]:
    curves = (report.get("retention") or {}).get("curves") or {}
    offsets = sorted({cell["offset"] for cells in curves.values() for cell in cells or []})
    if not offsets:
        first = first_cohort(report)
        return [first_cohort_running(first) if first else "No retention figures yet.", ""]
    by_key = {key: {cell["offset"]: cell for cell in cells or []} for key, cells in curves.items()}
    rows = [[f"Week {offset}", *(_rate(by_key.get(key, {}).get(offset)) for key in ("all", "pass", "fail"))]
            for offset in offsets]  # fmt: skip
    headers = ["Since first visit", "All users", "Outputs labeled pass", "Outputs labeled fail"]
    reference = (report.get("retention") or {}).get("reference")
    if not reference or not reference.get("points"):
        return _table(headers, rows)
    # The lead's reference as a last column, at the weeks the table shows; the weeks past them in the note.
    expected = {point["week"]: point["rate"] for point in reference["points"]}
    for offset, row in zip(offsets, rows, strict=True):
        row.append(fmt_percent(expected[offset]) if offset in expected else "—")
    beyond = [f"week {week} {fmt_percent(rate)}" for week, rate in expected.items() if week not in offsets]
    note = f"Reference: {md_text(reference.get('source')) or 'no source given'}" + (
        f"; also {', '.join(beyond)}." if beyond else "."
    )
    return [*_table([*headers, "Reference"], rows), note, ""]


def _agenda(report: dict) -> list[str]:
    agenda = report.get("agenda") or {}
    lines = [f"### Needs adjudication ({len(agenda.get('adjudication') or [])})", ""]
    for row in agenda.get("adjudication") or []:
        ties = ", ".join(md_text(key) for key in row.get("questions") or []) or "marked by a lead"
        queue = md_text(row.get("queue_name") or row.get("queue"))  # a report frozen before names were kept: the slug
        lines.append(
            f"- Item {row.get('item_id')} ({queue}, {md_text(row.get('week'))}), "
            f"ties on: {ties}. Output: “{md_text(row.get('excerpt'))}”"
        )
    if not agenda.get("adjudication"):
        lines.append("Nothing waits for a decision.")
    lines += ["", f"### Flagged items ({len(agenda.get('flags') or [])})", ""]
    for flag in agenda.get("flags") or []:
        # An expert's copy leaves out others' names, notes and comments on items they have not labeled (`blind_report`).
        flagger = (
            f"another person (name {HIDDEN_UNTIL_LABELED})"
            if flag.get("expert_hidden")
            else md_text(flag.get("expert"))
        )
        note = f"(note {HIDDEN_UNTIL_LABELED})" if flag.get("note_hidden") else md_text(flag.get("note"))
        queue = md_text(flag.get("queue_name") or flag.get("queue"))
        lines.append(
            f"- Item {flag.get('item_id')} ({queue}), flagged by {flagger}: "
            f"{with_stop(note)} Output: “{md_text(flag.get('excerpt'))}”"
        )
        for comment in flag.get("comments") or []:
            lines.append(f"  - {md_text(comment.get('author'))}: {md_text(comment.get('body'))}")
        if flag.get("comments_hidden"):
            lines.append(f"  - {_comments_hidden(flag['comments_hidden'])}")
    if not agenda.get("flags"):
        lines.append("No open flags.")
    lines += ["", "### Biggest movers by tag", ""]
    movers = [
        [
            md_text(row.get("tag")),
            fmt_percent(row.get("value")),
            fmt_percent(row.get("previous")),
            fmt_points(row.get("change")),
            f"{row.get('n', 0)} / {row.get('previous_n', 0)}",
        ]
        for row in agenda.get("movers") or []
    ]
    lines += (
        _table(["Tag", "Pass rate", "Previous week", "Change", "Items (this / previous)"], movers)
        if movers
        else ["No tag moved (or no previous week to compare with).", ""]
    )
    return lines


def _changes(report: dict) -> list[str]:
    """What changed this week in all outputs and events: the significant changes, biggest first."""
    changes = report.get("changes") or []
    if not changes:
        return ["No significant change in volume, feedback, lengths or any slice against the weeks before.", ""]
    first = changes[0]
    note = (
        f"All outputs and usage events against the {first.get('baseline_weeks')} weeks before; significant after "
        f"Benjamini–Hochberg over {first.get('tests')} comparisons, biggest first."
    )
    rows = [
        [
            str(change.get("rank", index) + 1),
            md_text(change.get("sentence")),
            f"{change.get('q_value', 0):.2g}",
            md_text(change.get("test_name") or change.get("test")),
        ]
        for index, change in enumerate(changes)
    ]
    return [md_text(note), "", *_table(["#", "What changed", "q", "Test"], rows)]


def _themes(report: dict, min_failures: int | None = None) -> list[str]:
    """The week's failure themes: terms, size, share, three examples and the explore filter that opens them all
    (not in an expert's copy)."""
    themes = report.get("themes") or []
    if not themes:
        need = f"at least {min_failures} failing outputs" if min_failures else "more failing outputs"
        return [
            f"No failure themes: themes need {need} (gold fails on the verdict question, or thumbs-down where the "
            "experts gave no verdict).",
            "",
        ]
    failures, themed = themes[0].get("failures", 0), themes[0].get("themed", 0)
    intro = f"The week's {failures} failing outputs, grouped by what they say"
    intro += f" (themed on an evenly spread {themed} of them)." if themed < failures else "."
    # An expert's copy has neither examples nor filters (`selectors.themes.blind_themes`): no empty columns then.
    with_examples = "examples" in themes[0]
    headers = ["Theme", "Top terms", "Outputs", "Share"] + (["Examples", "Explore filter"] if with_examples else [])
    rows = []
    for theme in themes:
        row = [
            str(theme.get("rank")),
            ", ".join(md_text(term) for term in theme.get("terms") or []) or "—",
            str(theme.get("size", 0)),
            fmt_percent(theme.get("share")),
        ]
        if with_examples:
            examples = "; ".join(
                f"“{md_text(example.get('excerpt'))}” ({md_text(example.get('output'))})"
                for example in theme.get("examples") or []
            )
            row += [examples or "—", md_text(theme.get("explore_query"))]
        rows.append(row)
    return [intro, "", *_table(headers, rows)]


def _decisions(decisions: Sequence[dict]) -> list[str]:
    if not decisions:
        return ["No decisions recorded.", ""]
    lines = []
    for decision in decisions:
        details = []
        if decision.get("owner"):
            details.append(f"owner: {md_text(decision['owner'])}")
        if decision.get("due_date"):
            overdue = ", overdue" if decision.get("overdue") else ""
            details.append(f"due {md_text(decision['due_date'])}{overdue}")
        if decision.get("item_id"):
            details.append(f"item {decision['item_id']}")
        if decision.get("done_on"):
            details.append(f"done {md_text(decision['done_on'])}")
        suffix = f" ({'; '.join(details)})" if details else ""
        lines.append(f"- {md_text(decision.get('text'))}{suffix}")
    return lines + [""]


def _carried_decisions(report: dict) -> list[str]:
    """The earlier weeks' decisions still open (as the close froze them), ahead of the week's own; nothing at all
    without any, so such a week's document reads as before."""
    carried = [decision for decision in report.get("carried_decisions") or [] if isinstance(decision, dict)]
    if not carried:
        return []
    when = "when the week closed" if report.get("status") == "closed" else "now"
    lines = ["### Still open from earlier weeks", "", f"Not marked done {when}, soonest due first.", ""]
    for decision in carried:
        details = [f"decided in {md_text(decision.get('week'))}"]
        if decision.get("owner"):
            details.append(f"owner: {md_text(decision['owner'])}")
        if decision.get("due_date"):
            overdue = ", overdue" if decision.get("overdue") else ""
            details.append(f"due {md_text(decision['due_date'])}{overdue}")
        if decision.get("item_id"):
            details.append(f"item {decision['item_id']}")
        lines.append(f"- {md_text(decision.get('text'))} ({'; '.join(details)})")
    return [*lines, "", f"### Decided in {md_text(report.get('week'))}", ""]


def compared_again(report: dict) -> dict | None:
    """When a closed week's comparison with the week before was made again from that week's final figures (that week
    closed after it: `cycles._compare_again`), as {"with_week": "2026-W47", "at": datetime or None}; else None."""
    restated = report.get("compared_again")
    if not isinstance(restated, dict):
        return None
    try:
        at = datetime.fromisoformat(restated.get("at"))
    except (TypeError, ValueError):
        at = None
    return {"with_week": str(restated.get("with_week", "")), "at": at}


def trend_restated(report: dict) -> dict | None:
    """When a closed week's pass-rate trend points for other weeks were made again from those weeks' final figures
    (they closed after it: `cycles._restate_trend_points`), as {"weeks": ["2026-W45"], "said": "Its pass-rate trend
    point for 2026-W45 was made again from that week's final figures", "at": datetime or None}; else None."""
    restated = report.get("trend_restated")
    if not isinstance(restated, dict) or not isinstance(restated.get("weeks"), list) or not restated["weeks"]:
        return None
    weeks = [str(week) for week in restated["weeks"]]
    try:
        at = datetime.fromisoformat(restated.get("at"))
    except (TypeError, ValueError):
        at = None
    named = listed(weeks)
    said = (
        f"Its pass-rate trend point for {named} was made again from that week's final figures"
        if len(weeks) == 1
        else f"Its pass-rate trend points for {named} were made again from those weeks' final figures"
    )
    return {"weeks": weeks, "said": said, "at": at}


# The parts of a later week's report made again from an earlier week's final gold answers (`gold_restated`), in the
# order they are named, with their words (the audit log's sentence says them too).
GOLD_PART_WORDS = {"changes": "“what changed”", "retention": "retention by verdict"}


def gold_restated(report: dict) -> dict | None:
    """When a closed week's "what changed" or retention by verdict was made again from the stored rows once earlier
    weeks closed after it, with their final gold answers (`cycles._restate_from_final_gold`), as {"weeks":
    ["2026-W45"], "said": "Its “what changed” and retention by verdict were made again from 2026-W45's final gold
    answers", "at": datetime or None}; else None."""
    restated = report.get("gold_restated")
    if not isinstance(restated, dict) or not isinstance(restated.get("weeks"), list) or not restated["weeks"]:
        return None
    weeks = [str(week) for week in restated["weeks"]]
    parts = [words for part, words in GOLD_PART_WORDS.items() if part in (restated.get("parts") or [])]
    try:
        at = datetime.fromisoformat(restated.get("at"))
    except (TypeError, ValueError):
        at = None
    what = " and ".join(parts) or "what it read of them"
    were = "were" if len(parts) > 1 else "was"
    named = f"{listed(weeks)}'s"
    return {"weeks": weeks, "said": f"Its {what} {were} made again from {named} final gold answers", "at": at}


def _moment(value, zone: tzinfo | None = None) -> str:
    """An ISO timestamp as "2026-11-30 08:22 PST" in `zone`, the week's, which the header names once after the
    week's dates (else "2026-11-30 16:22 UTC", in the zone it was written in)."""
    return md_text(_moment_text(value, zone))


def _moment_text(value, zone: tzinfo | None = None) -> str:
    """`_moment` as plain text (the meeting page escapes its own), "" for no value."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return "" if value is None else str(value)
    if zone is not None and moment.tzinfo is not None:
        moment = moment.astimezone(zone)
    return f"{moment:%Y-%m-%d %H:%M} {moment.tzname() or ''}".strip()


def _rubrics_published(published: Sequence[dict], zone: tzinfo | None) -> list[str]:
    lines = ["## Rubric changed during the week", ""] if published else []
    for entry in published:
        said, meaning, changes = rubric_published_text(entry, zone=zone, text=md_text, strong=md_strong)
        lines += [f"**{said}, during this week:** {meaning}", ""]
        lines += [f"- {change}" for change in changes] + ([""] if changes else [])
    return lines


def report_markdown(
    report: dict,
    decisions: list[dict],
    *,
    min_theme_failures: int | None = None,
    time_zone: tzinfo | None = None,
    rubrics_published: Sequence[dict] = (),
) -> str:
    """Render a weekly report (the cycle report dict) and the meeting's decisions as a Markdown document.

    `min_theme_failures`: how many failing outputs a week needs for themes (`metrics.themes.MIN_DOCUMENTS`, which
    this module, on the ground floor, may not import), said when a week has none. `time_zone`: the zone the week's dates
    are in, named after them, and its moments are written in (`calendar.week_zone`: a closed week's is the one it was
    closed in, as its meeting page says), else UTC.

    `decisions`: [{"text", "owner", "due_date" (ISO date or None), "item_id" (or None), "done_on" (ISO date or None),
    "overdue"}] (`selectors.report.decisions_of`), in meeting order. The
    report's own `carried_decisions` (earlier weeks' still open, frozen at the close) come first.

    `rubrics_published`: the rubric versions published during the week (`selectors.rubrics.rubrics_published_data`),
    told before the figures as the meeting page tells them: read now, not frozen.
    """
    status = report.get("status")
    freshness = report.get("freshness") or {}
    if status == "closed":
        state = f"Closed; figures frozen at {_moment(report.get('generated_at'), time_zone)}."
        if again := compared_again(report):
            state += (
                f" Its comparison with {md_text(again['with_week'])} was made again from that week's final figures at "
                f"{_moment(report['compared_again'].get('at'), time_zone)}."
            )
        if restated := trend_restated(report):
            state += f" {md_text(restated['said'])} at {_moment(report['trend_restated'].get('at'), time_zone)}."
        if restated := gold_restated(report):
            state += f" {md_text(restated['said'])} at {_moment(report['gold_restated'].get('at'), time_zone)}."
    elif freshness.get("refreshed_at"):
        state = f"Open: provisional figures, computed {_moment(freshness['refreshed_at'], time_zone)}."
    elif freshness:
        state = (
            "Open: provisional figures, not computed yet."
            if figures_not_computed(report)
            else "Open: provisional figures, with no finished computation of them recorded."
        )
    else:  # a week that ended before the project: nothing of it is computed from review work
        state = f"Open: provisional figures as of {_moment(report.get('generated_at'), time_zone)}."
    left_out = labels_left_out(freshness)
    if left_out:
        state += (
            f" **{left_out}:** the figures below may leave {'it' if freshness['labels_since'] == 1 else 'them'} out."
        )
    name = md_text(report.get("project_name") or report.get("project"))
    zone = f" ({md_text(str(time_zone))})" if time_zone is not None else ""
    lines = [
        f"# {name}: weekly review {md_text(report.get('week'))}",
        "",
        f"Week {md_text(report.get('week_start'))} to {md_text(report.get('week_end'))}{zone}. {state}",
        "",
        *_rubrics_published(rubrics_published, time_zone),
        "## Headline",
        "",
        *_headline(report, time_zone),
        "## Pass rate by week",
        "",
        *_trend(report),
        "## Quality by queue",
        "",
        *_quality(report),
        "## Agreement",
        "",
        *_agreement(report),
        "## Throughput",
        "",
        *_throughput(report),
        "## Retention of end users by verdict",
        "",
        *_retention(report),
        "## What changed",
        "",
        *_changes(report),
        "## Failure themes",
        "",
        *_themes(report, min_theme_failures),
        "## Agenda",
        "",
        *_agenda(report),
        "## Decisions",
        "",
        *_carried_decisions(report),
        *_decisions(decisions),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"
