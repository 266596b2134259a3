from rest_framework import serializers

from labeling.rules.calendar import no_such_day


class DayField(serializers.DateField):
    """A YYYY-MM-DD date; one of that format that names no day (2026-13-45) says so, not "wrong format"."""

    def to_internal_value(self, value):
        if isinstance(value, str) and (problem := no_such_day(value)):
            raise serializers.ValidationError(problem)
        return super().to_internal_value(value)


class UsageQuery(serializers.Serializer):
    since = DayField(
        required=False, help_text="The first week's earliest start (YYYY-MM-DD); by default 12 weeks before `until`."
    )
    until = DayField(
        required=False,
        help_text="The last week's latest start (YYYY-MM-DD); by default today: the project's, or without `project` the"
        " latest among every project's time zone.",
    )
    project = serializers.SlugField(required=False, max_length=64, help_text="Only this project (its slug).")


class UsageRowOut(serializers.Serializer):
    week = serializers.DateField(help_text="The cycle week's first day, in the project's calendar.")
    project = serializers.CharField(help_text="The project's slug.")
    outputs = serializers.IntegerField(help_text="Outputs that occurred in the week.")
    events = serializers.IntegerField(help_text="Usage events that occurred in the week.")
    storage_bytes = serializers.IntegerField(help_text="Size of the week's output and event rows.")
    labels = serializers.IntegerField(help_text="Labels on the week's items.")
    expert_hours = serializers.FloatField(help_text="Time the experts spent on those labels, in hours.")
    experts_active = serializers.IntegerField(help_text="Experts who gave those labels.")
    ingest_errors = serializers.IntegerField(help_text="Records the project's ingest refused in the week.")
