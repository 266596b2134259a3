from collections.abc import Iterable
from datetime import date

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.parameters import QueryBooleanField, choice_parameter
from labeling.exceptions import InvalidInput, InvalidWeek
from labeling.metrics.agreement import MIN_GOLD_ITEMS, MIN_UNITS
from labeling.metrics.quality import MEASURED_KINDS as QUALITY_KINDS
from labeling.metrics.retention import MEASURES, MIN_USERS
from labeling.models import Project
from labeling.rules.calendar import WEEK_OR_DAY_PATTERN, week_of_label_or_day
from labeling.selectors.metrics import DEFAULT_WEEKS, week_range
from labeling.selectors.metrics_api import SEGMENTS, question_of_project, queue_of_project

PROJECT_HELP = "The project's slug. Required with a signed-in session; optional with an API key (it must be the key's)."
# Every parameter of the API that names a week (here, the labels export, the changes, a week's report) takes this.
WEEK_OR_DAY_HELP = (
    "An ISO week label such as `2026-W48` (the project's cycle week starting in that ISO week), or a date such as "
    "`2026-11-26` (the project's cycle week holding that day)."
)

# Query parameters ---------------------------------------------------------------------------------------

WEEK_OR_DAY_SCHEMA = {"type": "string", "pattern": WEEK_OR_DAY_PATTERN}


@extend_schema_field(WEEK_OR_DAY_SCHEMA)
class WeekOrDayField(serializers.CharField):
    """A week label or a date (YYYY-MM-DD). The serializer reads it with `read_weeks` (week_of_label_or_day, whose
    refusal says what is wrong with it): the project's calendar decides which cycle week holds a day."""

    def __init__(self, **kwargs):
        super().__init__(required=False, max_length=16, **kwargs)


def read_weeks(project: Project, attrs: dict, names: Iterable[str]) -> dict[str, date]:
    """The cycle weeks that the WeekOrDayFields `names` given in `attrs` name; a refusal is a 400 naming the field."""
    weeks = {}
    for name in names:
        if name in attrs:
            try:
                weeks[name] = week_of_label_or_day(project, attrs[name])
            except InvalidWeek as exc:
                raise serializers.ValidationError({name: exc.message}) from None
    return weeks


def queue_field(help_text: str = "Only this queue (its slug); an unknown slug is a 400 listing the queues."):
    return serializers.SlugField(required=False, max_length=64, help_text=help_text)


class MetricsQuery(serializers.Serializer):
    """`from`, `to` and `project`, shared by every metrics endpoint; needs `context["project"]`."""

    # Parameters another metrics endpoint takes that make no sense here: refused with this reason (api.parameters).
    not_here: dict[str, str] = {}

    def get_fields(self):
        # `from` is a Python keyword, so the fields cannot be class attributes.
        return {
            "project": serializers.SlugField(required=False, help_text=PROJECT_HELP),
            "from": WeekOrDayField(
                help_text=f"{WEEK_OR_DAY_HELP} The first week; by default {DEFAULT_WEEKS} weeks up to `to`, from the "
                "project's first week if that is later."
            ),
            "to": WeekOrDayField(help_text=f"{WEEK_OR_DAY_HELP} The last week; by default the current one."),
            **self.extra_fields(),
        }

    def extra_fields(self) -> dict:
        return {}

    def validate(self, attrs):
        project = self.context["project"]
        weeks = read_weeks(project, attrs, ("from", "to"))
        if "queue" in attrs:
            try:
                attrs["queue"] = queue_of_project(project, attrs["queue"])
            except InvalidInput as exc:
                raise serializers.ValidationError({"queue": exc.message}) from None
        if "question" in attrs:
            try:
                attrs["question"] = question_of_project(
                    project, attrs["question"], measured=self.measured_kinds, metric=self.metric
                )
            except InvalidInput as exc:
                raise serializers.ValidationError({"question": exc.message}) from None
        try:
            attrs["weeks"] = week_range(project=project, first=weeks.get("from"), last=weeks.get("to"))
        except InvalidInput as exc:
            # Backwards or too long: `from` is at fault (a default `from` is never after `to`, nor too early).
            raise serializers.ValidationError({"from": exc.message}) from None
        return attrs


class QuestionFilter(MetricsQuery):
    # The kinds of question the metric has rows for (None: every kind; agreement's experts table compares every
    # kind with the gold), and its name, said by the 400 for another kind.
    measured_kinds: tuple[str, ...] | None = None
    metric = ""

    def extra_fields(self) -> dict:
        return {
            "question": serializers.CharField(
                required=False,
                max_length=64,
                help_text="Only this rubric question (its key, of any rubric version); an unknown key, or in quality "
                "a text or correction question (it has no rows), is a 400 listing the questions it takes.",
            )
        }


