"""The weekly digest's project part ("This week in …": the queues waiting, the report's link) and the closed
week's headline, as plain text: the same lines in each expert's e-mail, the `cycle.digest` webhook and Slack."""

from collections.abc import Callable

from django.conf import settings
from django.db.models import Count
from django.urls import reverse

from labeling.models import Item, ReviewCycle
from labeling.reports import fmt_decimal, fmt_percent, fmt_points, fmt_signed
from labeling.rules.access import named_experts


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
    """The project part of the digest for each expert: one read of the active queues, their waiting items and whom
    they name, then, for an expert's id, only the queues they may label in (a queue that names its eligible experts
    and not them is not theirs to work: `rules.access.named_experts`); for None, every one."""
    project = cycle.project
    queues = list(project.queues.active().order_by("-priority", "slug"))
    open_now = dict(
        Item.objects.filter(queue__in=queues, status="open")
        .values("queue_id")
        .annotate(n=Count("pk"))
        .values_list("queue_id", "n")
    )
    named = named_experts(project.pk)
    report = ["", f"The weekly report: {meeting_url(cycle)}"]

    def lines(expert_id: int | None) -> list[str]:
        shown = [f"This week in {project.name}:"]
        for queue in queues:
            if expert_id is not None and queue.pk in named and expert_id not in named[queue.pk].may_label:
                continue
            quota = f", quota {queue.weekly_quota}" if queue.weekly_quota else ""
            link = site_url(reverse("labeling:next-item", args=[project.slug, queue.slug]))
            shown.append(f"- {queue.name}: {open_now.get(queue.pk, 0)} item(s) waiting{quota} — {link}")
        return shown + report

    return lines


def headline_lines(report: dict) -> list[str]:
    """The closed week's headline figures, one short line each, with the change from the week before."""
    headline = report.get("headline") or {}
    lines = []
    if pass_rate := headline.get("pass_rate"):
        lines.append(
            f"Pass rate ({report.get('verdict_question')}): {fmt_percent(pass_rate.get('value'))} of "
            f"{pass_rate.get('n')} items ({fmt_points(pass_rate.get('change'))})"
        )
    if alpha := headline.get("alpha"):
        lines.append(
            f"Agreement (Krippendorff's α): {fmt_decimal(alpha.get('value'))} ({fmt_signed(alpha.get('change'))})"
        )
    if labels := headline.get("labels"):
        lines.append(
            f"Labels: {labels.get('done', 0)} of {labels.get('wanted', 0)} wanted ({fmt_signed(labels.get('change'))})"
        )
    return lines or ["No labels were given this week."]
