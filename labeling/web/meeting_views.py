"""The weekly review meeting page, its Markdown export, the meeting's decisions, "close the week", and dashboards.

Every member of the project (experts, leads, engineers, admins) and every operator reads the meeting page,
the export and the dashboards; outsiders get a 404. Writing (decisions, closing) is for leads and admins: anyone
else gets a 404 from `check_can_manage`, as for every other manage screen. Experts label blind: their
page and export leave out the failure themes' examples and explore filters, and the flag notes and comments of
others on the flagged items they have not labeled yet (`selectors.report.blind_report`). An operator who is also one
of the project's experts reads them as an operator (`rules.access.reader_project`), as they explore it.

The page, the export and the API read a week's report through one selector (`report_of_week`): a
closed week shows its frozen report; an open one is built live from the stored metric rows and says its
figures are provisional. Every started week has a page; a week that has not started is a 404.

Closing queues `labeling.tasks.close_week` through the outbox instead of running the close inside the
request: the close resolves, rebuilds datasets and recomputes metrics, which takes seconds on a large
project (W4). The page then shows "close queued, waiting for the worker" until a worker starts it (also
while the broker is down: the outbox sends it when it is back), then "closing…", and reloads itself
(a <meta> refresh, no script) until the cycle is closed. In the demo (no Redis, eager Celery) the task
runs during the request, so the redirect already lands on the frozen report.
"""

from datetime import date, timedelta, tzinfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from labeling.exceptions import InvalidInput, InvalidWeek
from labeling.metrics import themes as theme_metrics
from labeling.metrics.agreement import too_few_units
from labeling.models import Project, week_label, work_key
from labeling.reports import (
    agreement_basis,
    compared_again,
    figures_as_of,
    figures_not_computed,
    first_cohort,
    from_first_value,
    gold_restated,
    labels_left_out,
    report_markdown,
    trend_restated,
    trend_shown,
)
from labeling.rules import calendar
from labeling.rules.access import labels_blind, lead_project, manages, may_explore, reader_project, visible_project
from labeling.rules.moments import utc_moment
from labeling.selectors import health
from labeling.selectors import metrics as metric_selectors
from labeling.selectors.agenda import agenda_since_close
from labeling.selectors.management import project_queues
from labeling.selectors.outbox import queued_work
from labeling.selectors.report import (
    blind_report,
    cycle_decisions,
    decision_status,
    decisions_of,
    has_something_to_close,
    next_week_at_close,
    open_decisions_before,
    report_of_week,
    retention_reference_of,
    week_to_discuss,
    within_the_project,
)
from labeling.selectors.rubrics import questions_of, rubrics_published_data, verdict_question
from labeling.services import cycles

from . import charts
from .meeting_forms import DecisionForm
from .meeting_tiles import headline_tiles, mover_links, quality_chart

CLOSING_REFRESHES = 30  # about a minute of 2-second reloads before the page stops waiting for the worker
CLOSE_FAILED_RECENTLY = timedelta(minutes=2)


def _week(project: Project, label: str) -> date:
    """The cycle week of a URL label or of a day in it (`week_of_label_or_day`, as the REST API reads one); anything
    else, or a week not started yet, is not found (`?week=` on the meeting page says what is wrong in a 400)."""
    try:
        week = calendar.week_of_label_or_day(project, label)
    except InvalidWeek as exc:
        raise Http404(exc.message) from None
    if week > calendar.current_week(project):
        raise Http404(f"The week {label} has not started yet.")
    return week


def _meeting_url(project: Project, week: date) -> str:
    return reverse("labeling:meeting-week", args=[project.slug, week_label(week)])


# The meeting page --------------------------------------------------------------------------------------------


@login_required
@require_GET
def meeting(request: HttpRequest, slug: str) -> HttpResponse:
    """Go to the latest closed week (what the meeting discusses), else the running week. Operators read every
    project's meeting (the platform page links each row here); writing in it stays with the project's leads."""
    project, _ = visible_project(request.user, slug)
    asked = request.GET.get("week", "").strip()
    # `?week=` a label or a day in it (the week's form on other pages, a bookmark); nonsense is a 400 saying why.
    week = calendar.week_of_label_or_day(project, asked) if asked else week_to_discuss(project)
    if asked and week > calendar.current_week(project):
        raise InvalidWeek(f"The week {week_label(week)} has not started yet.")
    return redirect(_meeting_url(project, week))


