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

    def __init__(self, *args, offered_scopes: tuple[str, ...] = tuple(Scope.values), **kwargs):
        super().__init__(*args, **kwargs)
        # Only the boxes the member may tick are shown; a scope posted anyway still parses, so the service
        # refuses it with its reason instead of a bare "not a valid choice".
        field = self.fields["scopes"]
        field.widget.choices = [(value, label) for value, label in field.choices if value in offered_scopes]
        if Scope.PRIVACY not in offered_scopes:
            field.help_text += " The privacy scope (erasing end users' data) is for the project's leads and admins."
