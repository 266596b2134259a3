"""The project's annotation schema: its rubric versions and their questions, and its queues."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.parameters import WholeNumberField
from api.serializers.metrics import PROJECT_HELP
from labeling.models import QuestionKind

# Queries -----------------------------------------------------------------------------------------------


class ProjectQuery(serializers.Serializer):
    project = serializers.SlugField(required=False, help_text=PROJECT_HELP)


# Said for any `?version=` that is not a version number (`latest`, `0`, `1.5`, `1.0`, ` 3`), not DRF's "A valid
# integer is required."
NOT_A_VERSION_NUMBER = (
    "Use a published version's number, a whole number such as 3 (`versions` lists them), or leave `version` out for "
    "the current one."
)


class RubricQuery(ProjectQuery):
    version = WholeNumberField(
        required=False,
        min_value=1,
        max_value=2**31 - 1,
        error_messages={
            problem: NOT_A_VERSION_NUMBER for problem in ("invalid", "min_value", "max_value", "max_string_length")
        },
        help_text="A version number (see `versions`); by default the current version. One never published is a 404.",
    )


# Responses ---------------------------------------------------------------------------------------------


class QuestionOut(serializers.Serializer):
    key = serializers.CharField(help_text="Names the answer in labels, datasets and metrics (`?question=`).")
    kind = serializers.ChoiceField(choices=QuestionKind.choices)
    prompt = serializers.CharField(help_text="What the expert is asked.")
    required = serializers.BooleanField()
    help = serializers.CharField(allow_blank=True, help_text="Shown under the prompt; empty if none.")
    options = serializers.ListField(
        child=serializers.CharField(), allow_null=True, help_text="`choice` and `multi_choice`: the answers, in order."
    )
    scale = serializers.ListField(
        child=serializers.IntegerField(),
        min_length=2,
        max_length=2,
        allow_null=True,
        help_text="`rating`: `[low, high]`, every whole number between them an answer.",
    )


class RubricVersionOut(serializers.Serializer):
    version = serializers.IntegerField()
    published_at = serializers.DateTimeField()


class RubricOut(serializers.Serializer):
    project = serializers.CharField(help_text="The project's slug.")
    version = serializers.IntegerField(help_text="The version answered: the current one unless `?version=` named one.")
    published_at = serializers.DateTimeField()
    guidelines = serializers.CharField(allow_blank=True, help_text="Markdown shown beside the labeling form.")
    questions = QuestionOut(many=True)
    versions = RubricVersionOut(many=True, help_text="Every published version, newest (the current one) first.")


class QueueOut(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    active = serializers.BooleanField(source="is_active", help_text="False: paused by a lead, it hands out nothing.")
    priority = serializers.IntegerField(help_text="Higher is served first.")
    overlap = serializers.IntegerField(help_text="Labels wanted per item: how many experts label each.")
    weekly_quota = serializers.IntegerField(allow_null=True, help_text="Items placed per cycle week; null: no quota.")
    items_open = serializers.IntegerField(help_text="Its items still wanting labels, of every week.")


class QueuesOut(serializers.Serializer):
    project = serializers.CharField(help_text="The project's slug.")
    results = QueueOut(many=True, help_text="Highest priority first, then by slug.")


# Answers ----------------------------------------------------------------------------------------------

# An answer's type by its question's kind (services.answers.validate_answers): binary a boolean, rating a whole
# number, choice, text and correction a string, multi_choice the options ticked. The types exclude each other, so
# a value matches one branch of the oneOf.
ANSWER_SCHEMA = {
    "oneOf": [
        {"type": "boolean"},
        {"type": "integer"},
        {"type": "string"},
        {"type": "array", "items": {"type": "string"}},
    ],
    "description": "By the question's kind: `binary` a boolean, `rating` a whole number, `choice`, `text` and "
    "`correction` a string, `multi_choice` the options ticked.",
}
# A gold value (rules.gold): a rating's median may fall between two steps, and the experts' texts not yet decided
# (method `list`) are a list of strings.
GOLD_VALUE_SCHEMA = {
    "oneOf": [
        {"type": "boolean"},
        {"type": "number"},
        {"type": "string"},
        {"type": "array", "items": {"type": "string"}},
    ],
    "description": "By the question's kind: `binary` a boolean, `rating` a number (a median may be a half), `choice` "
    "and a decided `text` or `correction` a string, `multi_choice` the options in; the experts' texts not yet "
    "decided (method `list`) a list.",
}


@extend_schema_field(ANSWER_SCHEMA)
class AnswerField(serializers.JSONField):
    """An expert's answer to one question."""


@extend_schema_field(GOLD_VALUE_SCHEMA)
class GoldValueField(serializers.JSONField):
    """The gold value of one question."""


def answers_field(**kwargs) -> serializers.DictField:
    """Question key → an expert's answer (keys are the rubric's, so not known to the schema)."""
    return serializers.DictField(child=AnswerField(), **kwargs)


class GoldAnswerOut(serializers.Serializer):
    value = GoldValueField()
    method = serializers.ChoiceField(choices=["unanimous", "majority", "median", "list", "single", "adjudicated"])
