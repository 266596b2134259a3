import msgspec
from rest_framework import serializers

from labeling.models import Dataset, DatasetVersion
from labeling.selectors.datasets import LATEST
from labeling.services.exports import FORMATS


class DatasetOut(serializers.ModelSerializer):
    splits = serializers.DictField(child=serializers.IntegerField(), help_text="Split name → share in percent.")
    latest_version = serializers.IntegerField(allow_null=True, help_text="The newest ready version's number.")

    class Meta:
        model = Dataset
        fields = [
            "slug", "name", "description", "only_resolved", "splits", "auto_rebuild", "latest_version", "created_at",
        ]  # fmt: skip


class VersionOut(serializers.ModelSerializer):
    split_counts = serializers.DictField(child=serializers.IntegerField(), help_text="Rows per split.")
    rubric_versions = serializers.ListField(child=serializers.IntegerField())

    class Meta:
        model = DatasetVersion
        fields = [
            "number", "status", "row_count", "split_counts", "sha256", "rubric_versions", "cycle_week", "created_at",
            "built_at", "withdrawn_at", "withdrawn_note",
        ]  # fmt: skip


class MessageOut(serializers.Serializer):
    role = serializers.CharField()
    content = serializers.CharField()


class AnnotationOut(serializers.Serializer):
    annotator = serializers.CharField(help_text="A pseudonym, stable within the project.")
    rubric_version = serializers.IntegerField()
    answers = serializers.DictField()


class RowOut(serializers.Serializer):
    """One canonical row. Declared for the schema; the row itself is its stored line, parsed."""

    id = serializers.CharField(help_text="Your external_id of the output.")
    split = serializers.CharField()
    input = MessageOut(many=True)
    output = serializers.CharField()
    expected_output = serializers.CharField(allow_null=True, help_text="The gold correction, if any.")
    label = serializers.DictField(help_text='Question key → {"value", "method"}: the gold answer.')
    annotations = AnnotationOut(many=True)
    metadata = serializers.DictField()
    tags = serializers.ListField(child=serializers.CharField())
    model = serializers.CharField()
    rubric_version = serializers.IntegerField()
    occurred_at = serializers.DateTimeField()
    labeled_at = serializers.DateTimeField()

    def to_representation(self, row):
        # The stored line is the row: serving it as parsed keeps the API and the downloads identical.
        return msgspec.json.decode(row.line)


class RowsQuery(serializers.Serializer):
    split = serializers.CharField(required=False, help_text="Only rows of this split, e.g. `train`.")

    def validate_split(self, split: str) -> str:
        allowed = self.context["splits"]
        if split not in allowed:
            raise serializers.ValidationError(f"Unknown split {split!r}. This dataset's splits: {', '.join(allowed)}.")
        return split


class DownloadQuery(serializers.Serializer):
    format = serializers.ChoiceField(choices=list(FORMATS), default="jsonl")


class VersionRefField(serializers.CharField):
    """A version number, or `latest` for the newest ready version."""

    def to_internal_value(self, data) -> str:
        value = super().to_internal_value(data)
        if value != LATEST and not (value.isascii() and value.isdigit() and 0 < int(value) < 10**9):
            raise serializers.ValidationError(f"Give a version number or `{LATEST}`.")
        return value


class DiffQuery(serializers.Serializer):
    def get_fields(self):
        # `from` is a Python keyword, so the fields cannot be class attributes.
        return {
            "from": serializers.IntegerField(min_value=1, max_value=10**9 - 1, help_text="The older version."),
            "to": VersionRefField(default=LATEST, help_text="The newer version (a number or `latest`)."),
        }


class DiffOut(serializers.Serializer):
    def get_fields(self):
        def ids(help_text: str) -> serializers.ListField:
            return serializers.ListField(child=serializers.CharField(), help_text=help_text)

        return {
            "from": serializers.IntegerField(),
            "to": serializers.IntegerField(),
            "added": ids("External ids in `to` only, sorted."),
            "removed": ids("External ids in `from` only, sorted."),
            "changed": ids("External ids in both whose rows differ, sorted."),
        }


class BuildQuery(serializers.Serializer):
    full = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Build every row from scratch; by default the unchanged rows of the last version are copied "
        "(the bytes are the same either way).",
    )


class BuildOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["requested"])
