"""What the forms that turn typed text into a service's spec share: comma lists, the service's refusal, and the
values a page showed, posted back."""

import json

from django import forms
from django.forms.fields import InvalidJSONInput

from labeling.exceptions import EditConflict, InvalidSpec
from labeling.rules.answer_text import MAX_PHRASE_CHARS, MAX_PHRASES, phrases_problem


def comma_list(text: str) -> list[str]:
    """`a, b, , a` → ["a", "b"]: the non-empty parts, stripped, each once, in the order given."""
    seen: dict[str, None] = {}
    for part in (text or "").split(","):
        if part.strip():
            seen.setdefault(part.strip())
    return list(seen)


def phrases_field() -> forms.CharField:
    """The "Answer contains any of" field, a queue rule's and a dataset filter's `text_any` (rules.answer_text): one
    phrase a line; the form's `clean_text_any` reads it with `phrase_lines`."""
    return forms.CharField(
        label="Answer contains any of",
        required=False,
        max_length=MAX_PHRASES * (MAX_PHRASE_CHARS + 2) * 2,  # room to paste too many, and be told so
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "placeholder": "as an AI\nI cannot"}),
        help_text=(
            f"One phrase per line (up to {MAX_PHRASES}), found anywhere in the answer in any case; plain text, no "
            "wildcards. The input and the end user's comment are not searched."
        ),
    )


def phrase_lines(text: str) -> list[str]:
    """One phrase a line → the phrases, stripped, each once, blank lines skipped; a ValidationError saying why they
    cannot be a `text_any` (too many, too long, …)."""
    lines = (line.strip() for line in (text or "").splitlines())
    phrases = list(dict.fromkeys(line for line in lines if line))
    if phrases and (problem := phrases_problem(phrases)):  # a blank field: no condition
        raise forms.ValidationError(problem[0].upper() + problem[1:])
    return phrases


class SpecForm(forms.Form):
    """A form whose cleaned data a service judges, and which shows the service's refusal."""

    problems_field: str | None = None  # the field the service's problems are shown on; None: the whole form

    def add_problems(self, exc: InvalidSpec) -> None:
        """Show each problem of the service's InvalidSpec (or its message) on the form."""
        for problem in exc.problems or [exc.message]:
            self.add_error(self.problems_field, problem)


class ShownValuesField(forms.JSONField):
    """The values a page showed, posted back in one hidden field (rules.edits, adjudication): a JSON object, or
    nothing from a client that sends none. Anything else is a damaged page, JSON nested past Python's recursion limit
    included (a RecursionError, which Django's JSONField lets through as a 500)."""

    widget = forms.HiddenInput
    default_error_messages = {"invalid": "This page is damaged: reload it."}

    def __init__(self, **kwargs):
        super().__init__(required=False, **kwargs)

    def to_python(self, value):
        try:
            value = super().to_python(value)
        except RecursionError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        if value is not None and not isinstance(value, dict):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return value

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return InvalidJSONInput(data)

    def posted(self, data) -> dict | None:
        """The values in a form's posted data (None without them, or damaged ones: the caller's today's values)."""
        try:
            return self.clean(data.get("shown"))
        except forms.ValidationError:
            return None


class ShownField(forms.Form):
    """A settings form that posts back the values its page showed (`shown`, one hidden JSON field written by the
    view), so the service saves only what this lead changed (rules.edits)."""

    shown = ShownValuesField()

    def take_current(self, exc: EditConflict) -> None:
        """After a clash, the page shows the clashing fields' values now: saving again keeps the lead's values."""
        data = self.data.copy()
        data["shown"] = json.dumps({**(self.cleaned_data.get("shown") or {}), **exc.current})
        self.data = data
