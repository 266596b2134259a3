"""The project's annotation schema for engineers: its rubric and its queues, who may read them as for the metrics
(api.views.metrics.MetricsView): a `read` key its own project, a signed-in member of any role with `?project=`."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response

from api.serializers.annotation import ProjectQuery, QueuesOut, RubricOut, RubricQuery
from api.serializers.outputs import ErrorsOut
from api.views.metrics import METRICS_ERRORS, MetricsView
from labeling.selectors.queues import queues_with_open_items
from labeling.selectors.rubrics import rubric_for_api


class RubricView(MetricsView):
    query_class = RubricQuery
    project_operators = False  # the members' (the rubric's page is a lead's screen)

    @extend_schema(
        operation_id="get_rubric",
        summary="The project's rubric: a version's questions, and every published version",
        description=(
            "The current version (or `?version=N`) with its guidelines and questions, every field spelt out: "
            "`key`, `kind`, `prompt`, `required`, `help`, `options` (choices) and `scale` (ratings; null for "
            "the other kinds). `versions` lists each published version, newest first, by number and date. A "
            "version is never edited: a change is a new version, and each label keeps the version it answered. "
            "A project without a rubric, or a version never published, is a 404."
        ),
        parameters=[RubricQuery],
        responses={
            200: RubricOut,
            **METRICS_ERRORS,
            404: OpenApiResponse(ErrorsOut, description="No such project or rubric version, or not yours to read."),
        },
    )
    def get(self, request, *args, **kwargs):
        rubric = rubric_for_api(self.project, self.query().get("version"))
        return Response(RubricOut({"project": self.project.slug, **rubric}).data)


class QueuesView(MetricsView):
    query_class = ProjectQuery
    project_operators = False  # the members' (the queues' page is a lead's screen)

    @extend_schema(
        operation_id="list_queues",
        summary="The project's queues and how many items wait in each",
        description=(
            "Every queue, paused ones too (`active`: false), highest priority first: its settings and "
            "`items_open`, its items still wanting labels. Who may label in a queue is not listed."
        ),
        parameters=[ProjectQuery],
        responses={200: QueuesOut, **METRICS_ERRORS},
    )
    def get(self, request, *args, **kwargs):
        self.query()
        queues = queues_with_open_items(self.project)
        return Response(QueuesOut({"project": self.project.slug, "results": queues}).data)