class QualityQuery(QuestionFilter):
    measured_kinds = QUALITY_KINDS
    metric = "quality"

    def extra_fields(self) -> dict:
        return {
            "queue": queue_field(),
            **super().extra_fields(),
            "pooled": QueryBooleanField(
                default=False,
                help_text="`true`: the queues pooled, a row per week and yes/no or rating question with `queue` null "
                "(the weekly report's headline rule). Not with `queue`.",
            ),
        }

    def validate(self, attrs):
        if attrs.get("pooled") and "queue" in attrs:
            raise serializers.ValidationError({"pooled": "`pooled` pools every queue: leave out `queue`."})
        return super().validate(attrs)


class AgreementQuery(QuestionFilter):
    not_here = {"queue": "Agreement is computed over all of a week's items: `queue` does not apply here."}


class ThroughputQuery(MetricsQuery):
    not_here = {"question": "Throughput is counted in labels, not per question: `question` does not apply here."}

    def extra_fields(self) -> dict:
        return {"queue": queue_field("Only this queue's rows in `queues` (expert weeks span all queues).")}


class RetentionQuery(MetricsQuery):
    not_here = {
        "queue": "Retention is of the project's end users: `queue` does not apply here.",
        "question": "Retention is of the project's end users: `question` does not apply here.",
    }

    def get_fields(self):
        # Here `from` and `to` bound the cohorts (as Amplitude's and Mixpanel's retention do), not the activity.
        fields = super().get_fields()
        fields["from"].help_text = (
            f"{WEEK_OR_DAY_HELP} The first cohort: users first active from this week on. By default {DEFAULT_WEEKS} "
            "weeks up to `to`, from the project's first week if that is later."
        )
        fields["to"].help_text = (
            f"{WEEK_OR_DAY_HELP} The last cohort: users first active up to this week. It bounds the cohorts, not the "
            "weeks of activity: each cohort's cells run on to the current week (`activity_week`). By default the "
            "current week."
        )
        return fields

    def extra_fields(self) -> dict:
        return {
            "segment": choice_parameter(
                SEGMENTS,
                "segment",
                required=False,
                help_text="Only this segment: `all` users, or users whose outputs were labeled `pass` or `fail`. "
                "By default every segment.",
            ),
            "measure": choice_parameter(
                MEASURES,
                "measure",
                default="active_on",
                help_text="What the curves average: users active in week k (`active_on`) or in week k or later "
                "(`active_on_or_after`). The cells always carry both.",
            ),
        }


class ReportQuery(serializers.Serializer):
    project = serializers.SlugField(required=False, help_text=PROJECT_HELP)


# Responses ----------------------------------------------------------------------------------------------


def _week_fields() -> dict:
    return {
        "week": serializers.CharField(help_text="The cycle's ISO week label, e.g. `2026-W48`."),
        "week_start": serializers.DateField(help_text="The cycle week's first day."),
        "week_status": serializers.ChoiceField(
            choices=["closed", "open"],
            help_text="`closed`: the week's close froze the row. `open`: the week is running or not closed yet; the "
            "row is provisional, recomputed until the close (as a report's `status`).",
        ),
    }


class OneWeekRow(serializers.Serializer):
    """A row of the metrics API (`row`) as a weekly report holds it: without its week fields (the report is of one
    week) nor `left_out`; a subclass may declare fields of its own beside them (`api.serializers.report`)."""

    row: type[serializers.Serializer]
    left_out: tuple[str, ...] = ()

    def get_fields(self):
        leave = {*_week_fields(), *self.left_out}
        kept = {name: field for name, field in self.row().get_fields().items() if name not in leave}
        return kept | super().get_fields()


def ratio_field(help_text: str = "", **kwargs) -> serializers.FloatField:
    """A share or rate, null when undefined (the report's fields too: `api.serializers.report`)."""
    return serializers.FloatField(allow_null=True, help_text=help_text or "Null when undefined (no data).", **kwargs)


class _RangeOut(serializers.Serializer):
    """The project and the weeks answered for, then the endpoint's lists."""

    def get_fields(self):
        return {
            "project": serializers.CharField(help_text="The project's slug."),
            "from": serializers.CharField(help_text="The first week answered for."),
            "to": serializers.CharField(help_text="The last week answered for."),
            **self.lists(),
        }

    def lists(self) -> dict:
        raise NotImplementedError


class ShareOut(serializers.Serializer):
    count = serializers.IntegerField()
    share = serializers.FloatField(help_text="Of the items answered.")


