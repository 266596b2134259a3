from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.annotation import GoldAnswerOut, answers_field
from labeling.models import Output


class FeedbackOut(serializers.Serializer):
    score = serializers.IntegerField(source="feedback_score", help_text="-1 (thumbs down), 0 or 1 (thumbs up).")
    comment = serializers.CharField(source="feedback_comment", help_text="Empty when none was sent.")
    at = serializers.DateTimeField(source="feedback_at")


def any_json(help_text: str) -> serializers.JSONField:
    """A stored JSON value as sent, null included. Not allow_null: drf-spectacular writes a nullable any-value as
    `oneOf: [{}, {"type": "null"}]`, which a null matches twice (so fails); the schema `{}` already admits null."""
    return serializers.JSONField(required=False, help_text=help_text)


class OutputOut(serializers.ModelSerializer):
    input = any_json("As sent: a string or a list of messages; null when not sent.")
    context = any_json("As sent: any JSON; null when not sent.")
    tags = serializers.ListField(child=serializers.CharField(), help_text="As sent.")
    feedback = serializers.SerializerMethodField(help_text="The end user's feedback; null when none was sent.")

    class Meta:
        model = Output
        fields = [
            "external_id", "occurred_at", "received_at", "end_user_id", "session_id", "model", "input",
            "output", "context", "metadata", "tags", "feedback", "redaction_version",
        ]  # fmt: skip

    @extend_schema_field(FeedbackOut(allow_null=True))
    def get_feedback(self, output: Output) -> dict | None:
        return None if output.feedback_score is None else FeedbackOut(output).data


class ItemLabelOut(serializers.Serializer):
    annotator = serializers.CharField(help_text="A pseudonym, stable within the project (the datasets' too).")
    answers = answers_field(help_text="Question key → the expert's answer.")
    rubric_version = serializers.IntegerField(help_text="The rubric version the expert answered.")
    labeled_at = serializers.DateTimeField(help_text="The last edit of the answers.")
    seconds_spent = serializers.IntegerField()


class ItemSkipOut(serializers.Serializer):
    annotator = serializers.CharField()
    reason = serializers.CharField()
    at = serializers.DateTimeField()


class ItemFlagOut(serializers.Serializer):
    annotator = serializers.CharField()
    note = serializers.CharField()
    at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)


class ItemGoldOut(serializers.Serializer):
    status = serializers.CharField(
        allow_null=True, help_text="`resolved`, `needs_adjudication` (a tie waits for a lead), or null: not resolved."
    )
    answers = serializers.DictField(
        child=GoldAnswerOut(),
        help_text='Question key → {"value", "method"}: the gold answers (a lead\'s `adjudicated` ones win; a tie '
        "is left out), as in the datasets' `label`.",
    )
    open_ties = serializers.ListField(child=serializers.CharField(), help_text="Questions tied, waiting for a lead.")


class OutputItemOut(serializers.Serializer):
    """The output in one queue: the item its experts label."""

    id = serializers.IntegerField()
    queue = serializers.CharField(help_text="The queue's slug.")
    queue_name = serializers.CharField()
    week = serializers.CharField(help_text="The cycle week whose quota it counts against, e.g. `2026-W47`.")
    status = serializers.CharField(help_text="`open` while labels are missing, then `complete`.")
    overlap = serializers.IntegerField(help_text="Labels wanted.")
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    labels = ItemLabelOut(many=True, required=False, help_text="With `include=labels`.")
    skips = ItemSkipOut(many=True, required=False, help_text="With `include=labels`: experts who skipped it.")
    flags = ItemFlagOut(many=True, required=False, help_text="With `include=labels`: raised for the review meeting.")
    gold = ItemGoldOut(required=False, help_text="With `include=gold`.")


class OutputDetailOut(OutputOut):
    items = OutputItemOut(many=True, source="items_shown", help_text="Its routing: the queues it is in, oldest first.")

    class Meta(OutputOut.Meta):
        fields = [*OutputOut.Meta.fields, "items"]


class IngestResultOut(serializers.Serializer):
    created = serializers.IntegerField(help_text="Records stored by this request.")
    duplicates = serializers.IntegerField(help_text="Records already stored with the same content.")
    conflicts = serializers.IntegerField(help_text="Records whose id is stored with other content; not changed.")
    conflict_ids = serializers.ListField(child=serializers.CharField(), help_text="The conflicting external ids.")


class FeedbackResultOut(serializers.Serializer):
    updated = serializers.IntegerField()
    not_found = serializers.ListField(child=serializers.CharField(), help_text="External ids with no stored output.")


class ErrorOut(serializers.Serializer):
    index = serializers.IntegerField(allow_null=True, help_text="The record's position in the batch.")
    field = serializers.CharField(allow_null=True, help_text="The field at fault, as a path.")
    message = serializers.CharField()


class ErrorsOut(serializers.Serializer):
    errors = ErrorOut(many=True)