@login_required
@require_GET
def meeting_week(request: HttpRequest, slug: str, week_label: str) -> HttpResponse:
    project, membership = reader_project(request.user, slug)  # an operator who is one of its experts: as an operator
    week = _week(project, week_label)
    if request.path != (address := _meeting_url(project, week)):  # a day in the week: the week's one address
        return redirect(address)
    return _meeting_page(request, project, membership, week, form=DecisionForm())


def _meeting_page(request, project, membership, week: date, *, form: DecisionForm, status: int = 200):
    found = report_of_week(project=project, week=week)
    cycle, report = found.cycle, found.report
    if labels_blind(membership):
        report = blind_report(report, reader=request.user)
    current = calendar.current_week(project)
    previous = week - timedelta(days=7)
    can_manage = manages(membership)  # None: an operator, reading
    is_closed = bool(cycle and cycle.is_closed)
    trend = trend_shown(report)
    # A close or refresh asked for and not finished, as the outbox knows it: queued (waiting for the
    # worker, or for the broker to come back) or running.
    close_work = refresh_work = None
    if not is_closed:
        close_work = queued_work(work_key("close_week", project.pk, week.isoformat()))
        refresh_work = queued_work(work_key("refresh_metrics", project.pk, week.isoformat()))
    something_to_close = is_closed or week == current or has_something_to_close(project, week)
    closing = _closing_count(request) if not is_closed else 0
    if close_work and not closing:
        closing = 1
    failures = health.failing_cycles(project) if can_manage else []
    if closing and cycle and cycle.failure_kind == "close" and cycle.failed_at > timezone.now() - CLOSE_FAILED_RECENTLY:
        closing = CLOSING_REFRESHES  # the close just failed: stop reloading, the notice says why
    freshness = None if is_closed or not something_to_close else report.get("freshness")
    week_zone = calendar.week_zone(project, cycle)
    can_close = can_manage and not is_closed and week < current and something_to_close
    # What explore's filters read (a closed week's figures read its report's questions): only for links a reader gets.
    # None without a rubric (a report's verdict question needs one published): nothing to set the report against.
    explores = may_explore(project, membership) and not labels_blind(membership)
    questions_now = (questions_of(project) or None) if explores else None
    context = {
        "project": project,
        "membership": membership,
        "tab": "meeting",
        "report": report,
        "week": week,
        "label": week_label(week),
        "cycle": cycle,
        "is_closed": is_closed,
        # The zone the week's dates and its close time are read in, as report.md reads them (a closed week's, the one
        # it was closed in); named beside the close time when the page's other times are in another.
        "week_zone": week_zone,
        "week_zone_differs": str(week_zone) != str(project.tzinfo),
        "compared_again": compared_again(report) if is_closed else None,
        "trend_restated": trend_restated(report) if is_closed else None,
        "gold_restated": gold_restated(report) if is_closed else None,
        "is_current": week == current,
        "can_manage": can_manage,
        "can_close": can_close,
        # What the close does to the week after: an older week closed out of order opens none (it is open or closed).
        "next_week_at_close": next_week_at_close(project, week) if can_close else None,
        # Over, not closed, not a week beat closes nor retries: "not closed yet" would promise a close that never comes.
        "left_open": not is_closed
        and week < current
        and something_to_close
        and metric_selectors.beat_leaves_open(project)(week),
        "before_the_project": not something_to_close,
        "closing": closing,
        "close_work": close_work,
        "refresh_work": refresh_work,
        "closing_next": closing + 1 if 0 < closing < CLOSING_REFRESHES else 0,
        # An open week's figures are stored rows: say as of when, and what was saved since, so stale zeros never
        # read as the truth (the report's `freshness`, which report.md and the API read too).
        "freshness": freshness,
        "figures_as_of": figures_as_of(freshness or {}),
        "figures_not_computed": figures_not_computed(report),
        "labels_left_out": labels_left_out(freshness or {}),
        # Weeks before the project's first hold nothing: no link walks back into them without end.
        "previous_label": week_label(previous) if within_the_project(project, previous) else None,
        "next_label": week_label(week + timedelta(days=7)) if week < current else None,
        # Links into explore only for a reader it lets in (an expert while the project allows), never to a 403.
        "can_explore": may_explore(project, membership),
        "tiles": headline_tiles(
            report,
            blind=labels_blind(membership),
            explore=may_explore(project, membership),
            zone=week_zone,
            questions_now=questions_now,
        ),
        # A closed week's trend is as its close froze it (the frozen note says so); an open week's still moves.
        "pass_rate_chart": charts.pass_rate_chart(trend if is_closed else _marked_provisional(project, trend)),
        # The reference as the report holds it: a closed week shows the one it was closed with. Its cohorts run oldest
        # first: without curves, the first one is still running.
        "retention_chart": charts.retention_chart(
            (report.get("retention") or {}).get("curves") or {},
            reference=(report.get("retention") or {}).get("reference"),
            first_cohort=first_cohort(report),
        ),
        "agreement_chart": charts.agreement_chart(report.get("agreement") or []),
        # A version published during the week splits its labels: figures from before and after it may read other
        # questions, which the lead reading them must know (the labeling screen tells the experts alike).
        "rubrics_published": rubrics_published_data(project, week, cycle=cycle, beside=found.beside),
        "agenda": _agenda(
            project, report, cycle if is_closed else None, blind=labels_blind(membership), questions_now=questions_now
        ),
        "decisions": _with_status(cycle_decisions(cycle), project, zone=week_zone),
        "open_decisions": _with_status(
            open_decisions_before(project, week) if something_to_close else [], project, zone=week_zone
        ),
        "form": form,
        "failures": failures,
        # The auto datasets this week's close could not build (the close went on without them), for the leads.
        "failed_builds": _failed_builds(report) if can_manage and is_closed else [],
        "min_theme_failures": theme_metrics.MIN_DOCUMENTS,
    }
    return render(request, "labeling/meeting/week.html", context, status=status)


