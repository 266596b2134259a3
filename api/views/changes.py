"""What changed in a cycle week: the significant changes over all outputs and events (issue 14)."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from api.serializers.changes import ChangesOut, ChangesQuery
from api.views.metrics import METRICS_ERRORS, MetricsView
from labeling.selectors.changes import changes_of_week
from labeling.selectors.report import check_week_of_the_project, week_to_discuss


class ChangesView(MetricsView):
    query_class = ChangesQuery

    @extend_schema(
        operation_id="get_week_changes",
        summary="What changed in a cycle week",
        description=(
            "The week's outputs and usage events, all of them, against the weeks before: volume, thumbs-down and "
            "comment shares, output length, numeric metadata medians, and per slice (model, tag, metadata value, "
            "event name) its share, thumbs-down rate and gold pass rate. Listed: changes whose Benjamini–Hochberg "
            "q value is within the FDR and whose effect is big enough, biggest first, each with its counts and "
            "test. A closed week answers what its close froze; an open one what the last hourly refresh stored.\n\n"
            "`week` is a week label (`2026-W48`) or a day of the week (`2026-11-26`); it defaults to the latest closed "
            "week, else the running week. A malformed week or an unknown "
            "parameter is a 400 naming it; a week that has not started, or that ended before the project was created "
            "(and holds no outputs or review work), is a 404."
        ),
        parameters=[ChangesQuery],
        responses={200: ChangesOut, **METRICS_ERRORS},
    )
    def get(self, request, *args, **kwargs):
        query = self.query()
        week = query.get("week") or week_to_discuss(self.project)
        check_week_of_the_project(self.project, week)
        return Response(ChangesOut(changes_of_week(project=self.project, week=week)).data)
