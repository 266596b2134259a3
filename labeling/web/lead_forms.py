"""Forms of the lead's screens: a queue's routing rule as plain fields, the queue editor, rubric publishing.

A rule is data (see labeling/services/routing.py); these forms only translate between it and text a
person can type: comma lists for tags and models, `key=value` lines for metadata, a phrase a line for text.
"""

import re

import yaml
from django import forms
from django.core.validators import RegexValidator

from labeling.exceptions import InvalidSpec
from labeling.models import FeedbackScore, Project, Queue, Rubric
from labeling.models.queues import WEEKLY_QUOTA_MAX
from labeling.rules.explore import metadata_text
from labeling.rules.ids import id_from_text
from labeling.rules.text import has_letter_or_digit, isolated, slug_from_name
from labeling.services import queues as queue_services
from labeling.services.routing import validate_rule

from .spec_forms import ShownField, SpecForm, comma_list, phrase_lines, phrases_field

HAS_COMMENT = {"any": None, "yes": True, "no": False}
# Stand in for fields that did not clean when the service is asked about the others (see QueueForm.clean).
STAND_INS = {"slug": "", "name": "", "rule": {}, "sample_rate": 1.0, "overlap": 1, "priority": 0}
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def parse_metadata_value(text: str) -> str | int | float | bool:
    """`true`/`false` and numbers match JSON booleans and numbers; quotes ("42") force text."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if _NUMBER.match(text):
        return float(text) if "." in text else int(text)
    return text


def format_metadata_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # In digits with a point, never an exponent (1e-07): parse_metadata_value reads only those back as a number.
        text = metadata_text(value)
        return text if "." in text else f"{text}.0"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    # Text that would read back as a number or boolean (or lose its spaces) is written quoted.
    return f'"{text}"' if parse_metadata_value(text) != text else text


def parse_metadata(text: str) -> dict:
    """`key=value` lines; `a|b` means any of several values (so a value cannot contain `|`).

    Raise ValidationError naming the bad line.
    """
    conditions: dict = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, raw = line.partition("=")
        key = key.strip()
        if not sep or not key or not raw.strip():
            raise forms.ValidationError(
                f"Line {number}: write key=value (values separated by |), got {line.strip()!r}."
            )
        if key in conditions:
            raise forms.ValidationError(f"Line {number}: the key {key!r} is given twice.")
        values = [parse_metadata_value(part) for part in raw.split("|") if part.strip()]
        conditions[key] = values[0] if len(values) == 1 else values
    return conditions


def format_metadata(conditions: dict) -> str:
    lines = []
    for key, wanted in (conditions or {}).items():
        values = wanted if isinstance(wanted, list) else [wanted]
        lines.append(f"{key}={'|'.join(format_metadata_value(value) for value in values)}")
    return "\n".join(lines)


def describe_rule(rule: dict) -> list[str]:
    """The rule's conditions in words, one per condition; empty for a rule that matches everything."""
    labels = {score: label.lower() for score, label in FeedbackScore.choices}

    def either(values) -> str:
        return " or ".join(values) if values else "(none listed: matches no output)"

    parts = []
    if "tags_any" in rule:
        parts.append("tags any of " + either(rule["tags_any"]).replace(" or ", ", "))
    if rule.get("tags_all"):
        parts.append("tags all of " + ", ".join(rule["tags_all"]))
    for key, wanted in (rule.get("metadata") or {}).items():
        values = wanted if isinstance(wanted, list) else [wanted]
        parts.append(f"{key} = " + either([format_metadata_value(value) for value in values]))
    if "models" in rule:
        parts.append("model " + either(rule["models"]))
    if "feedback_scores" in rule:
        parts.append("feedback " + either([labels[score] for score in rule["feedback_scores"]]))
    if rule.get("has_comment") is not None:
        parts.append("with an end-user comment" if rule["has_comment"] else "without an end-user comment")
    if "text_any" in rule:
        parts.append("answer contains " + either([f"“{phrase}”" for phrase in rule["text_any"]]))
    return parts


