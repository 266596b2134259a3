"""The weekly digest's project part ("This week (2026-W49) in …": the queues waiting, the report's link) and the closed
week's headline, as plain text: the same lines in each expert's e-mail, the `cycle.digest` webhook and Slack."""

from collections.abc import Callable
from typing import NamedTuple

from django.conf import settings
from django.db.models import Count
from django.urls import reverse

from labeling.metrics.agreement import too_few_units
from labeling.models import Item, ReviewCycle, week_label
from labeling.notices import plain, rubric_published_text
from labeling.reports import (
    agreement_basis,
    fmt_decimal,
    fmt_percent,
    fmt_points,
    fmt_retention,
    fmt_signed,
    retention_basis,
)
from labeling.rules.access import QueueLabelers, queue_labelers
from labeling.rules.calendar import current_week, week_zone
from labeling.rules.text import counted, isolated

from .rubrics import rubrics_published_data


def site_url(path: str) -> str:
    """An absolute link on this server (SITE_URL)."""
    return settings.SITE_URL.rstrip("/") + path


def meeting_url(cycle: ReviewCycle) -> str:
    return site_url(reverse("labeling:meeting-week", args=[cycle.project.slug, cycle.label]))


def project_digest_lines(cycle: ReviewCycle) -> list[str]:
    """The project's week after `cycle` for the team: each active queue with its items waiting (and quota), then the
    report (the `cycle.digest` webhook and Slack)."""
    return digest_lines_by_expert(cycle)(None)


def digest_lines_by_expert(cycle: ReviewCycle) -> Callable[[int | None], list[str]]:
    """The project part of the digest for each expert: one read of the active queues, their waiting items and who may
    label them, then, for an expert's id, only the queues they may label in (a queue that names its eligible experts
    and not them is not theirs to work: `rules.access.named_experts`); for None, the team's (the lead's, in the
    `cycle.digest` webhook and Slack), every one, a queue nobody may label now marked as the lead screens mark it."""
    project = cycle.project
    queues = list(project.queues.active().order_by("-priority", "slug"))
    open_now = dict(
        Item.objects.filter(queue__in=queues, status="open")
        .values("queue_id")
        .annotate(n=Count("pk"))
        .values_list("queue_id", "n")
    )
    labelers = queue_labelers(project.pk)
    report = ["", f"The weekly report: {meeting_url(cycle)}"]
    # Named: the digest of a week closed late goes out weeks after it, when "this week" is not the week after it.
    this_week = week_label(current_week(project))

    def lines(expert_id: int | None) -> list[str]:
        # Plain text: names isolated as the invitation e-mail isolates them (`isolated`), so a right-to-left override
        # in one reverses the name alone, not the count waiting and the link after it.
        shown = [f"This week ({this_week}) in {isolated(project.name)}:"]
        for queue in queues:
            if expert_id is not None and expert_id not in labelers.may_label(queue.pk):
                continue
            quota = f", quota {queue.weekly_quota}" if queue.weekly_quota else ""
            waiting = f"- {isolated(queue.name)}: {counted(open_now.get(queue.pk, 0), 'item')} waiting{quota} — "
            if expert_id is None and labelers.without_expert(queue.pk):
                shown.append(waiting + _nobody_can_label(project.slug, queue.pk, labelers))
                continue
            shown.append(waiting + site_url(reverse("labeling:next-item", args=[project.slug, queue.slug])))
        return shown + report

    return lines


def rubric_published_lines(cycle: ReviewCycle) -> list[str]:
    """The rubric versions published during the cycle's week, each as its meeting page, its report's Markdown and the
    API tell it (`notices.rubric_published_text` of `rubrics.rubrics_published_data`), as plain text: names and
    prompts isolated, the moment in the week's time zone. Empty when none was (two queries)."""
    zone = week_zone(cycle.project, cycle)
    lines = []
    for published in rubrics_published_data(cycle.project, cycle.week, cycle=cycle):
        said, meaning, changes = rubric_published_text(published, zone=zone, text=isolated, strong=plain)
        lines += [f"{said}, during {cycle.label}: {meaning}", *(f"- {change}" for change in changes)]
    return lines


