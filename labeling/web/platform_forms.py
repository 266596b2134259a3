from django import forms

from labeling.rules.calendar import no_such_day


class DayField(forms.DateField):
    """A YYYY-MM-DD date; one of that format that names no day (2026-13-45) says so, not "Enter a valid date"."""

    def to_python(self, value):
        if isinstance(value, str) and (problem := no_such_day(value)):
            raise forms.ValidationError(problem, code="invalid")
        return super().to_python(value)


class UsageRangeForm(forms.Form):
    """The usage page's filter: weeks starting from `since` through `until`, optionally one project."""

    since = DayField(required=False, input_formats=["%Y-%m-%d"], widget=forms.DateInput(attrs={"type": "date"}))
    until = DayField(required=False, input_formats=["%Y-%m-%d"], widget=forms.DateInput(attrs={"type": "date"}))
    project = forms.SlugField(required=False, max_length=64)


class OperatorTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “monthly chargeback script”.")