class RuleForm(SpecForm):
    """The routing rule and sample rate; alone, it is what the preview needs."""

    tags_any = forms.CharField(
        label="Tags: any of", required=False, max_length=2000, help_text="Comma-separated, e.g. billing, vip"
    )
    tags_all = forms.CharField(label="Tags: all of", required=False, max_length=2000, help_text="Comma-separated")
    metadata = forms.CharField(
        label="Metadata",
        required=False,
        max_length=5000,
        # An example any project's outputs may carry, whatever its template (support bot, summarizer, SQL assistant).
        widget=forms.Textarea(
            attrs={"rows": 3, "spellcheck": "false", "placeholder": "environment=production\nlocale=en-GB|fr-FR"}
        ),
        help_text=(
            "One key=value per line; a|b for any of several. true, false and numbers match JSON values; "
            'quote ("42") to match text.'
        ),
    )
    models = forms.CharField(label="Models", required=False, max_length=2000, help_text="Comma-separated model names")
    feedback_scores = forms.TypedMultipleChoiceField(
        label="End-user feedback",
        required=False,
        coerce=int,
        choices=[
            (FeedbackScore.DOWN.value, "Thumbs down"),
            (FeedbackScore.NEUTRAL.value, "Neutral"),
            (FeedbackScore.UP.value, "Thumbs up"),
        ],
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: any feedback, or none.",
    )
    has_comment = forms.ChoiceField(
        label="End-user comment",
        choices=[("any", "Any"), ("yes", "Has a comment"), ("no", "No comment")],
        initial="any",
        required=False,
        widget=forms.RadioSelect,
    )
    text_any = phrases_field()
    sample_rate = forms.FloatField(
        label="Sample rate",
        min_value=0,
        max_value=1,
        initial=1.0,
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "max": "1"}),
        help_text="Share of matching outputs to review, 0–1.",
    )

    def clean_metadata(self) -> dict:
        return parse_metadata(self.cleaned_data.get("metadata", ""))

    def clean_text_any(self) -> list[str]:
        return phrase_lines(self.cleaned_data.get("text_any", ""))

    def clean(self):
        cleaned = super().clean()
        try:
            cleaned["rule"] = validate_rule(self.rule_from(cleaned))
        except InvalidSpec as exc:
            self.add_error(None, exc.message)
        return cleaned

    @staticmethod
    def rule_from(cleaned: dict) -> dict:
        rule: dict = {}
        for name in ("tags_any", "tags_all", "models"):
            if values := comma_list(cleaned.get(name, "")):
                rule[name] = values
        if cleaned.get("metadata"):
            rule["metadata"] = cleaned["metadata"]
        if cleaned.get("feedback_scores"):
            rule["feedback_scores"] = sorted(set(cleaned["feedback_scores"]))
        has_comment = HAS_COMMENT.get(cleaned.get("has_comment") or "any")
        if has_comment is not None:
            rule["has_comment"] = has_comment
        if cleaned.get("text_any"):
            rule["text_any"] = cleaned["text_any"]
        return rule

    @staticmethod
    def initial_for_rule(rule: dict) -> dict:
        has_comment = rule.get("has_comment")
        return {
            "tags_any": ", ".join(rule.get("tags_any", [])),
            "tags_all": ", ".join(rule.get("tags_all", [])),
            "metadata": format_metadata(rule.get("metadata", {})),
            "models": ", ".join(rule.get("models", [])),
            "feedback_scores": rule.get("feedback_scores", []),
            "has_comment": "any" if has_comment is None else ("yes" if has_comment else "no"),
            "text_any": "\n".join(rule.get("text_any", [])),
        }


