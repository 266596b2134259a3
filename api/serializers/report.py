"""A cycle week's report, for the schema: the shape `labeling.selectors.report.build_report` makes and the close
freezes (`close`). The report is served as stored, so a key added to the format later is not required: a report
frozen before it lacks it."""

from rest_framework import serializers

from api.serializers.changes import ChangeOut
from api.serializers.metrics import (
    AgreementRowOut,
    CurvePointOut,
    ExpertWeekOut,
    OneWeekRow,
    QualityRowOut,
    QueueWeekOut,
    ratio_field,
)
from labeling.metrics.agreement import MIN_GOLD_ITEMS
from labeling.reports import GOLD_PART_WORDS

# A key not every report has: one newer than the reports frozen before it, or one only some copies carry (a blind
# copy's, a closed week's `close`).
OPTIONAL = {"required": False}


class HeadlinePassRateOut(serializers.Serializer):
    value = ratio_field("The verdict question's pass rate this week.")
    ci_low = ratio_field()
    ci_high = ratio_field()
    n = serializers.IntegerField()
    passes = serializers.IntegerField(allow_null=True)
    previous = ratio_field("Last week's.")
    change = ratio_field("Null when a side had too few items to compare: see `too_few_to_compare`.")
    too_few_to_compare = serializers.BooleanField(
        help_text="Present (true) when this week or last had fewer items than the minimum: no change is given.",
        **OPTIONAL,
    )
    previous_units = serializers.IntegerField(help_text="With `too_few_to_compare`: last week's items.", **OPTIONAL)


class HeadlineAlphaOut(serializers.Serializer):
    question = serializers.CharField()
    value = ratio_field("Krippendorff's alpha of the verdict question.")
    previous = ratio_field()
    change = ratio_field("Null when a side had too few items to compare: see `too_few_to_compare`.")
    units = serializers.IntegerField()
    too_few_to_compare = serializers.BooleanField(
        help_text="Present (true) when this week or last had fewer items with two labels than the minimum.", **OPTIONAL
    )
    previous_units = serializers.IntegerField(help_text="With `too_few_to_compare`: last week's items.", **OPTIONAL)
    too_few_items = serializers.BooleanField(
        help_text="Present (true) when this week had fewer items with two labels than the minimum: `value` over so "
        "few means nothing, and the meeting page shows none (reports frozen before this key lack it: read `units`).",
        **OPTIONAL,
    )


class HeadlineLabelsOut(serializers.Serializer):
    done = serializers.IntegerField()
    wanted = serializers.IntegerField()
    quota = serializers.IntegerField(
        allow_null=True,
        help_text="Summed over the queues that have one; null when none has (in reports frozen before "
        "`queues_with_quota`, null when any queue had none).",
    )
    items = serializers.IntegerField(**OPTIONAL)
    queues = serializers.IntegerField(help_text="The queues expecting work this week.", **OPTIONAL)
    queues_with_quota = serializers.IntegerField(**OPTIONAL)
    items_in_quota_queues = serializers.IntegerField(help_text="The items the quota caps.", **OPTIONAL)
    previous_done = serializers.IntegerField(
        help_text="Absent in the project's first week: see `first_week`.", **OPTIONAL
    )
    change = serializers.IntegerField(
        allow_null=True,
        help_text="Null while the week runs: see `previous_by_now`. Absent in the first week.",
        **OPTIONAL,
    )
    first_week = serializers.BooleanField(
        help_text="Present (true) in the project's first week: no earlier week to compare with.", **OPTIONAL
    )
    previous_by_now = serializers.IntegerField(
        help_text="While the week runs: last week's labels by the same moment of its week.", **OPTIONAL
    )
    not_computed = serializers.BooleanField(
        help_text="Present (true) in an open week whose figures were never computed: `done` is no figure yet, "
        "`change` null.",
        **OPTIONAL,
    )


class CohortWeek1Out(serializers.Serializer):
    rate = ratio_field()
    returned = serializers.IntegerField()
    users = serializers.IntegerField()


class RateWithIntervalOut(CohortWeek1Out):
    ci_low = ratio_field("The 95% Wilson interval's low end.")
    ci_high = ratio_field()


VERDICTS = ["above", "below", "within"]


