"""Weekly metrics for engineers: quality, agreement, throughput, retention, and a cycle's report.

Each endpoint reads the metric rows a week's close stored. A key with the `read` scope reads its own
project; a signed-in member of the project (any role) names it with `?project=<slug>`. Anyone else
is told the project does not exist (404), before any parameter is checked.
"""

import msgspec
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import renderers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from api.callers import ProjectOfCaller
from api.negotiation import ErrorsAsJson, UnknownFormat
from api.parameters import KnownParametersOnly
from api.permissions import CanReadOrSignedIn
from api.serializers.metrics import (
    WEEK_OR_DAY_HELP,
    WEEK_OR_DAY_SCHEMA,
    AgreementOut,
    AgreementQuery,
    QualityOut,
    QualityQuery,
    ReportQuery,
    RetentionOut,
    RetentionQuery,
    ThroughputOut,
    ThroughputQuery,
    retention_out,
)
from api.serializers.outputs import ErrorsOut
from api.serializers.report import ReportOut
from labeling.metrics import themes as theme_metrics
from labeling.models import week_label
from labeling.reports import report_markdown
from labeling.rules.access import labels_blind
from labeling.rules.calendar import week_of_label_or_day, week_zone
from labeling.selectors.metrics import MAX_WEEKS, WeekRange, quality_series
from labeling.selectors.metrics_api import (
    SEGMENTS,
    agreement_rows,
    expert_gold_rows,
    expert_week_rows,
    pooled_quality_rows,
    queue_week_rows,
    retention_cells,
    retention_curves,
)
from labeling.selectors.report import blind_report, check_week_of_the_project, decisions_of, report_of_week
from labeling.selectors.rubrics import rubrics_published_data

_RANGE = (
    "Weeks are cycle weeks named by ISO week labels (`2026-W48`) or by a day they hold (`2026-11-26`). `from` and "
    "`to` are both included; by "
    f"default the last 12 weeks up to the current one, from the project's first week if that is later; at most "
    f"{MAX_WEEKS} weeks. A malformed week, `from` after `to` or a longer range is a 400 naming the parameter. Weeks "
    "without stored rows are simply absent. A weekly row's `week_status` is `closed` once its week's close froze it, "
    "else `open`: the running week, or one waiting for its close, whose figures may still change."
)
METRICS_ERRORS = {
    400: OpenApiResponse(ErrorsOut, description="A bad parameter; the message names it."),
    401: OpenApiResponse(ErrorsOut, description="No credentials: a key, or a signed-in session."),
    403: OpenApiResponse(ErrorsOut, description="The key lacks the `read` scope."),
    404: OpenApiResponse(ErrorsOut, description="No such project, or not yours to read."),
}


class MarkdownRenderer(renderers.BaseRenderer):
    media_type = "text/markdown"
    format = "markdown"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data.encode(self.charset)


class MetricsView(ErrorsAsJson, ProjectOfCaller, KnownParametersOnly, GenericAPIView):
    """The caller's project: the key's, or the member's `?project=` (NotFound otherwise); an operator's too, who reads
    the same figures and reports on the meeting page and the dashboard."""

    permission_classes = [CanReadOrSignedIn]
    project_operators = True
    query_class = ReportQuery
    unknown_format: UnknownFormat | None = None

    def check_access(self) -> None:
        super().check_access()
        if self.unknown_format is not None:
            raise self.unknown_format

    @property
    def parameter_reasons(self) -> dict[str, str]:
        return getattr(self.query_class, "not_here", {})

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except UnknownFormat as exc:
            # Answered once we know the caller may read the project: a member's `?project=` is checked first.
            self.unknown_format = exc
            return super().perform_content_negotiation(request, force=True)

    def query(self) -> dict:
        """The validated query parameters; who may read comes first, so a stranger gets a 404, never a 400."""
        query = self.query_class(data=self.request.query_params, context={"project": self.project})
        query.is_valid(raise_exception=True)
        return query.validated_data

    def range_out(self, weeks: WeekRange) -> dict:
        return {"project": self.project.slug, "from": week_label(weeks.first), "to": week_label(weeks.last)}