class PreviewForm(RuleForm):
    """What the preview endpoint reads: the rule, the sample rate, the quota, and the queue if it exists."""

    weekly_quota = forms.IntegerField(required=False, min_value=0, max_value=WEEKLY_QUOTA_MAX)
    queue_id = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)


class ExpertChoiceField(forms.ModelMultipleChoiceField):
    """The queue's eligible experts: one a queue still names but who may not label any more is shown marked, so a
    save keeps them unless the lead unticks them (an empty list would be every expert)."""

    def _check_values(self, value):
        # A number past 64 bits names no account; SQLite would refuse it in the query (OverflowError, a 500).
        for pk in value:
            if id_from_text(pk) is None:
                raise forms.ValidationError(
                    self.error_messages["invalid_choice"], code="invalid_choice", params={"value": pk}
                )
        return super()._check_values(value)

    def label_from_instance(self, obj) -> str:
        # A checkbox's label is plain text (Django escapes it): the name isolated as an <option> isolates names.
        name = isolated(obj.username)
        if getattr(obj, "may_label", True):
            return name
        return f"{name} (account deactivated)" if not obj.is_active else f"{name} (no longer an expert)"


class QueueForm(RuleForm, ShownField):
    """Create or edit a queue. The service's own checks (slug taken, …) are shown beside their fields; an edit posts
    back the settings its page showed (`shown`), so a save changes only what this lead changed."""

    RULE_FIELDS = ("tags_any", "tags_all", "metadata", "models", "feedback_scores", "has_comment", "text_any")

    name = forms.CharField(max_length=200)
    slug = forms.CharField(
        required=False,  # a new queue's, left blank, is made from the name (clean_slug)
        max_length=64,
        validators=[RegexValidator(queue_services.SLUG_PATTERN, "Use lowercase letters, digits and hyphens.")],
        help_text="Lowercase letters, digits and hyphens; used in URLs. Left blank for a new queue, it is made from "
        "the name (queue-<n> for a name without Latin letters or digits).",
    )
    description = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))
    weekly_quota = forms.IntegerField(
        label="Weekly quota",
        required=False,
        min_value=0,
        max_value=WEEKLY_QUOTA_MAX,
        help_text="Most items placed per cycle week. Empty: no quota.",
    )
    overlap = forms.IntegerField(
        label="Overlap", min_value=1, max_value=10, initial=1, help_text="Labels wanted per item, 1–10."
    )
    priority = forms.IntegerField(
        label="Priority",
        min_value=queue_services.PRIORITY_RANGE[0],
        max_value=queue_services.PRIORITY_RANGE[1],
        initial=0,
        help_text="Higher is served first.",
    )
    eligible_experts = ExpertChoiceField(
        label="Eligible experts",
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every expert of the project.",
    )
    is_active = forms.BooleanField(
        label="Active",
        required=False,
        initial=True,
        help_text="Inactive (paused) queues receive no new outputs and hand experts no new items.",
    )

    field_order = ["name", "slug", "description"]

    def __init__(self, *args, project: Project, experts, queue: Queue | None = None, actor=None, **kwargs):
        if queue is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_for_queue(queue)
        super().__init__(*args, **kwargs)
        self.project = project
        self.queue = queue
        self.actor = actor  # who posts it: a slug they took moments ago is the service's to judge
        # The slug left blank for a name without Latin letters: `queue-<n>`, whose number the service picks.
        self.slug_generated = False
        self.fields["eligible_experts"].queryset = experts

    @classmethod
    def initial_for_queue(cls, queue: Queue) -> dict:
        return {
            "name": queue.name,
            "slug": queue.slug,
            "description": queue.description,
            "sample_rate": queue.sample_rate,
            "weekly_quota": queue.weekly_quota,
            "overlap": queue.overlap,
            "priority": queue.priority,
            # Primary keys, so rendering the checkboxes needs no query of its own per queue.
            "eligible_experts": [user.pk for user in queue.eligible_experts.all()],
            "is_active": queue.is_active,
            **cls.initial_for_rule(queue.rule),
            "shown": queue_services.queue_settings(queue),
        }

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if slug:
            return slug
        if self.queue is not None:
            raise forms.ValidationError("This field is required.")
        name = self.data.get("name", "")
        if not has_letter_or_digit(name):
            raise forms.ValidationError("Choose a slug: the name has no letters or digits to make one from.")
        self.slug_generated = not slug_from_name(name)
        return queue_services.slug_for_new_queue(self.project, name)

    def clean(self):
        cleaned = super().clean()
        # Ask the service even when some fields are bad (stand-ins take their place), so that a taken
        # slug is reported together with an out-of-range overlap, not one round trip later.
        values = self.values(partial=True)
        problems = queue_services.queue_problems(
            project=self.project, values=values, queue=self.queue, actor=self.actor
        )
        for name, messages in problems.items():
            if name not in self.errors:  # else the form has said what is wrong with it already
                for message in messages:
                    self.add_error(name if name in self.fields else None, message)
        return cleaned

    def values(self, *, partial: bool = False) -> queue_services.QueueValues:
        """The cleaned values; with `partial`, harmless stand-ins for fields that did not clean."""
        cleaned = {**STAND_INS, **self.cleaned_data} if partial else self.cleaned_data
        return queue_services.QueueValues(
            slug=cleaned["slug"],
            name=cleaned["name"],
            description=cleaned.get("description", ""),
            rule=cleaned["rule"],
            sample_rate=cleaned["sample_rate"],
            weekly_quota=cleaned.get("weekly_quota"),
            overlap=cleaned["overlap"],
            priority=cleaned["priority"],
            eligible_expert_ids=tuple(user.pk for user in cleaned.get("eligible_experts") or []),
            is_active=cleaned.get("is_active", False),
        )

    def rule_fields(self):
        return [self[name] for name in self.RULE_FIELDS]


