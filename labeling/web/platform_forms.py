from django import forms


class UsageRangeForm(forms.Form):
    """The usage page's filter: weeks starting from `since` through `until`, optionally one project."""

    since = forms.DateField(required=False, input_formats=["%Y-%m-%d"], widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, input_formats=["%Y-%m-%d"], widget=forms.DateInput(attrs={"type": "date"}))
    project = forms.SlugField(required=False, max_length=64)


class OperatorTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “monthly chargeback script”.")