class QualityView(MetricsView):
    query_class = QualityQuery

    @extend_schema(
        operation_id="get_quality_metrics",
        summary="Quality of the gold answers per week, queue and question",
        description=(
            "For binary questions `value` is the pass rate (`passes` of `n`) with its Wilson 95% interval; for "
            "ratings the mean with a Student-t interval; for choices `shares` counts each option. An unknown "
            "`queue` is a 400 listing the project's queues, an unknown `question` one listing its rubric's "
            "questions (of any version).\n\n"
            "`pooled=true` pools the queues: a row per week and yes/no or rating question, `queue` null, by the rule "
            "of the weekly report's headline (`headline.pass_rate` is the week's pooled row of the verdict question): "
            "the pass rate is all queues' passes over their `n` with its own Wilson interval, a rating the "
            "item-weighted mean. Choice questions have no pooled row; `queue` is a 400 with it.\n\n"
            f"{_RANGE}"
        ),
        parameters=[QualityQuery],
        responses={200: QualityOut, **METRICS_ERRORS},
    )
    def get(self, request, *args, **kwargs):
        query = self.query()
        weeks = query["weeks"]
        queue = query.get("queue")
        rows = quality_series(
            project=self.project, weeks=weeks, queue_slug=queue.slug if queue else None, question=query.get("question")
        )
        if query["pooled"]:
            rows = pooled_quality_rows(rows, weeks=weeks)
        return Response(QualityOut({**self.range_out(weeks), "results": rows}).data)


class AgreementView(MetricsView):
    query_class = AgreementQuery

    @extend_schema(
        operation_id="get_agreement_metrics",
        summary="Agreement between experts per week and question, and each expert's agreement with gold",
        description=(
            "`results`: Krippendorff's alpha, Fleiss' and Cohen's kappa over the week's items with two or more "
            "labels, with the pairwise kappas naming experts by username. `alpha_at_interval_level` (also served as "
            "`alpha_interval`, its older name) is a second alpha for ratings, at the interval level of measurement: "
            "not a confidence interval. `experts`: per week and expert, labels agreeing with the gold answer of those "
            "compared (`gold_rate`); the gold answer is the majority including the expert's own label and a tie has "
            "none, so with two labels per item `gold_rate` is 1.0 unless a lead settled a tie. With `question`, only "
            "that question counts (an unknown one is a 400 listing the rubric's questions). "
            f"Agreement spans all queues: `queue` is a 400 here.\n\n{_RANGE}"
        ),
        parameters=[AgreementQuery],
        responses={200: AgreementOut, **METRICS_ERRORS},
    )
    def get(self, request, *args, **kwargs):
        query = self.query()
        weeks, question = query["weeks"], query.get("question")
        results = agreement_rows(project=self.project, weeks=weeks, question=question)
        experts = expert_gold_rows(project=self.project, weeks=weeks, question=question)
        return Response(AgreementOut({**self.range_out(weeks), "results": results, "experts": experts}).data)


class ThroughputView(MetricsView):
    query_class = ThroughputQuery

    @extend_schema(
        operation_id="get_throughput_metrics",
        summary="Labels per week and queue, and per week and expert",
        description=(
            "`queues`: items placed against the quota, labels done and still wanted, median seconds per label. "
            "`experts`: labels, skips, flags and median seconds per label. `queue` narrows `queues` only. "
            f"`question` is a 400 here.\n\n{_RANGE}"
        ),
        parameters=[ThroughputQuery],
        responses={200: ThroughputOut, **METRICS_ERRORS},
    )
    def get(self, request, *args, **kwargs):
        query = self.query()
        weeks = query["weeks"]
        queues = queue_week_rows(project=self.project, weeks=weeks, queue=query.get("queue"))
        experts = expert_week_rows(project=self.project, weeks=weeks)
        return Response(ThroughputOut({**self.range_out(weeks), "queues": queues, "experts": experts}).data)


class RetentionView(MetricsView):
    query_class = RetentionQuery

    @extend_schema(
        operation_id="get_retention_metrics",
        summary="Weekly cohort retention of the project's end users",
        description=(
            "`results`: the cohort grid of the cohorts first active from `from` to `to`, counts beside rates: of "
            "`cohort_users` first active in the cohort week, `active_on` were active `offset` weeks later (in "
            "`activity_week`) and `active_on_or_after` then or later. `from` and `to` bound the cohorts, not the "
            "weeks of activity (`range_of`: `cohorts`), as in Amplitude's and Mixpanel's retention: each cohort's "
            "cells run on to the current week, past `to`; keep the cells whose `activity_week` is not after a week "
            "to bound the activity too. A cell whose week is still running is `incomplete`. Segments: "
            "`all` users, and users whose outputs were labeled `pass` or `fail`. `curves`: per segment, the "
            "cohort-size-weighted mean of `measure` at each offset over the complete cells (incomplete ones left "
            f"out). `queue` and `question` are a 400 here.\n\n{_RANGE}"
        ),
        parameters=[RetentionQuery],
        responses={200: RetentionOut, **METRICS_ERRORS},
    )
    def get(self, request, *args, **kwargs):
        query = self.query()
        weeks, segment, measure = query["weeks"], query.get("segment"), query["measure"]
        cells = retention_cells(project=self.project, weeks=weeks, segment=segment)
        curves = retention_curves(cells, weeks=weeks, segments=(segment,) if segment else SEGMENTS, measure=measure)
        data = {**self.range_out(weeks), "range_of": "cohorts", "segment": segment, "measure": measure}
        data |= {"results": cells, "curves": curves}
        # RetentionOut describes this body for the schema; a serializer call per cell cost 380 ms at 104 weeks.
        if _written_alike(cells, curves):
            # The bytes JSONRenderer gives for retention_out(data), written by msgspec straight from the selector's
            # rows (dates as ISO dates): 3 ms instead of 70 for the 16k cells of 104 weeks.
            return HttpResponse(_ENCODER.encode(data), content_type="application/json")
        return Response(retention_out(data))


