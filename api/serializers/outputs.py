from rest_framework import serializers

from labeling.models import Output


class FeedbackOut(serializers.Serializer):
    score = serializers.IntegerField(source="feedback_score")
    comment = serializers.CharField(source="feedback_comment")
    at = serializers.DateTimeField(source="feedback_at")


class OutputOut(serializers.ModelSerializer):
    feedback = serializers.SerializerMethodField()

    class Meta:
        model = Output
        fields = [
            "external_id", "occurred_at", "received_at", "end_user_id", "session_id", "model", "input",
            "output", "context", "metadata", "tags", "feedback", "redaction_version",
        ]  # fmt: skip

    def get_feedback(self, output: Output) -> dict | None:
        return None if output.feedback_score is None else FeedbackOut(output).data


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
