"""The webhooks page's form: a URL, its kind, the events, and whether payloads carry the transcripts."""

from django import forms
from django.conf import settings

from labeling.exceptions import InvalidInput
from labeling.models import WebhookEvent, WebhookKind
from labeling.rules.webhooks import check_events, check_url


class WebhookEndpointForm(forms.Form):
    url = forms.CharField(
        label="URL",
        max_length=2000,
        help_text="Where to POST the events: an https:// address on the internet, e.g. https://ci.example.com/hooks.",
        widget=forms.URLInput(attrs={"placeholder": "https://", "spellcheck": "false"}),
    )
    kind = forms.ChoiceField(
        choices=WebhookKind.choices,
        initial=WebhookKind.STANDARD,
        widget=forms.RadioSelect,
        help_text="Slack: paste an incoming-webhook URL (https://hooks.slack.com/services/…); it posts the week's "
        "close and digest, and alerts as they open and resolve, as a short message.",
    )
    events = forms.MultipleChoiceField(
        choices=[(value, f"{value} — {label}") for value, label in WebhookEvent.choices],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event."},
    )
    description = forms.CharField(max_length=200, required=False, help_text="What receives them (optional).")
    include_transcripts = forms.BooleanField(
        required=False,
        label="Include the texts of inputs and outputs",
        help_text="Off: payloads carry ids and links only. On: the conversation's texts (and a flag's note) too.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Every posted event parses, so an unknown one gets the service's sentence, not a bare "not a valid choice".
        self.fields["events"].valid_value = lambda value: True
        if settings.WEBHOOKS_ALLOW_PRIVATE:
            self.fields["url"].help_text += " (This server also allows http:// and private addresses.)"

    def clean(self):
        data = super().clean()
        kind = data.get("kind") or WebhookKind.STANDARD
        if "url" in data:
            try:
                data["url"] = check_url(data["url"], kind=kind, allow_private=settings.WEBHOOKS_ALLOW_PRIVATE)
            except InvalidInput as exc:
                self.add_error("url", exc.message)
        if "events" in data:
            try:
                data["events"] = check_events(data["events"], kind=kind)
            except InvalidInput as exc:
                self.add_error("events", exc.message)
        return data
