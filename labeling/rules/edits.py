"""Stale settings forms: a lead's page posts back the values it showed (`shown`), so that a save applies only what
this lead changed and never reverts, unseen, what another lead saved meanwhile (nor audits it as this lead's).
Used by services.queues.update_queue and services.projects.update_project_settings.
"""

from collections.abc import Callable, Mapping

from labeling.exceptions import EditConflict
from labeling.models import Weekday


def lead_changes(
    *, submitted: Mapping, shown: Mapping, current: Mapping, label: Callable[[str, object], str], noun: str
) -> list[str]:
    """The fields the lead changed (submitted ≠ shown; one the page did not show counts as changed).

    EditConflict, naming each field and its value now, when one of them was changed by someone else since the page
    showed it (current ≠ shown), unless to the lead's very value."""
    changed = [name for name in submitted if name not in shown or submitted[name] != shown[name]]
    clashes = [
        name for name in changed if name in shown and current[name] != shown[name] and current[name] != submitted[name]
    ]
    if clashes:
        problems = [
            f"{label(name, current[name])} since this page was opened (you changed it too): nothing was saved. "
            "Your value is in the form: save again to keep it."
            for name in clashes
        ]
        raise EditConflict(
            f"The {noun} was not saved: " + " ".join(problems),
            problems,
            list(clashes),
            current={name: current[name] for name in clashes},
        )
    return changed


def value_as_read(value: object, *, on: str = "on", off: str = "off") -> str:
    """A setting's value as a lead reads it in a clash's sentence: none, on / off, “text”, or the number."""
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return on if value else off
    if isinstance(value, str):
        return f"“{value}”"
    return str(value)


def setting_value_as_read(name: str, value: object, *, otherwise: Callable[[object], str] = value_as_read) -> str:
    """A project setting's value as its page shows it, for a clash's sentence and the audit log alike: the week start
    (`cycle_weekday`) as the day's name, not its number; any other value by `otherwise` (value_as_read, or the audit
    log's own quoting)."""
    if name == "cycle_weekday" and value in Weekday.values:
        return Weekday(value).label
    return otherwise(value)


# A lead's settings by the words the pages use for them: what a clash's message and the audit log call each field
# (one home for both). A field not listed reads as its name with spaces.
QUEUE_SETTING_NAMES = {
    "sample_rate": "sample rate",
    "weekly_quota": "weekly quota",
    "rule": "routing rule",
    "is_active": "Active box",
    "eligible_experts": "eligible experts",
}
PROJECT_SETTING_NAMES = {
    "time_zone": "time zone",
    "cycle_weekday": "week start",
    "experts_can_explore": "“Experts may explore”",
    "raw_retention_days": "raw retention (days)",
    "retention_reference": "retention reference",
    "retention_reference_source": "retention reference's source",
}


def setting_name(names: Mapping[str, str], field: str) -> str:
    """A setting's name in words: from `names` (QUEUE_SETTING_NAMES, PROJECT_SETTING_NAMES), else its own."""
    return names.get(field, field.replace("_", " "))
