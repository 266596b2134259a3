"""The "new dataset" form: plain fields a person can fill in, converted to the spec `create_dataset` takes.

The form only converts (comma lists, `name=share` pairs, dates at midnight in the project's time
zone); the service judges the spec (split names and shares, queues, the name's slug) and its
problems are shown on the form.
"""

from datetime import date, datetime, time

from django import forms

from labeling.models import Project
from labeling.rules.explore import read_pair
from labeling.rules.ids import is_whole_number

from .spec_forms import SpecForm, comma_list, phrase_lines, phrases_field

DEFAULT_SPLITS = "train=80, test=20"


def parse_splits(text: str) -> dict[str, int]:
    """`train=80, test=20` → {"train": 80, "test": 20}; raise ValidationError naming the bad part."""
    splits: dict[str, int] = {}
    for part in (text or "").replace("\n", ",").split(","):
        if not part.strip():
            continue
        name, sep, share = part.partition("=")
        name, share = name.strip(), share.strip()
        if not sep or not name or not share:
            raise forms.ValidationError(f"Write name=share pairs, e.g. {DEFAULT_SPLITS}; got {part.strip()!r}.")
        if not is_whole_number(share) or len(share) > 3:
            raise forms.ValidationError(f"The share of {name!r} must be a whole number of percent, got {share!r}.")
        if name in splits:
            raise forms.ValidationError(f"The split {name!r} is given twice.")
        splits[name] = int(share)
    if not splits:
        raise forms.ValidationError(f"Give at least one split, e.g. {DEFAULT_SPLITS}.")
    return splits


def parse_metadata(text: str) -> dict[str, list[str]]:
    """One `key:value` a line (as explore's `meta` writes it; a key or value in quotes keeps its spaces) → key → its
    values, in the order given; raise ValidationError naming the line that is not one."""
    metadata: dict[str, list[str]] = {}
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        pair = read_pair(line)
        if pair is None:
            raise forms.ValidationError(f"Write one key:value a line, e.g. plan:pro; got {line.strip()[:80]!r}.")
        key, value = pair
        metadata.setdefault(key, []).append(value)
    return metadata


def format_splits(splits: dict[str, int]) -> str:
    return ", ".join(f"{name}={share}" for name, share in splits.items())


def partly_typed_refused(message: str) -> forms.DateInput:
    """A date picker whose day typed in part is refused with `message` (partial-dates.js): the browser would send it
    as no date, and the dataset would be made with no bound."""
    return forms.DateInput(attrs={"type": "date", "data-partial-message": message})


class DatasetForm(SpecForm):
    name = forms.CharField(
        label="Name",
        max_length=200,
        help_text="The dataset's URL slug is made from it: its Latin letters and digits, dataset-<n> when it has none.",
    )
    description = forms.CharField(
        label="Description", required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )
    queues = forms.MultipleChoiceField(
        label="Queues",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: items of every queue.",
    )
    questions = forms.MultipleChoiceField(
        label="Questions",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every question. Keys of the current rubric.",
    )
    only_resolved = forms.BooleanField(
        label="Only items with a settled gold answer",
        required=False,
        initial=True,
        help_text="Leave ticked to keep out items whose experts tie until a lead decides them.",
    )
    tags_any = forms.CharField(
        label="Tags: any of", required=False, max_length=2000, help_text="Comma-separated; empty: any tags."
    )
    models = forms.CharField(
        label="Models: any of", required=False, help_text="Comma-separated, as the outputs name them; empty: any model."
    )
    metadata = forms.CharField(
        label="Metadata",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One key:value a line, e.g. plan:pro (values of one key are alternatives; every key must hold). "
        "Compared as text: true, a number as its digits.",
    )
    text_any = phrases_field()
    since = forms.DateField(
        label="Since",
        required=False,
        widget=partly_typed_refused("Since is typed in part: finish it, or clear it for no start."),
        help_text="Outputs from this day on.",
    )
    until = forms.DateField(
        label="Until",
        required=False,
        widget=partly_typed_refused("Until is typed in part: finish it, or clear it for no end."),
        help_text="Outputs before this day (not included).",
    )
    splits = forms.CharField(
        label="Splits",
        initial=DEFAULT_SPLITS,
        max_length=500,
        help_text="Percent per split, adding up to 100. An output's split follows from its id and never changes.",
    )
    auto_rebuild = forms.BooleanField(
        label="Rebuild every week",
        required=False,
        initial=True,
        help_text="A new version is built when the weekly cycle closes, if anything changed.",
    )

    def __init__(self, *args, project: Project, queues, question_keys: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        self.fields["queues"].choices = [(queue.slug, queue.name) for queue in queues]
        self.fields["questions"].choices = [(key, key) for key in question_keys]

    def clean_tags_any(self) -> list[str]:
        return comma_list(self.cleaned_data.get("tags_any", ""))

    def clean_models(self) -> list[str]:
        return comma_list(self.cleaned_data.get("models", ""))

    def clean_metadata(self) -> dict[str, list[str]]:
        return parse_metadata(self.cleaned_data.get("metadata", ""))

    def clean_text_any(self) -> list[str]:
        return phrase_lines(self.cleaned_data.get("text_any", ""))

    def clean_splits(self) -> dict[str, int]:
        return parse_splits(self.cleaned_data.get("splits", ""))

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until <= since:
            self.add_error("until", "Pick a day after the first one.")
        return cleaned

    def _moment(self, day: date | None) -> str | None:
        return datetime.combine(day, time.min, tzinfo=self.project.tzinfo).isoformat() if day else None

    def spec(self) -> dict:
        """The dataset spec, as the API would send it."""
        data = self.cleaned_data
        spec = {
            "name": data["name"],
            "description": data["description"],
            "queues": data["queues"],
            "questions": data["questions"],
            "only_resolved": data["only_resolved"],
            "metadata": data["metadata"],
            "splits": data["splits"],
            "auto_rebuild": data["auto_rebuild"],
        }
        for key in ("tags_any", "models", "text_any"):
            if data[key]:
                spec[key] = data[key]  # a blank field sets no condition (a list of nothing is refused)
        for key in ("since", "until"):
            if data.get(key):
                spec[key] = self._moment(data[key])
        return spec