class ReferenceWeek1Out(serializers.Serializer):
    rate = ratio_field("The reference curve's rate at week 1.")
    source = serializers.CharField()
    verdict = serializers.ChoiceField(choices=VERDICTS, allow_null=True)


class PastCohortsOut(RateWithIntervalOut):
    cohorts = serializers.IntegerField()
    first_cohort_week = serializers.CharField()
    last_cohort_week = serializers.CharField()
    verdict = serializers.ChoiceField(choices=VERDICTS, allow_null=True)


class Week1ComparisonOut(serializers.Serializer):
    cohort = RateWithIntervalOut()
    reference = ReferenceWeek1Out(allow_null=True)
    past = PastCohortsOut(allow_null=True)


class RetentionWeek1Out(serializers.Serializer):
    def get_fields(self):
        return {
            "cohort_week": serializers.CharField(help_text="Last week: the cohort whose week 1 is this week."),
            "all": CohortWeek1Out(),
            "pass": CohortWeek1Out(),
            "fail": CohortWeek1Out(),
            "previous_all": CohortWeek1Out(),
            "comparison": Week1ComparisonOut(**OPTIONAL),
            "complete": serializers.BooleanField(
                **OPTIONAL,
                help_text="Whether the cohort's week 1 (this report's week) is over and its figures final. False: "
                "the rates count the returns so far (the week still runs, or they were stored before it ended), and "
                "`comparison` has no verdicts. Absent from reports frozen before it existed, all of them final "
                "(frozen after their week ended).",
            ),
            "ends_at": serializers.DateTimeField(
                **OPTIONAL, help_text="When the cohort's week 1 is over (the end of this report's week)."
            ),
        }


class HeadlineOut(serializers.Serializer):
    pass_rate = HeadlinePassRateOut(allow_null=True)
    alpha = HeadlineAlphaOut(allow_null=True)
    labels = HeadlineLabelsOut()
    retention_week1 = RetentionWeek1Out(allow_null=True, required=False)


class ReportQualityOut(OneWeekRow):
    row, left_out = QualityRowOut, ("scale",)


class TrendPointOut(serializers.Serializer):
    week = serializers.CharField()
    week_start = serializers.DateField()
    value = ratio_field("Null for a week without gold answers.")
    ci_low = ratio_field()
    ci_high = ratio_field()
    n = serializers.IntegerField()
    passes = serializers.IntegerField(allow_null=True, **OPTIONAL)
    scale_changed = serializers.BooleanField(help_text="The question was asked otherwise from this week.", **OPTIONAL)


class ReportAgreementOut(OneWeekRow):
    # A frozen report keeps the keys it was frozen with: `alpha_at_interval_level` (the API's clearer name) is not one.
    # Nor `too_few_items`: `units` says it (labeling.metrics.agreement.MIN_UNITS).
    row, left_out = AgreementRowOut, ("pairs", "alpha_at_interval_level", "too_few_items")


class ReportQueueOut(OneWeekRow):
    row = QueueWeekOut


class ReportExpertOut(OneWeekRow):
    row = ExpertWeekOut
    gold_rate = ratio_field(
        "Of the expert's answers on items several experts labeled and that have a gold answer, the share equal to it "
        "(the metrics API's `experts[].gold_rate`): the gold answer is the majority, including the expert's own, so "
        "with two labels per item it is 1.0 unless a lead settled a tie.",
        **OPTIONAL,
    )
    gold_compared = serializers.IntegerField(help_text="The answers `gold_rate` is a share of.", **OPTIONAL)
    gold_items = serializers.IntegerField(
        help_text="The items `gold_rate` stands on: those of the question compared most (reports frozen before this "
        "key lack it).",
        **OPTIONAL,
    )
    too_few_items = serializers.BooleanField(
        help_text=f"Present (true) when `gold_items` is under {MIN_GOLD_ITEMS}: `gold_rate` over so few means nothing, "
        "and the pages show none. The rate is still given, as computed.",
        **OPTIONAL,
    )


class ReportThroughputOut(serializers.Serializer):
    queues = ReportQueueOut(many=True)
    experts = ReportExpertOut(many=True)


class CohortCellOut(serializers.Serializer):
    offset = serializers.IntegerField()
    active_on = serializers.IntegerField()
    rate = ratio_field()
    active_on_or_after = serializers.IntegerField()
    rate_on_or_after = ratio_field()
    incomplete = serializers.BooleanField()