def _nobody_can_label(project_slug: str, queue_id: int, labelers: QueueLabelers) -> str:
    """The warning of the lead screens (lead/_without_expert.html), as one line with where a lead fixes it."""
    gone = labelers.gone(queue_id)
    if gone:
        names, many = ", ".join(gone), len(gone) > 1
        queue_page = site_url(reverse("labeling:queue-edit", args=[project_slug, queue_id]))
        return (
            f"Nobody can label this queue: it names only {names} as eligible expert{'s' if many else ''}, no longer "
            f"{'experts' if many else 'an expert'} of this project; its items wait for nobody. Change whom it names: "
            f"{queue_page}"
        )
    members_page = site_url(reverse("labeling:members", args=[project_slug]))
    return (
        "Nobody can label this queue: it admits every expert and lead of this project, and none may label now; its "
        f"items wait for nobody. Invite an expert: {members_page}"
    )


def headline_lines(report: dict) -> list[str]:
    """The closed week's headline figures, one short line each, with the change from the week before."""
    return [f"{name}: {text}" for name, text in _headline_figures(report)] or ["No labels were given this week."]


def headline_figures(report: dict) -> dict[str, str]:
    """The closed week's headline figures by name, as its meeting page's tiles and its report say them (the week-1
    retention by verdict too): what a restated report's notice sets against the figures restated (`restated_figures`).
    """
    figures = dict(_headline_figures(report))
    if retention := (report.get("headline") or {}).get("retention_week1"):
        cells = {segment: retention.get(segment) or {} for segment in ("pass", "fail")}
        figures["Week-1 retention, pass vs fail"] = (
            f"{fmt_retention(cells['pass'])} vs {fmt_retention(cells['fail'])} "
            f"(cohort {retention.get('cohort_week')}: pass {retention_basis(cells['pass'])}, "
            f"fail {retention_basis(cells['fail'])})"
        )
    return figures


class RestatedFigure(NamedTuple):
    """A headline figure a later close restated: its name, what the report said, what it says now (— for none)."""

    name: str
    was: str
    now: str


def restated_figures(before: dict[str, str], after: dict[str, str]) -> list[RestatedFigure]:
    """Each headline figure (`headline_figures`) that differs between the two, in the report's order."""
    return [
        RestatedFigure(name, before.get(name, "—"), after.get(name, "—"))
        for name in dict.fromkeys([*before, *after])
        if before.get(name) != after.get(name)
    ]


def restated_figure_line(figure: RestatedFigure) -> str:
    """One restated figure as a line: "Pass rate (correct): was …, now …"."""
    return f"{figure.name}: was {figure.was}, now {figure.now}"


def _headline_figures(report: dict) -> list[tuple[str, str]]:
    """(name, text) of the pass rate, agreement and labels, each with the change from the week before."""
    headline = report.get("headline") or {}
    figures = []
    if pass_rate := headline.get("pass_rate"):
        figures.append(
            (
                f"Pass rate ({report.get('verdict_question')})",
                f"{fmt_percent(pass_rate.get('value'))} of {counted(pass_rate.get('n', 0), 'item')} "
                f"({fmt_points(pass_rate.get('change'))})",
            )
        )
    if alpha := headline.get("alpha"):
        units = alpha.get("units", 0)
        figure = "" if too_few_units(units) else f"{fmt_decimal(alpha.get('value'))} over "
        figures.append(
            ("Agreement (Krippendorff's α)", f"{figure}{agreement_basis(units)} ({fmt_signed(alpha.get('change'))})")
        )
    if labels := headline.get("labels"):
        figures.append(
            (
                "Labels",
                f"{labels.get('done', 0)} of {labels.get('wanted', 0)} wanted ({fmt_signed(labels.get('change'))})",
            )
        )
    return figures