def _with_status(decisions: list, project: Project, *, zone: tzinfo) -> list:
    """The decisions, each with its `status` (done on, overdue) by the rule report.md and the API read too: done on
    the day of the week's zone, as the page's other dates."""
    today = calendar.local_today(project)
    for decision in decisions:
        decision.status = decision_status(decision, project=project, today=today, zone=zone)
        # What was done about it is in the audit log (rubric published, queue changed…): the moments from its record to
        # its done, both included and to the microsecond, so the rest of those days, and of those seconds, stays out;
        # `done_at` is the moment of the done's own audit row (`mark_decision_done`).
        decision.audit_span = (
            {"since": utc_moment(decision.created_at), "until": utc_moment(decision.done_at)}
            if decision.done_at
            else None
        )
    return decisions


def _agenda(project: Project, report: dict, closed_cycle, *, blind: bool, questions_now: list[dict] | None) -> dict:
    """The report's agenda, its movers linked to their failed outputs; a closed week's frozen one marked with what was
    decided and resolved since the close."""
    agenda = report.get("agenda") or {"adjudication": [], "flags": [], "movers": []}
    agenda = agenda | {
        "movers": mover_links(agenda.get("movers") or [], report, blind=blind, questions_now=questions_now)
    }
    if closed_cycle is None:
        return agenda
    return agenda_since_close(project, agenda, closed_at=closed_cycle.closed_at)


def _failed_builds(report: dict) -> list[dict]:
    return [build for build in ((report.get("close") or {}).get("datasets") or []) if build.get("error")]


def _closing_count(request: HttpRequest) -> int:
    try:
        return max(0, int(request.GET.get("closing", "0")))
    except ValueError:
        return 0


# Export ------------------------------------------------------------------------------------------------------


