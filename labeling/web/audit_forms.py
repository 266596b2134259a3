"""The audit log's filter: an action (or a whole area), a person, a range of days or of moments, and the page's
cursor."""

from datetime import UTC, date, datetime, time

from django import forms

from labeling.rules.commands import by_command
from labeling.selectors.audit import AuditFilter

from . import audit_sentences

ANY = ""
AUTOMATIC = "automatic"  # events no person did: the weekly close, retention, an API key's erasure
AUTOMATIC_LABEL = "expertloop (automatic)"
COMMAND = "command"  # events of a management command an operator ran (rules.commands)
AREA = "area:"
# Days outside these cannot be turned into moments in every time zone (and nothing was audited then).
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)


class MomentField(forms.CharField):
    """A moment in ISO 8601 with its offset (`2026-12-02T10:15:00Z`), as a done decision's link names one: a moment
    without an offset would be read in some zone the link does not say."""

    widget = forms.HiddenInput

    def to_python(self, value) -> datetime | None:
        text = super().to_python(value).strip()
        if not text:
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise forms.ValidationError(f"“{text}” is not a moment; give one as 2026-12-02T10:15:00Z.") from None
        if moment.tzinfo is None:
            raise forms.ValidationError(f"“{text}” has no offset; give one as 2026-12-02T10:15:00Z.")
        if not datetime.combine(FIRST_DAY, time.min, UTC) <= moment <= datetime.combine(LAST_DAY, time.min, UTC):
            raise forms.ValidationError(f"Pick a moment from {FIRST_DAY:%Y} to {LAST_DAY:%Y}.")
        return moment


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(required=False, label="Action")
    actor = forms.ChoiceField(required=False, label="Who")
    first_day = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    last_day = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    since = MomentField(required=False)
    until = MomentField(required=False)
    older = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)
    newer = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)

    def __init__(self, data, *, actions: list[str], actors: list, **kwargs):
        super().__init__(data, **kwargs)
        self.actions = actions
        self.fields["action"].choices = [(ANY, "Every action"), *audit_sentences.grouped_choices(actions)]
        self.fields["actor"].choices = [
            (ANY, "Anyone"),
            (AUTOMATIC, AUTOMATIC_LABEL),
            (COMMAND, by_command("…")),
            *((str(user.pk), user.username) for user in actors),
        ]

    def clean(self):
        cleaned = super().clean()
        first, last = cleaned.get("first_day"), cleaned.get("last_day")
        for name, day in (("first_day", first), ("last_day", last)):
            if day is not None and not FIRST_DAY <= day <= LAST_DAY:
                self.add_error(name, f"Pick a day from {FIRST_DAY:%Y} to {LAST_DAY:%Y}.")
        if first and last and first > last:
            self.add_error("last_day", "The range ends before it starts: “To” must not be before “From”.")
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The moments run backwards: `until` is before `since`.")
        if cleaned.get("older") and cleaned.get("newer"):
            raise forms.ValidationError("Ask for older or for newer events, not both.")
        return cleaned

    def audit_filter(self) -> AuditFilter:
        action, actor = self.cleaned_data["action"], self.cleaned_data["actor"]
        if action.startswith(AREA):
            actions = audit_sentences.actions_of_area(action.removeprefix(AREA), self.actions)
        else:
            actions = (action,) if action else None
        return AuditFilter(
            actions=actions,
            automatic=actor == AUTOMATIC,
            by_command=actor == COMMAND,
            actor_id=int(actor) if actor not in (ANY, AUTOMATIC, COMMAND) else None,
            first_day=self.cleaned_data["first_day"],
            last_day=self.cleaned_data["last_day"],
            since=self.cleaned_data["since"],
            until=self.cleaned_data["until"],
        )

    def cursor(self) -> dict:
        return {"older_than": self.cleaned_data["older"], "newer_than": self.cleaned_data["newer"]}

    def is_filtered(self) -> bool:
        return any(
            self.cleaned_data.get(name) for name in ("action", "actor", "first_day", "last_day", "since", "until")
        )

    def moments(self) -> dict | None:
        """The moments the log is narrowed to (a done decision's link), for the page to say so; None without."""
        if not self.is_bound or not hasattr(self, "cleaned_data"):
            return None
        since, until = self.cleaned_data.get("since"), self.cleaned_data.get("until")
        return {"since": since, "until": until} if since or until else None