class _QuestionsDumper(yaml.SafeDumper):
    """Block style for questions, `[a, b]` for short lists (options, scale), `|` for multi-line text."""


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flat = bool(data) and all(isinstance(value, str | int | float | bool) for value in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_QuestionsDumper.add_representer(list, _represent_list)
_QuestionsDumper.add_representer(str, _represent_str)


class RubricForm(SpecForm):
    """A new rubric version: questions as YAML (or JSON, which YAML reads too) and guidelines as Markdown."""

    problems_field = "questions"
    questions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false", "class": "code"}),
        max_length=100_000,
        help_text="A YAML (or JSON) list of questions: key, kind, prompt, and options, scale, required, help.",
    )
    guidelines = forms.CharField(
        required=False,
        max_length=100_000,
        widget=forms.Textarea(attrs={"rows": 14, "class": "code"}),
        help_text="Markdown, shown to experts beside the labeling form.",
    )

    # The version the page showed (the template writes it): publishing checks it is still the newest.
    replaces = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def clean_questions(self) -> object:
        text = self.cleaned_data["questions"]
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" on line {where.line + 1}" if where else ""
            problem = getattr(exc, "problem", None) or "cannot be read"
            raise forms.ValidationError(f"The questions are not valid YAML{line}: {problem}.") from None
        except RecursionError:
            raise forms.ValidationError("The questions nest too deeply to be a list of questions.") from None

    @classmethod
    def initial_for(cls, current: Rubric | None) -> dict:
        """Prefill with the current version: its questions as YAML, its guidelines."""
        if current is None:
            return {"questions": "", "guidelines": ""}
        return {"questions": cls.dump_questions(current.questions), "guidelines": current.guidelines}

    @staticmethod
    def dump_questions(questions: list[dict]) -> str:
        options = {"sort_keys": False, "allow_unicode": True, "default_flow_style": False, "width": 1000}
        return yaml.dump(questions, Dumper=_QuestionsDumper, **options)