class QualityRowOut(serializers.Serializer):
    def get_fields(self):
        return {
            **_week_fields(),
            "queue": serializers.CharField(allow_null=True, help_text="The queue's slug; null in a pooled row."),
            "queue_name": serializers.CharField(allow_null=True),
            "question": serializers.CharField(help_text="The rubric question's key."),
            "kind": serializers.CharField(help_text="binary, rating, choice or multi_choice."),
            "n": serializers.IntegerField(help_text="Items with a gold answer to the question."),
            "passes": serializers.IntegerField(allow_null=True, help_text="binary: items whose gold answer is pass."),
            "value": ratio_field("binary: the pass rate (passes / n); rating: the mean. Null for choices."),
            "ci_low": ratio_field("The 95% interval's low end: Wilson for pass rates, Student t for means."),
            "ci_high": ratio_field("The 95% interval's high end."),
            "shares": serializers.DictField(child=ShareOut(), help_text="choice / multi_choice: option → share."),
            "scale": serializers.CharField(
                allow_blank=True,
                help_text=(
                    "How the rubric asked the question for this row: its kind with a rating's scale ('rating 1-5') or "
                    "a fingerprint of a choice's options. Rows of one question with different scales do not compare "
                    "(a rescaled rating); empty for rows stored before the scale was recorded."
                ),
            ),
        }


class QualityOut(_RangeOut):
    def lists(self) -> dict:
        return {"results": QualityRowOut(many=True, help_text="Ordered by week, queue and question.")}


class PairOut(serializers.Serializer):
    a = serializers.CharField(allow_null=True, help_text="An expert's username.")
    b = serializers.CharField(allow_null=True, help_text="The other expert's username.")
    kappa = ratio_field("Cohen's kappa of the two (weighted for ratings).")
    n = serializers.IntegerField(allow_null=True, help_text="Units both labeled.")


class AgreementRowOut(serializers.Serializer):
    def get_fields(self):
        return {
            **_week_fields(),
            "question": serializers.CharField(),
            "kind": serializers.CharField(),
            "level": serializers.CharField(help_text="Krippendorff's alpha level: nominal or ordinal."),
            "alpha": ratio_field("Krippendorff's alpha at `level`."),
            "alpha_interval": ratio_field(
                "Not a confidence interval: Krippendorff's alpha again, computed at the interval level of measurement "
                "(differences between ratings weighed by their size). Rating questions only, null otherwise. Kept "
                "for existing clients; the same value as `alpha_at_interval_level`."
            ),
            "alpha_at_interval_level": ratio_field(
                "Krippendorff's alpha at the interval level of measurement, for rating questions (null otherwise): "
                "a second alpha beside `alpha` (ordinal for ratings), not an interval around it. Also served as "
                "`alpha_interval`."
            ),
            "fleiss_kappa": ratio_field(),
            "cohen_kappa": ratio_field("The mean of the pairwise kappas."),
            "pairs": PairOut(many=True),
            "units": serializers.IntegerField(help_text="Items with two or more labels."),
            "too_few_items": serializers.BooleanField(
                help_text=f"True when `units` is under {MIN_UNITS}: alpha and the kappas over so few items mean "
                "nothing (over one item alpha is 0 or null), and the dashboard and meeting page show none. The numbers "
                "are still given, as computed."
            ),
            "labels": serializers.IntegerField(),
            "experts": serializers.IntegerField(),
        }


class GoldCountOut(serializers.Serializer):
    agree = serializers.IntegerField()
    compared = serializers.IntegerField()
    rate = ratio_field()


class ExpertGoldOut(serializers.Serializer):
    def get_fields(self):
        return {
            **_week_fields(),
            "expert": serializers.CharField(help_text="The expert's username."),
            "gold_rate": ratio_field(
                "`agree` / `compared`: the share of the expert's answers equal to the item's gold answer, on items "
                "that several experts labeled and that have a gold answer. The gold answer is the experts' majority, "
                "including their own answer, unless a lead adjudicated it; a tie gives no gold, so it is not "
                "compared. With two labels per item the rate is therefore 1.0 unless a lead settled a tie: both "
                "agree (a gold answer both match) or they differ (a tie, left out). It measures agreement with the "
                "consensus, not accuracy against an independent key. Null when nothing was compared."
            ),
            "agree": serializers.IntegerField(help_text="Answers equal to the gold answer."),
            "compared": serializers.IntegerField(
                help_text="Answers on items with two or more labels and a gold answer (ties are not compared)."
            ),
            "items": serializers.IntegerField(
                help_text="The items `gold_rate` stands on: those of the question compared most (an expert answers "
                "each question of an item once)."
            ),
            "too_few_items": serializers.BooleanField(
                help_text=f"True when `items` is under {MIN_GOLD_ITEMS}: `gold_rate` over so few items means nothing "
                "(over one item it is 0 or 1), and the pages show none. The numbers are still given, as computed."
            ),
            "questions": serializers.DictField(child=GoldCountOut(), help_text="Question key → counts."),
        }


