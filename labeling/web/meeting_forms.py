"""The meeting page's decision form: text, owner and due date, checked before the service is asked."""

from django import forms


class DecisionForm(forms.Form):
    text = forms.CharField(
        max_length=2000,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": 2000}),
        error_messages={"required": "Write down what was decided."},
    )
    owner = forms.CharField(max_length=200, required=False, strip=True)
    # A date picker sends YYYY-MM-DD or nothing, but lets a year be typed with up to six digits: past 9999 is the date
    # refused (Python's dates end there). `max` keeps the picker's year within it; the message says what to do.
    due_date = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "max": "9999-12-31"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": "The due date must be a real date, up to 9999-12-31: pick it in the calendar."},
    )
