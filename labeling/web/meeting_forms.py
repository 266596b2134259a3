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
    due_date = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": "Give the due date as YYYY-MM-DD."},
    )
