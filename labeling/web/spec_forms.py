"""What the forms that turn typed text into a service's spec share: comma lists, and the service's refusal."""

import json

from django import forms

from labeling.exceptions import EditConflict, InvalidSpec


def comma_list(text: str) -> list[str]:
    """`a, b, , a` → ["a", "b"]: the non-empty parts, stripped, each once, in the order given."""
    seen: dict[str, None] = {}
    for part in (text or "").split(","):
        if part.strip():
            seen.setdefault(part.strip())
    return list(seen)


class SpecForm(forms.Form):
    """A form whose cleaned data a service judges, and which shows the service's refusal."""

    problems_field: str | None = None  # the field the service's problems are shown on; None: the whole form

    def add_problems(self, exc: InvalidSpec) -> None:
        """Show each problem of the service's InvalidSpec (or its message) on the form."""
        for problem in exc.problems or [exc.message]:
            self.add_error(self.problems_field, problem)


class ShownField(forms.Form):
    """A settings form that posts back the values its page showed (`shown`, one hidden JSON field written by the
    view), so the service saves only what this lead changed (rules.edits)."""

    shown = forms.JSONField(required=False, widget=forms.HiddenInput)

    def clean_shown(self) -> dict | None:
        shown = self.cleaned_data.get("shown")
        if shown is not None and not isinstance(shown, dict):
            raise forms.ValidationError("This page is damaged: reload it.")
        return shown

    def take_current(self, exc: EditConflict) -> None:
        """After a clash, the page shows the clashing fields' values now: saving again keeps the lead's values."""
        data = self.data.copy()
        data["shown"] = json.dumps({**(self.cleaned_data.get("shown") or {}), **exc.current})
        self.data = data