class CohortOut(serializers.Serializer):
    cohort_week = serializers.CharField()
    cohort_start = serializers.DateField()
    users = serializers.IntegerField()
    cells = CohortCellOut(many=True)


class ReferencePointOut(serializers.Serializer):
    week = serializers.IntegerField()
    rate = serializers.FloatField()


class RetentionReferenceOut(serializers.Serializer):
    points = ReferencePointOut(many=True)
    source = serializers.CharField()


class ReportRetentionOut(serializers.Serializer):
    cohorts = CohortOut(many=True, help_text="The last 8 cohorts (segment all).")
    curves = serializers.DictField(child=CurvePointOut(many=True), help_text="Segment → the mean curve.")
    reference = RetentionReferenceOut(allow_null=True, help_text="The lead's expected curve, or null.", **OPTIONAL)


class ThemeExampleOut(serializers.Serializer):
    output = serializers.CharField(help_text="The output's external id.")
    item_id = serializers.IntegerField(allow_null=True)
    excerpt = serializers.CharField()


class ThemeOut(serializers.Serializer):
    rank = serializers.IntegerField()
    key = serializers.CharField()
    terms = serializers.ListField(child=serializers.CharField())
    size = serializers.IntegerField()
    share = serializers.FloatField(help_text="Of the themed failures.")
    failures = serializers.IntegerField()
    themed = serializers.IntegerField()
    examples = ThemeExampleOut(many=True, required=False, help_text="Left out of an expert's blind copy.")
    explore_query = serializers.CharField(
        allow_null=True, required=False, help_text="Left out of an expert's blind copy."
    )


class AdjudicationEntryOut(serializers.Serializer):
    item_id = serializers.IntegerField()
    queue = serializers.CharField()
    queue_name = serializers.CharField(help_text="Absent in a report frozen before it was kept.", **OPTIONAL)
    week = serializers.CharField()
    questions = serializers.ListField(child=serializers.CharField(), help_text="The questions that tie.")
    excerpt = serializers.CharField()


class FlagCommentOut(serializers.Serializer):
    author = serializers.CharField()
    author_id = serializers.IntegerField(**OPTIONAL)
    body = serializers.CharField()
    created_at = serializers.DateTimeField()


class FlagEntryOut(serializers.Serializer):
    flag_id = serializers.IntegerField()
    item_id = serializers.IntegerField()
    queue = serializers.CharField()
    queue_name = serializers.CharField(help_text="Absent in a report frozen before it was kept.", **OPTIONAL)
    expert = serializers.CharField(allow_null=True, help_text="Who flagged it; null in a blind copy.")
    expert_id = serializers.IntegerField(help_text="Left out of a blind copy.", **OPTIONAL)
    note = serializers.CharField(allow_null=True, help_text="Null in a blind copy.")
    created_at = serializers.DateTimeField()
    excerpt = serializers.CharField()
    comments = FlagCommentOut(many=True, help_text="The reader's own only, in a blind copy.")
    expert_hidden = serializers.BooleanField(help_text="A blind copy: who flagged it is left out.", **OPTIONAL)
    note_hidden = serializers.BooleanField(help_text="A blind copy: the note is left out.", **OPTIONAL)
    comments_hidden = serializers.IntegerField(help_text="A blind copy: how many comments are left out.", **OPTIONAL)


class MoverOut(serializers.Serializer):
    tag = serializers.CharField()
    value = serializers.FloatField()
    previous = serializers.FloatField()
    change = serializers.FloatField()
    n = serializers.IntegerField()
    previous_n = serializers.IntegerField()


class AgendaOut(serializers.Serializer):
    adjudication = AdjudicationEntryOut(many=True)
    flags = FlagEntryOut(many=True)
    movers = MoverOut(many=True)


class DatasetBuildOut(serializers.Serializer):
    dataset = serializers.CharField()
    version = serializers.IntegerField(allow_null=True, help_text="Null: nothing changed, or the build failed.")
    error = serializers.CharField(allow_blank=True)


class CloseStepOut(serializers.Serializer):
    step = serializers.CharField()
    seconds = serializers.FloatField()
    lane = serializers.IntegerField(**OPTIONAL)


class CloseOut(serializers.Serializer):
    resolved_items = serializers.IntegerField()
    datasets = DatasetBuildOut(many=True)
    steps = CloseStepOut(many=True)
    wall_seconds = serializers.FloatField(**OPTIONAL)


