"""The "what changed" endpoint: its query (`week`, `project`, nothing else) and its response, for the schema."""

from rest_framework import serializers

from api.serializers.metrics import PROJECT_HELP, WEEK_OR_DAY_HELP, WeekOrDayField, read_weeks
from labeling.models import ChangeDimension, ChangeKind
from labeling.selectors.changes import TEST_NAMES


class ChangesQuery(serializers.Serializer):
    """Needs `context["project"]`; `week` becomes the cycle week's first day (absent: None)."""

    project = serializers.SlugField(required=False, help_text=PROJECT_HELP)
    week = WeekOrDayField(help_text=f"{WEEK_OR_DAY_HELP} By default the latest closed week, else the running week.")

    def validate(self, attrs):
        return attrs | read_weeks(self.context["project"], attrs, ("week",))


def _ratio(help_text: str) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text=help_text)


class ChangeOut(serializers.Serializer):
    rank = serializers.IntegerField(help_text="0 is the biggest change.")
    kind = serializers.ChoiceField(choices=ChangeKind.choices)
    dimension = serializers.ChoiceField(choices=ChangeDimension.choices)
    key = serializers.CharField(help_text="The metadata key (metadata slices and medians); empty otherwise.")
    value = serializers.CharField(help_text="The slice's model, tag, metadata value or event name; empty for all.")
    slice = serializers.CharField(help_text='The slice in words, e.g. "model gpt-next", "topic = returns".')
    current = serializers.FloatField(
        help_text="This week: a proportion (current_count / current_total), the volume, or a median."
    )
    baseline = serializers.FloatField(
        help_text="The baseline weeks pooled: a proportion, the volume expected a week, or a median."
    )
    current_count = serializers.IntegerField()
    current_total = serializers.IntegerField()
    baseline_count = serializers.IntegerField()
    baseline_total = serializers.IntegerField()
    baseline_weeks = serializers.IntegerField(help_text="Baseline weeks holding data.")
    partial = serializers.BooleanField(help_text="Computed while the week was running (volume: same elapsed share).")
    test = serializers.ChoiceField(choices=list(TEST_NAMES))
    test_name = serializers.SerializerMethodField(help_text='The test in words, e.g. "two-proportion z test".')
    statistic = serializers.FloatField(help_text="z, U, or the rate ratio of the exact Poisson test.")
    p_value = serializers.FloatField()
    q_value = serializers.FloatField(help_text="Benjamini–Hochberg adjusted over the week's `tests` comparisons.")
    tests = serializers.IntegerField(help_text="Comparisons tried for the week.")
    effect = serializers.FloatField(help_text="current − baseline.")
    relative = _ratio("effect / baseline; null when the baseline is 0 (a new slice).")
    direction = serializers.ChoiceField(choices=["up", "down", "flat"])
    sentence = serializers.CharField(help_text="What changed, in one sentence with its counts.")
    explore_query = serializers.CharField(
        allow_null=True,
        help_text="The explore page's query string for the slice and week (`/p/<project>/explore/?…`); for usage "
        "events, the outputs of the end users who had that event (any event, for all of them) in those days; null "
        "for slices no filter can name.",
    )

    def get_test_name(self, change: dict) -> str:
        # A week closed before the words were stored with its changes has only the identifier.
        return change.get("test_name") or TEST_NAMES.get(change["test"], change["test"])


class ChangesOut(serializers.Serializer):
    project = serializers.CharField()
    week = serializers.CharField(help_text="The cycle week's ISO label.")
    week_start = serializers.DateField()
    status = serializers.ChoiceField(
        choices=["open", "closed"], help_text="`closed`: as frozen by the close; `open`: the last refresh's."
    )
    results = ChangeOut(many=True, help_text="Significant changes, biggest first.")
