"""The redaction rules form: built-ins as checkboxes, custom rules as `name: pattern` lines, a sample to preview."""

from django import forms

from labeling.exceptions import InvalidInput
from labeling.rules import redaction as engine
from labeling.services import redaction as redaction_services

SAMPLE = (
    "Hi, it's Jane (jane.doe@example.com, +1 415-555-0100). Order #4155550123 was charged twice to "
    "4111 1111 1111 1111; please refund to DE89 3704 0044 0532 0130 00."
)


def parse_custom(text: str) -> list[dict[str, str]]:
    """`name: pattern` lines (blank lines and `#` comments skipped). Raise ValidationError naming the bad line."""
    rules = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, pattern = line.partition(":")
        if not sep or not name.strip() or not pattern.strip():
            raise forms.ValidationError(f"Line {number}: write name: pattern, got {line.strip()[:80]!r}.")
        rules.append({"name": name.strip(), "pattern": pattern.strip()})
    return rules


def format_custom(rules: list[dict[str, str]]) -> str:
    return "\n".join(f"{rule['name']}: {rule['pattern']}" for rule in rules)


class RedactionRulesForm(forms.Form):
    builtins = forms.MultipleChoiceField(
        label="Built-in rules",
        required=False,
        choices=[(kind, engine.BUILTIN_LABELS[kind]) for kind in engine.BUILTINS],
        widget=forms.CheckboxSelectMultiple,
    )
    phone_region = forms.CharField(
        label="Default phone region",
        max_length=3,
        initial="US",
        help_text="Two-letter region assumed for phone numbers written without +, e.g. US, GB, DE.",
        widget=forms.TextInput(attrs={"size": 4, "autocomplete": "off", "spellcheck": "false"}),
    )
    custom = forms.CharField(
        label="Custom rules",
        required=False,
        max_length=engine.MAX_CUSTOM_RULES * (engine.MAX_PATTERN_LENGTH + 50),
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "placeholder": r"account: \bACCT-\d{6}\b"}),
        help_text=(
            "One rule per line, name: pattern (Python regular expression). Matches become [CUSTOM:name]. "
            "Patterns with nested repeats such as (a+)+ are refused."
        ),
    )
    sample = forms.CharField(
        label="Sample text",
        required=False,
        max_length=20_000,
        initial=SAMPLE,
        # The sample sits beside the form, not in it; `form=` submits it with the form all the same.
        widget=forms.Textarea(attrs={"rows": 5, "form": "redaction-form"}),
        help_text="Not saved: only for the preview.",
    )

    def clean_phone_region(self) -> str:
        return self.cleaned_data["phone_region"].strip().upper()

    def clean_custom(self) -> list[dict[str, str]]:
        return parse_custom(self.cleaned_data.get("custom", ""))

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            engine.check_rules(
                builtins=cleaned["builtins"], custom=cleaned["custom"], phone_region=cleaned["phone_region"]
            )
        except InvalidInput as exc:
            field = "phone_region" if "region" in exc.message else "custom"
            self.add_error(field, exc.message)
        return cleaned

    def rules(self) -> dict:
        return {key: self.cleaned_data[key] for key in ("builtins", "custom", "phone_region")}

    def preview(self) -> dict | None:
        """The preview of the sample, or None when the rules do not validate."""
        if not self.is_valid():
            return None
        return redaction_services.preview(**self.rules(), text=self.cleaned_data.get("sample") or "")

    @staticmethod
    def initial_for(rule_set) -> dict:
        if rule_set is None:
            return {"builtins": [], "phone_region": "US", "custom": "", "sample": SAMPLE}
        return {
            "builtins": rule_set.builtins,
            "phone_region": rule_set.phone_region,
            "custom": format_custom(rule_set.custom),
            "sample": SAMPLE,
        }