class DecisionOut(serializers.Serializer):
    """What a meeting decided, as both lists of decisions give it."""

    id = serializers.IntegerField()
    text = serializers.CharField(help_text="What was decided (Markdown, as a lead wrote it).")
    owner = serializers.CharField(allow_blank=True)
    due_date = serializers.DateField(allow_null=True)
    item_id = serializers.IntegerField(allow_null=True, help_text="The item it is about, if any.")
    created_by = serializers.CharField(allow_null=True, help_text="Who recorded it; null for a former member.")
    created_at = serializers.DateTimeField()


class CarriedDecisionOut(DecisionOut):
    week = serializers.CharField(help_text="The week whose meeting made the decision, e.g. `2026-W47`.")
    overdue = serializers.BooleanField(help_text="Due before the day the report was built (frozen: the close).")


class WeekDecisionOut(DecisionOut):
    done_on = serializers.DateField(
        allow_null=True,
        help_text="The day it was marked done, in the week's time zone (a closed week's: the one it was closed in, as "
        "its dates); null while it is open.",
    )
    overdue = serializers.BooleanField(help_text="Open and due before today (the project's date).")


class RubricPublishedOut(serializers.Serializer):
    """A rubric version published during the week, with what it changed from the one before, as the meeting page tells
    it (`selectors.rubrics.rubrics_published_data`)."""

    version = serializers.IntegerField()
    published_at = serializers.DateTimeField()
    by = serializers.CharField(allow_null=True, help_text="Who published it; null: a command, or one since removed.")
    since = serializers.IntegerField(help_text="The version before it: the week's labels answer it before, this after.")
    added = serializers.ListField(child=serializers.CharField(), help_text="The prompts of the questions new in it.")
    changed = serializers.ListField(
        child=serializers.CharField(),
        help_text="The prompts of the questions it asks on another kind, scale or options: answers before and after it "
        "do not compare.",
    )
    dropped = serializers.ListField(child=serializers.CharField(), help_text="The prompts of the questions it dropped.")
    guidelines_changed = serializers.BooleanField()
    verdict = serializers.CharField(allow_null=True, help_text="The prompt of its pass/fail question; null: none.")
    verdict_change = serializers.ChoiceField(
        choices=["none", "same", "changed", "dropped"],
        help_text="What it did to the pass rate's question: `same` (the pass rate reads alike across it), `changed` "
        "(another question, or one asked otherwise), `dropped` (no pass/fail question any more), `none` (neither "
        "version has one).",
    )


class FreshnessOut(serializers.Serializer):
    refreshed_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When the figures were last computed (the project's time zone); null: no finished computation "
        "recorded.",
    )
    labels_since = serializers.IntegerField(
        help_text="Labels on the week's items saved since then (every one of them without a computation): the figures "
        "may leave them out."
    )
    computed = serializers.BooleanField(
        help_text="False when the figures were never computed (no refresh recorded, no rows stored): the zeros and "
        "empty figures are then no figures."
    )


class ComparedAgainOut(serializers.Serializer):
    with_week = serializers.CharField(help_text="The week before, whose final figures the comparison was made from.")
    at = serializers.DateTimeField(help_text="When the comparison was made again (that week's close).")


class TrendRestatedOut(serializers.Serializer):
    weeks = serializers.ListField(
        child=serializers.CharField(), help_text="The weeks whose points were made again from their final figures."
    )
    at = serializers.DateTimeField(help_text="When they were last made again (the close of the latest of them).")


class GoldRestatedOut(serializers.Serializer):
    weeks = serializers.ListField(
        child=serializers.CharField(),
        help_text="The earlier weeks, closed after this one, whose final gold answers "
        "and outputs the parts were made again from.",
    )
    parts = serializers.ListField(
        child=serializers.ChoiceField(choices=list(GOLD_PART_WORDS)),
        help_text="`changes`: what changed; `retention`: the retention figures split by verdict (`pass`, `fail`).",
    )
    at = serializers.DateTimeField(help_text="When they were last made again (the close of the latest of them).")