@login_required
@require_GET
def meeting_markdown(request: HttpRequest, slug: str, week_label: str) -> HttpResponse:
    project, membership = reader_project(request.user, slug)
    week = _week(project, week_label)
    found = report_of_week(project=project, week=week)
    report = blind_report(found.report, reader=request.user) if labels_blind(membership) else found.report
    text = report_markdown(
        report,
        decisions_of(found.cycle, project=project),
        min_theme_failures=theme_metrics.MIN_DOCUMENTS,
        time_zone=calendar.week_zone(project, found.cycle),
        rubrics_published=rubrics_published_data(project, week, cycle=found.cycle, beside=found.beside),
    )
    response = HttpResponse(text, content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{project.slug}-{week_label}.md"'
    return response


# Writes: decisions and the close -----------------------------------------------------------------------------


@login_required
@require_POST
def decision_add(request: HttpRequest, slug: str, week_label: str) -> HttpResponse:
    project, membership = lead_project(request.user, slug, method=request.method)
    week = _week(project, week_label)
    form = DecisionForm(request.POST)
    if form.is_valid():
        try:
            cycles.decide_in_week(user=request.user, project=project, week=week, **form.cleaned_data)
        except InvalidInput as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Decision recorded.")
            return redirect(_meeting_url(project, week) + "#decisions")
    return _meeting_page(request, project, membership, week, form=form, status=400)


@login_required
@require_POST
def decision_delete(request: HttpRequest, slug: str, week_label: str, decision_id: int) -> HttpResponse:
    project, _ = lead_project(request.user, slug, method=request.method)
    week = _week(project, week_label)
    cycles.delete_decision(user=request.user, project=project, week=week, decision_id=decision_id)
    messages.success(request, "Decision deleted.")
    return redirect(_meeting_url(project, week) + "#decisions")


@login_required
@require_POST
def decision_done(request: HttpRequest, slug: str, week_label: str, decision_id: int) -> HttpResponse:
    """Mark a decision (of this week or an earlier one) done, back on the meeting page it was marked from."""
    project, _ = lead_project(request.user, slug, method=request.method)
    week = _week(project, week_label)
    try:
        cycles.mark_decision_done(user=request.user, project=project, decision_id=decision_id)
    except InvalidInput as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Decision marked done.")
    return redirect(_meeting_url(project, week) + "#decisions")


@login_required
@require_POST
def close(request: HttpRequest, slug: str, week_label: str) -> HttpResponse:
    project, _ = lead_project(request.user, slug, method=request.method)
    week = _week(project, week_label)
    if not cycles.request_close(project=project, week=week, closed_by=request.user):
        messages.info(request, f"The week {week_label} is already closed.")
        return redirect(_meeting_url(project, week))
    messages.success(request, f"Closing the week {week_label}: the report is frozen when the close is done.")
    return redirect(_meeting_url(project, week) + "?closing=1")


@login_required
@require_POST
def refresh(request: HttpRequest, slug: str, week_label: str) -> HttpResponse:
    project, _ = lead_project(request.user, slug, method=request.method)
    week = _week(project, week_label)
    if not cycles.request_refresh(project=project, week=week):
        messages.info(request, f"The week {week_label} is closed: its report is frozen.")
    # Asked for now: a fast worker (or the demo's eager Celery) may have finished it already; say which.
    elif queued_work(work_key("refresh_metrics", project.pk, week.isoformat())) is not None:
        messages.success(
            request, "Refresh asked for: the figures below are updated when the worker is done; reload in a moment."
        )
    elif any(cycle.week == week and cycle.failure_kind == "refresh" for cycle in health.failing_cycles(project)):
        messages.error(request, "The refresh of the figures failed: the notice above says why.")
    else:
        messages.success(request, "The week's figures are recomputed: the page shows them.")
    if request.POST.get("next") == "dashboard":  # the dashboard's refresh button: back to the dashboard
        return redirect("labeling:dashboard", slug=project.slug)
    return redirect(_meeting_url(project, week))


# Dashboards --------------------------------------------------------------------------------------------------


def _running_week(project: Project, membership, weeks) -> dict:
    """What the dashboard says of the running week, when its range holds it: its throughput is counted now, its other
    figures are the last refresh's (when that was), which a lead may ask for again from here."""
    week = calendar.current_week(project)
    if not weeks.first <= week <= weeks.last:
        return {}
    return {
        "running_label": week_label(week),
        "refreshed_at": metric_selectors.figures_refreshed_at(project=project, week=week),
        "can_refresh": manages(membership),
    }


def _dashboard_filters(request: HttpRequest, project: Project, queues: list, questions: list[dict]):
    """The range, queue and question asked for, with defaults; or what is wrong with them, by the field it is about
    ("range" for a first week after the last), so the page marks that field invalid and names the error on it."""
    errors: dict[str, str] = {}
    weeks: dict[str, date] = {}
    for name in ("from", "to"):
        label = request.GET.get(name, "").strip()
        if label:
            try:
                weeks[name] = calendar.week_of_label_or_day(project, label)
            except InvalidWeek as exc:
                # Named as the range's own error names them ("`from` (2026-W10) is after `to` (2026-W01)").
                errors[name] = f"`{name}` ({label}) {exc.reason}"
    span = None
    if not errors:
        try:
            span = metric_selectors.week_range(project=project, first=weeks.get("from"), last=weeks.get("to"))
        except InvalidInput as exc:
            errors["range"] = exc.message
    queue_slug = request.GET.get("queue", "").strip() or None
    if queue_slug and queue_slug not in {queue.slug for queue in queues}:
        errors["queue"] = f"This project has no queue “{queue_slug}”."
    keys = [q["key"] for q in questions]
    question = request.GET.get("question", "").strip() or None
    if question and question not in keys:
        errors["question"] = f"The rubric has no question “{question}”."
    if question is None:
        verdict = verdict_question(project, questions)
        question = verdict["key"] if verdict else None
    # A range the page can show even when the one asked for is wrong: the default one.
    return span or metric_selectors.week_range(project=project), queue_slug, question, errors


def _marked_provisional(project: Project, trend: list[dict]) -> list[dict]:
    """The trend's points, those of weeks no close has frozen marked `provisional`: drawn dotted, as the dashboard
    draws them (an open week's page has its own week's point, and a week never closed may be among the others)."""
    starts = {point["week_start"]: date.fromisoformat(point["week_start"]) for point in trend}
    not_final = metric_selectors.not_final_weeks(project=project, weeks=list(starts.values()))
    return [point | {"provisional": True} if starts[point["week_start"]] in not_final else point for point in trend]


@login_required
@require_GET
def dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    """The project's figures over a range of weeks. Operators read it as they read the meeting page it sits beside
    (its Dashboard tab): nothing on it is blind to anyone."""
    project, membership = visible_project(request.user, slug)
    queues = project_queues(project)
    questions = questions_of(project)
    weeks, queue_slug, question, errors = _dashboard_filters(request, project, queues, questions)
    first, last = weeks.first, weeks.last
    context = {
        "project": project,
        "membership": membership,
        "tab": "dashboard",
        "queues": queues,
        "questions": questions,
        "errors": errors,
        "filters": {
            "from": request.GET.get("from", week_label(first)) if errors else week_label(first),
            "to": request.GET.get("to", week_label(last)) if errors else week_label(last),
            "queue": queue_slug or "",
            "question": question or "",
        },
    }
    if errors:
        return render(request, "labeling/dashboard/index.html", context, status=400)
    span = {"project": project, "weeks": weeks}
    kind = next((q["kind"] for q in questions if q["key"] == question), None)
    quality = metric_selectors.quality_series(**span, queue_slug=queue_slug, question=question) if question else []
    throughput = metric_selectors.throughput_series(**span, queue_slug=queue_slug)
    # A point of a week not closed yet says so, and is drawn dotted: only a close makes a week's figure final.
    not_final = {row["week"]: row["state"] for row in throughput if row["state"] != metric_selectors.WeekState.CLOSED}
    # The quality chart starts at the range's first week with a figure, as the meeting page's trend does; the other
    # charts keep the range (end users' retention goes back before the experts labeled).
    trend = from_first_value(
        [
            point | ({"note": not_final[point["week"]], "provisional": True} if point["week"] in not_final else {})
            for point in metric_selectors.pooled_trend(quality, question=question, weeks=weeks)
        ]
    )
    # Agreement is stored per week and question, for all queues together (the page says so under a queue filter).
    agreement = metric_selectors.agreement_series(**span)
    latest = metric_selectors.latest_agreement(agreement)
    retention = metric_selectors.retention_curves(**span)
    context.update(
        {
            "question_kind": kind,
            "quality_chart": quality_chart(question, kind, trend, questions),
            "alpha_chart": charts.line_chart(
                name="alpha-trend",
                title=f"Krippendorff's α of “{question}” by week",
                fmt="decimal",
                points=[
                    {
                        "x": row["week"],
                        "value": None if too_few_units(row["units"]) else row["alpha"],
                        "detail": agreement_basis(row["units"])
                        + (f" · {note}" if (note := not_final.get(row["week"])) else ""),
                        "provisional": row["week"] in not_final,
                    }
                    for row in agreement
                    if row["question"] == question
                ],
                empty_message="No agreement yet for this question in this range.",
            ),
            "agreement_chart": charts.agreement_chart(
                latest, title=f"Agreement per question, {latest[0]['week']}" if latest else "Agreement per question"
            ),
            "retention_chart": charts.retention_chart(
                retention.curves, reference=retention_reference_of(project), first_cohort=retention.first_cohort
            ),
            "throughput": throughput,
            "can_close_weeks": manages(membership),  # a week beat leaves open is closed by hand, from its meeting page
            **_running_week(project, membership, weeks),
            "queue_name": next((queue.name for queue in queues if queue.slug == queue_slug), None),
            "first_label": week_label(first),
            "last_label": week_label(last),
        }
    )
    return render(request, "labeling/dashboard/index.html", context)