class AgreementOut(_RangeOut):
    def lists(self) -> dict:
        return {
            "results": AgreementRowOut(many=True, help_text="Ordered by week and question."),
            "experts": ExpertGoldOut(many=True, help_text="Agreement with the gold answers, by week and expert."),
        }


class QueueWeekOut(serializers.Serializer):
    def get_fields(self):
        return {
            **_week_fields(),
            "queue": serializers.CharField(),
            "queue_name": serializers.CharField(),
            "quota": serializers.IntegerField(allow_null=True, help_text="The weekly quota; null for none."),
            "items": serializers.IntegerField(),
            "items_complete": serializers.IntegerField(),
            "labels": serializers.IntegerField(),
            "labels_wanted": serializers.IntegerField(),
            "backlog": serializers.IntegerField(help_text="Labels still wanted on the week's items."),
            "median_seconds": ratio_field("Median seconds per label."),
        }


class ExpertWeekOut(serializers.Serializer):
    def get_fields(self):
        return {
            **_week_fields(),
            "expert": serializers.CharField(help_text="The expert's username."),
            "labels": serializers.IntegerField(),
            "skips": serializers.IntegerField(),
            "flags": serializers.IntegerField(),
            "median_seconds": ratio_field("Median seconds per label."),
        }


class ThroughputOut(_RangeOut):
    def lists(self) -> dict:
        return {
            "queues": QueueWeekOut(many=True, help_text="Ordered by week and queue."),
            "experts": ExpertWeekOut(many=True, help_text="Ordered by week and username."),
        }


class RetentionCellOut(serializers.Serializer):
    segment = serializers.ChoiceField(choices=list(SEGMENTS))
    cohort = serializers.CharField(help_text="The cohort's week label: the week its users were first active.")
    cohort_week = serializers.DateField(help_text="The cohort week's first day.")
    offset = serializers.IntegerField(help_text="Weeks after the cohort week.")
    activity_week = serializers.CharField(
        help_text="The week label of the week the cell counts activity in (cohort + offset); it may be after `to`, "
        "which bounds the cohorts."
    )
    cohort_users = serializers.IntegerField()
    active_on = serializers.IntegerField(help_text="Cohort users active in week cohort + offset.")
    active_on_or_after = serializers.IntegerField(help_text="Cohort users active in that week or any later one.")
    rate = ratio_field("active_on / cohort_users.")
    rate_on_or_after = ratio_field("active_on_or_after / cohort_users.")
    incomplete = serializers.BooleanField(help_text="The cell's week has not ended yet.")


class CurvePointOut(serializers.Serializer):
    offset = serializers.IntegerField()
    rate = ratio_field("returned / users.")
    returned = serializers.IntegerField()
    users = serializers.IntegerField(
        help_text=f"The cohort users the rate is over. Under {MIN_USERS} the rate means nothing (1 of 1 is 1.0): the "
        "meeting page and the dashboard draw no point and say too few users. The rate is still given, as computed."
    )
    cohorts = serializers.IntegerField(help_text="Complete cells averaged.")


class RetentionOut(_RangeOut):
    def lists(self) -> dict:
        return {
            "range_of": serializers.ChoiceField(
                choices=["cohorts"],
                help_text="What `from` and `to` bound: the cohorts (the week their users were first active), not the "
                "weeks of activity; each cohort's cells run on to the current week.",
            ),
            "segment": serializers.CharField(allow_null=True, help_text="The segment asked for; null for all."),
            "measure": serializers.ChoiceField(choices=list(MEASURES)),
            "results": RetentionCellOut(many=True, help_text="Ordered by segment, cohort week and offset."),
            "curves": serializers.DictField(
                child=CurvePointOut(many=True),
                help_text="Segment → the cohort-size-weighted mean per offset over the complete cells of the "
                "cohorts in range, from offset 0.",
            ),
        }


def retention_out(data: dict) -> dict:
    """`RetentionOut(data).data` built as plain dicts: same keys in the same order, same values and types.

    The retention grid has a cell per segment, cohort and offset (16k at 104 weeks); one serializer call per
    cell made the endpoint quadratic in weeks. `RetentionOut` stays as the schema; a test holds the two equal.
    """
    return {
        "project": data["project"],
        "from": data["from"],
        "to": data["to"],
        "range_of": data["range_of"],
        "segment": data["segment"],
        "measure": data["measure"],
        # The selector's cells already carry RetentionCellOut's keys in its order; only the date is rendered.
        "results": [{**cell, "cohort_week": cell["cohort_week"].isoformat()} for cell in data["results"]],
        "curves": {
            segment: [
                {
                    "offset": point["offset"],
                    "rate": point["rate"],
                    "returned": point["returned"],
                    "users": point["users"],
                    "cohorts": point["cohorts"],
                }
                for point in points
            ]
            for segment, points in data["curves"].items()
        },
    }