class ReportOut(serializers.Serializer):
    """A weekly report, served as stored (closed) or as built (open). Declared for the schema only."""

    version = serializers.IntegerField(help_text="The report format's version.")
    project = serializers.CharField()
    project_name = serializers.CharField()
    week = serializers.CharField()
    week_start = serializers.DateField()
    week_end = serializers.DateField(help_text="The week's last day, inclusive.")
    status = serializers.ChoiceField(choices=["open", "closed"], help_text="`open`: built live, may still change.")
    generated_at = serializers.DateTimeField()
    verdict_question = serializers.CharField(allow_null=True, help_text="The rubric's first binary question.")
    compared_again = ComparedAgainOut(
        required=False,
        help_text="Present when the week before closed after this week: the comparison with it (the headline's "
        "previous figures and changes, its point of the pass-rate trend, the movers by tag) was made again from its "
        "final figures. This week's own figures are as frozen.",
    )
    trend_restated = TrendRestatedOut(
        required=False,
        help_text="Present when weeks in this week's pass-rate trend (other than the week before: `compared_again`) "
        "closed after it: their points were made again from their final figures, as a close in order has them. This "
        "week's own figures are as frozen.",
    )
    gold_restated = GoldRestatedOut(
        required=False,
        help_text="Present when weeks this week's `changes` compares it with, or whose users its retention splits by "
        "verdict, closed after it: those parts were made again from the stored rows with their final gold answers, "
        "as a close in order has them. This week's own figures are as frozen.",
    )
    headline = HeadlineOut(
        help_text="pass_rate, alpha, labels and retention_week1, with last week's. retention_week1.comparison: this "
        "week's cohort's week-1 rate with its 95% Wilson interval (`cohort`), the project's retention reference at "
        "week 1 (`reference`) and the pooled mean of the 8 cohorts before it (`past`); a verdict is above / below "
        "(the cohort's whole interval is) or within, null while the cohort's week 1 is not `complete` (a partial "
        "figure is compared with no complete one). Absent from reports frozen before it existed."
    )
    quality = ReportQualityOut(many=True)
    pass_rate_trend = TrendPointOut(
        many=True,
        help_text="The verdict question's pass rate in each of the 12 weeks up to this one, oldest first; a week "
        "without gold answers has `value` null. Reports frozen before this format list only weeks with a value.",
    )
    agreement = ReportAgreementOut(many=True)
    throughput = ReportThroughputOut()
    retention = ReportRetentionOut()
    changes = ChangeOut(many=True, help_text="The week's significant changes, biggest first.", **OPTIONAL)
    themes = ThemeOut(many=True, help_text="The week's failure themes, biggest first.", **OPTIONAL)
    agenda = AgendaOut(
        help_text="A flag names who flagged it by username (`expert`) and user id (`expert_id`), a comment its author "
        "(`author`, `author_id`); reports frozen before the ids were kept have names only. A signed-in expert's copy "
        "leaves out another person's name, id, flag note and comments on an item they have not labeled: the flag "
        "then has `expert` and `note` null, no `expert_id`, `expert_hidden` and `note_hidden` true, and "
        "`comments_hidden` (how many)."
    )
    carried_decisions = CarriedDecisionOut(
        many=True,
        help_text="Decisions of earlier weeks' meetings not marked done, soonest due first (undated last): in a closed "
        "report as they stood at the close (one marked done since stays listed), in an open one as they are now. "
        "Absent from reports frozen before it existed.",
        **OPTIONAL,
    )
    freshness = FreshnessOut(
        help_text="An open week's only (not a frozen report's, nor a week's before the project): how current its "
        "figures are. Where `computed` is false, `headline.labels` has `not_computed` true and `change` null (absent "
        "in the first week).",
        **OPTIONAL,
    )
    decisions = WeekDecisionOut(
        many=True,
        help_text="The week's own decisions, oldest first, each with its status now (not frozen: a decision is marked "
        "done after its meeting), as the meeting page shows them.",
    )
    rubrics_published = RubricPublishedOut(
        many=True,
        help_text="The rubric versions published during the week, oldest first (read now, not frozen): the week's "
        "labels answer the version before each and that version after it, as the meeting page says.",
    )
    close = CloseOut(help_text="What the close did: only in a report frozen by the close.", **OPTIONAL)

    def to_representation(self, report):
        # The report is served as it was frozen (or built): no field is added, dropped or reformatted here (its moments
        # are written with `Z` by the selector, `report_of_week`).
        return report
