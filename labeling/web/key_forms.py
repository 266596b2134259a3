"""The API keys page's form: a name and the scopes, as checkboxes."""

from django import forms

from labeling.models import ApiKey, Scope


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=ApiKey._meta.get_field("name").max_length,
        help_text="What uses it, e.g. “support-bot prod” or “nightly eval pull”.",
    )
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        initial=[Scope.INGEST],
        widget=forms.CheckboxSelectMultiple,
        help_text="Give a key only what its app needs: an app that sends outputs needs ingest alone.",
        error_messages={"required": "Tick at least one scope."},
    )