_ENCODER = msgspec.json.Encoder()


def _written_alike(cells: list[dict], curves: dict[str, list[dict]]) -> bool:
    """Whether msgspec writes every float of the body as json.dumps does: the rates are ratios of counts in [0, 1]
    (never NaN), and msgspec differs only below 1e-4 (0.00005, not 5e-05) or from 1e16."""
    rates = [cell[key] for cell in cells for key in ("rate", "rate_on_or_after")]
    rates += [point["rate"] for points in curves.values() for point in points]
    return all(rate is None or rate == 0 or 1e-4 <= rate <= 1 for rate in rates)


class CycleReportView(MetricsView):
    renderer_classes = [renderers.JSONRenderer, MarkdownRenderer]

    @extend_schema(
        operation_id="get_cycle_report",
        summary="A cycle week's report",
        description=(
            'A closed cycle\'s report is served as it was frozen at the close (`"status": "closed"`), its moments '
            "written in UTC with `Z` as every moment of the API (one frozen with `+00:00` is read out with `Z`). For "
            "a week whose cycle is still open the report is built now from the stored metrics and the live agenda "
            '(`"status": "open"`): its figures may still change until the close. Every week of the project that '
            "has started has a report, one without items too (its figures are empty, its changes and themes those "
            "of the outputs sent with its dates); a week that has not started, or that ended before the project was "
            "created (and holds no outputs or review work), is a 404, a malformed week (neither a week label nor a "
            "real day) a 400. A signed-in expert's copy leaves out the failure themes' `examples` and `explore_query` "
            "(experts label blind); an API key reads the whole report.\n\n"
            "`carried_decisions` lists the earlier weeks' decisions still open, as they stood when the report was "
            "frozen (or now, for an open week). `decisions` lists the week's own, each with its status now (`done_on`, "
            "`overdue`), as the meeting page shows them. An open week's report has `freshness`: when its figures "
            "were last computed, the labels saved since, and whether they were computed at all. "
            "`rubrics_published` lists the rubric versions published during the week (oldest first: when, by whom, "
            "what each changed from the version before it, and what it did to the pass rate's question), read now as "
            "the meeting page reads them, not frozen: the week's labels answer more than one version.\n\n"
            "`?format=markdown` (or `Accept: text/markdown`) returns the report and the meeting's decisions as a "
            "Markdown document; errors stay JSON."
        ),
        parameters=[
            OpenApiParameter("week", WEEK_OR_DAY_SCHEMA, OpenApiParameter.PATH, description=WEEK_OR_DAY_HELP),
            ReportQuery,
            OpenApiParameter("format", str, enum=["json", "markdown"], description="`markdown`: a document."),
        ],
        responses={
            (200, "application/json"): ReportOut,
            (200, "text/markdown"): OpenApiTypes.STR,
            # Errors are JSON whatever was asked for.
            **{(code, "application/json"): response for code, response in METRICS_ERRORS.items()},
            (404, "application/json"): OpenApiResponse(
                ErrorsOut, description="No such project or week, or not yours to read."
            ),
        },
    )
    def get(self, request, *args, **kwargs):
        project = self.project
        week = week_of_label_or_day(project, kwargs["week"])
        check_week_of_the_project(project, week)
        found = report_of_week(project=project, week=week)
        report = found.report
        # A key is the project's, not a person's (no membership); a signed-in expert labels blind (an operator who is
        # one of its experts reads as an operator: `caller_of_project`, as the meeting page).
        if labels_blind(self.membership):
            report = blind_report(report, reader=request.user)
        # The week's own decisions with their status now: not frozen, a decision is marked done after its meeting.
        decisions = decisions_of(found.cycle, project=project)
        # The rubric versions published during the week, read now as the meeting page reads them (not frozen).
        published = rubrics_published_data(project, week, cycle=found.cycle, beside=found.beside)
        if request.accepted_renderer.format == MarkdownRenderer.format:
            markdown = report_markdown(
                report,
                decisions,
                min_theme_failures=theme_metrics.MIN_DOCUMENTS,
                time_zone=week_zone(project, found.cycle),
                rubrics_published=published,
            )
            return Response(markdown)
        return Response(ReportOut({**report, "decisions": decisions, "rubrics_published": published}).data)
