"""What each audited action means, in words: the one place the audit log page learns how to say an event.

`ACTIONS` maps an action to a short label (for the filter) and a sentence built from the event's details.
Sentences are plain text: the template escapes them like any user text, so a `<script>` in a detail shows
as text. An action missing here, or an event whose details lack a field its sentence needs, is shown as
its raw action with the details as key=value pairs.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from labeling.reports import GOLD_PART_WORDS
from labeling.rules.edits import (
    PROJECT_SETTING_NAMES,
    QUEUE_SETTING_NAMES,
    setting_name,
    setting_value_as_read,
    value_as_read,
)
from labeling.rules.text import counted, isolated, listed

# How much of one detail a sentence shows: a decision's text or a list of external ids can be long.
VALUE_CHARS = 160
LIST_ITEMS = 8


@dataclass(frozen=True, slots=True)
class Area:
    key: str
    label: str
    prefixes: tuple[str, ...]


# The filter groups the actions by area, in this order; an action of no area falls under "Other".
AREAS = (
    Area("keys", "API keys", ("api_key.",)),
    Area("members", "Members", ("member.",)),
    Area("project", "Project", ("project.",)),
    Area("rubric", "Rubric", ("rubric.",)),
    Area("queues", "Queues", ("queue.",)),
    Area("weeks", "Weeks and meetings", ("cycle.", "decision.", "flag.")),
    Area("alerts", "Alerts", ("alert.",)),
    Area("adjudication", "Adjudication", ("gold.",)),
    Area("datasets", "Datasets", ("dataset.",)),
    Area("webhooks", "Webhooks", ("webhook.",)),
    Area("privacy", "Privacy", ("privacy.", "retention.", "redaction.")),
    Area("exports", "Exports and explore", ("outputs.", "saved_view.")),
    Area("sign_in", "Sign-in", ("sign_in.",)),
)
OTHER = Area("other", "Other", ())


def text(value) -> str:
    """A detail as a reader wants it: lists joined, nothing as a dash, long text cut."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        shown = ", ".join(text(item) for item in value[:LIST_ITEMS])
        return shown + (f" and {len(value) - LIST_ITEMS} more" if len(value) > LIST_ITEMS else "")
    if isinstance(value, dict):
        return "; ".join(f"{key}={text(item)}" for key, item in value.items())
    shown = str(value)
    # Isolated: a right-to-left override in a name (U+202E) would reverse the rest of the sentence.
    return isolated(shown if len(shown) <= VALUE_CHARS else shown[: VALUE_CHARS - 1] + "…")


def _words(name: str) -> str:
    return str(name).replace("_", " ")


def _pairs(pairs: dict) -> str:
    """{"question": [before, after]} (gold.adjudicated) as "question: before → after; …"."""
    return "; ".join(f"{_words(key)}: {text(before)} → {text(after)}" for key, (before, after) in pairs.items())


def _settings_changed(d: dict) -> str:
    """services/projects.update_project_settings: {"changes": {field: {"before": x, "after": y}}}."""
    read = partial(setting_value_as_read, otherwise=text)
    changes = "; ".join(
        f"{setting_name(PROJECT_SETTING_NAMES, name)}: {read(name, change['before'])} → {read(name, change['after'])}"
        for name, change in d["changes"].items()
    )
    return f"Changed the project's settings: {changes}"


def _listed(words: list[str]) -> str:
    """The settings a change named; "settings" when it named none."""
    return listed(words) or "settings"


def _the_queue(d: dict) -> str:
    """The queue of a queue's event by its name; by its slug in events from before the name was recorded."""
    return f"the queue “{text(d['name'])}”" if d.get("name") else f"the queue {text(d['slug'])}"


def _queue_created(d: dict) -> str:
    """services/queues.create_queue: {"queue", "slug"}, and since it was recorded its "name"."""
    return f"Created {_the_queue(d)}"


def _queue_changed(d: dict) -> str:
    """services/queues.update_queue: {"slug", "changed": [field, ...]}, since they were recorded its "name" and
    "is_active" as saved, and since then the "changes" ({field: {"before", "after"}}) of its short settings.
    Unticking Active pauses the queue: said as such, not as a field that changed."""
    queue, changes = _the_queue(d), d.get("changes") or {}
    others = [
        f"{setting_name(QUEUE_SETTING_NAMES, field)} from {_queue_value(changes[field]['before'])} to "
        f"{_queue_value(changes[field]['after'])}"
        if field in changes
        else setting_name(QUEUE_SETTING_NAMES, field)
        for field in d["changed"]
        if field != "is_active"
    ]
    if "is_active" not in d["changed"]:
        # Events from before the values were recorded name the settings only.
        return f"Changed {queue}: its {_listed(others)}" if changes else f"Changed the {_listed(others)} of {queue}"
    # Events from before the state was recorded say only that it changed.
    verb = {True: "Resumed", False: "Paused"}.get(d.get("is_active"), "Paused or resumed")
    return f"{verb} {queue}" + (f" and changed its {_listed(others)}" if others else "")


def _queue_value(value) -> str:
    """A queue setting's value in the log: no weekly quota as a clash's sentence reads it (`value_as_read`: none),
    not the log's dash; any other value by the log's own quoting, as `_settings_changed` says a project's."""
    return value_as_read(value) if value is None else text(value)


def _invited(d: dict) -> str:
    again = " again (a new link; the earlier one stops working)" if d.get("renewed") else ""
    return f"Invited {text(d['email'])} as {text(d['role'])}{again}"


def _freed(d: dict) -> str:
    held = d.get("leases_released") or 0
    return f", freeing the {held} item{'s' if held != 1 else ''} they held" if held else ""


def _role_changed(d: dict) -> str:
    return f"Changed {text(d['user'])}'s role from {text(d['from'])} to {text(d['to'])}{_freed(d)}"


def _removed(d: dict) -> str:
    return f"Removed {text(d['user'])} ({text(d['role'])}) from the project{_freed(d)}"


def _invitation_revoked(d: dict) -> str:
    reason = f": {text(d['reason'])}" if d.get("reason") else ""
    return f"Revoked the invitation of {text(d['email'])}{reason}"


def _key_revoked(d: dict) -> str:
    name = f"“{text(d['name'])}” " if d.get("name") else ""
    return f"Revoked the API key {name}(el_{text(d['prefix'])}_…)"


def _backfill(d: dict) -> str:
    since = f" since {text(d['since'])[:10]}" if d.get("since") else ""
    return f"Asked for a backfill of the queue {text(d['slug'])}{since}"


def _decision(verb: str) -> Callable[[dict], str]:
    def sentence(d: dict) -> str:
        owner = f", owner {text(d['owner'])}" if d.get("owner") else ""
        due = f", due {text(d['due_date'])}" if d.get("due_date") else ""
        return f"{verb} a decision of {text(d['week'])}: “{text(d['text'])}”{owner}{due}"

    return sentence


def _adjudicated(d: dict) -> str:
    return f"Decided the gold answer of item {text(d['item'])} ({text(d['external_id'])}): {_pairs(d['answers'])}"


def _erased(d: dict) -> str:
    return (
        f"Erased an end user's data: {text(d['outputs'])} outputs, {text(d.get('labels', 0))} labels, "
        f"{text(d.get('usage_events', 0))} usage events"
    )


def _retention_purged(d: dict) -> str:
    deleted = f"Deleted {text(d['deleted'])} outputs older than {text(d['days'])} days (the raw-retention period)"
    if "event_properties_emptied" not in d:  # a run from before events' properties were emptied
        return deleted
    return f"{deleted} and emptied the properties of {text(d['event_properties_emptied'])} usage events"


def _exported(d: dict) -> str:
    where = f" matching {text(d['filter'])}" if d.get("filter") else ""
    return f"Exported outputs as {text(d['format']).upper()}{where}"


def _downloaded(d: dict) -> str:
    who = " (an operator, not a member)" if d.get("operator") else ""
    name, number, fmt = text(d["name"]), text(d["version"]), text(d["format"]).upper()
    return f"Downloaded version {number} of the dataset “{name}” as {fmt}{who}"


# What else a redaction run may have redacted, as its event counts it: told when it changed some.
REDACTED_TOO = {
    "withdrawal_reasons": "the reasons of {n} withdrawn dataset version{s}",
    "flag_notes": "the notes of {n} flag{s}",
    "comments": "{n} comment{s}",
    "skip_reasons": "the reasons of {n} skip{s}",
    "adjudication_notes": "{n} adjudication note{s}",
    "decisions": "the texts of {n} meeting decision{s}",
    "decision_owners": "the owners of {n} decision{s}",
    "saved_view_names": "the names of {n} saved view{s}",
}


def _redacted(d: dict) -> str:
    # Runs before usage events were redacted too recorded no count of them.
    events = f" and {text(d['usage_events'])} usage events" if "usage_events" in d else ""
    done = f"Redacted {text(d['outputs'])} stored outputs{events} with version {text(d['version'])} of the rules"
    # Runs before these were counted recorded none; a count of nothing is left out.
    too = [
        words.format(n=d[key], s="" if d[key] == 1 else "s")
        for key, words in REDACTED_TOO.items()
        if isinstance(d.get(key), int) and d[key] > 0
    ]
    if not too:
        return done
    return f"{done}; also {listed(too)}"


def _unlocked(d: dict) -> str:
    whom = [text(d["username"])] if d.get("username") else []
    whom += [f"the address {text(d['address'])}"] if d.get("address") else []
    return f"Lifted the sign-in lock of {' and '.join(whom) or 'nobody'}"


def _compared_again(d: dict) -> str:
    """services/cycles: a week's comparison with the week before, (`trend_point`) one point of its pass-rate trend, or
    (`gold_parts`) its "what changed" and retention by verdict, made again from another week's final figures."""
    if d.get("trend_point"):
        return f"Took {text(d['with_week'])}'s final pass-rate figure into the trend of the week {text(d['week'])}"
    if parts := [words for part, words in GOLD_PART_WORDS.items() if part in (d.get("gold_parts") or [])]:
        return (
            f"Made the {' and '.join(parts)} of the week {text(d['week'])} again from {text(d['with_week'])}'s final "
            "gold answers"
        )
    return f"Compared the week {text(d['week'])} again with {text(d['with_week'])}'s final figures"


def _restated_report_notice_sent(d: dict) -> str:
    """services/cycles.send_restated_report_notice: the leads and admins told the figures of a week's report that a
    later close restated."""
    return (
        f"Mailed the leads and admins ({counted(d['recipients'], 'e-mail')}) the figures of the week "
        f"{text(d['week'])}'s report that {text(d['with_week'])}'s close restated: {text(d['figures'])}"
    )


def _made_operator(d: dict) -> str:
    who = f"{'Created' if d['created'] else 'Made'} {text(d['username'])} {'a new' if d['created'] else 'an'} operator"
    admin = ", a superuser in the Django admin" if d["superuser"] else ""
    return f"{who}{admin}: they see every project and its outputs"


def _operator_revoked(d: dict) -> str:
    tokens = d.get("tokens_revoked") or 0
    revoked = f"{counted(tokens, 'operator token')} of theirs" if tokens else ""
    if d.get("permission", True):  # entries before tokens were revoked too hold no `permission`: it was taken
        also = f", and revoked {revoked}" if revoked else ""
        seen = "they see only the projects they are a member of"
        return f"Took the operator permission from {text(d['username'])}{also}: {seen}"
    return f"Revoked {revoked}, left from when {text(d['username'])} was an operator"


@dataclass(frozen=True, slots=True)
class Action:
    label: str
    sentence: str | Callable[[dict], str]  # a str.format template over the details, or a function of them


ACTIONS: dict[str, Action] = {
    "api_key.created": Action("Key created", "Created the API key “{name}” (el_{prefix}_…) with the scopes {scopes}"),
    "api_key.revoked": Action("Key revoked", _key_revoked),
    # The members' actions, as services/members.py and services/invitations.py write them.
    "member.invited": Action("Member invited", _invited),
    "member.invitation_resent": Action("Invitation resent", "Sent the invitation to {email} ({role}) again"),
    "member.invitation_revoked": Action("Invitation revoked", _invitation_revoked),
    "member.added": Action("Member added", "Added {user} as {role} (through {via})"),
    "member.invitation_accepted": Action(
        "Invitation accepted", "{user} accepted an invitation, and stays {role} (a member already)"
    ),
    "member.role_changed": Action("Role changed", _role_changed),
    "member.removed": Action("Member removed", _removed),
    "member.made_operator": Action("Operator made", _made_operator),
    "member.operator_revoked": Action("Operator revoked", _operator_revoked),
    "project.created": Action("Project created", "Created the project {slug}"),
    "project.settings_changed": Action("Settings changed", _settings_changed),
    "rubric.published": Action("Rubric published", "Published version {version} of the rubric"),
    "queue.created": Action("Queue created", _queue_created),
    "queue.updated": Action("Queue changed", _queue_changed),
    "queue.backfill_requested": Action("Backfill requested", _backfill),
    "queue.backfilled": Action("Backfill done", "Placed {placed} outputs in the queue {slug} by a backfill"),
    "queue.outputs_added": Action(
        "Outputs added to a queue",
        "Added {added} outputs to the queue {queue} from the explore page ({already_in} were in it already)",
    ),
    "alert.acknowledged": Action("Alert acknowledged", "Acknowledged the alert “{title}”"),
    "cycle.closed": Action("Week closed", "Closed the week {week}"),
    "cycle.compared_again": Action("Week compared again", _compared_again),
    "cycle.restated_report_notice_sent": Action("Restated report notice sent", _restated_report_notice_sent),
    "decision.added": Action("Decision recorded", _decision("Recorded")),
    "decision.deleted": Action("Decision deleted", _decision("Deleted")),
    "decision.done": Action("Decision done", _decision("Marked done")),
    "flag.resolved": Action("Flag resolved", "Resolved flag {flag} on item {item}"),
    "gold.adjudicated": Action("Item adjudicated", _adjudicated),
    "gold.confirmed": Action(
        "Gold answer confirmed", "Confirmed the gold answer of item {item} ({external_id}) as it is"
    ),
    "gold.marked_for_adjudication": Action(
        "Item sent to adjudication", "Sent item {item} ({external_id}) to adjudication"
    ),
    "dataset.created": Action("Dataset created", "Created the dataset “{name}”"),
    "dataset.build_requested": Action("Dataset build requested", "Asked for a new version of the dataset “{name}”"),
    "dataset.downloaded": Action("Dataset downloaded", _downloaded),
    "dataset.version_withdrawn": Action(
        "Dataset version withdrawn", "Withdrew version {version} of the dataset “{name}”: {reason}"
    ),
    "webhook.created": Action("Webhook added", "Added the {kind} webhook endpoint {url} for {events}"),
    "webhook.secret_rotated": Action("Webhook secret rotated", "Rotated the signing secret of the webhook {url}"),
    "webhook.enabled": Action("Webhook enabled", "Enabled the webhook endpoint {url}"),
    "webhook.disabled": Action("Webhook disabled", "Disabled the webhook endpoint {url}"),
    "webhook.auto_disabled": Action(
        "Webhook disabled after failures",
        "The webhook endpoint {endpoint} was disabled after {failures} failed attempts",
    ),
    "webhook.deleted": Action("Webhook deleted", "Deleted the webhook endpoint {url}"),
    "webhook.redelivered": Action("Webhook redelivered", "Sent {event} {message_id} to {url} again"),
    "privacy.end_user_erased": Action("End user erased", _erased),
    "retention.outputs_deleted": Action("Old outputs deleted", _retention_purged),
    "redaction.rules_saved": Action("Redaction rules saved", "Saved version {version} of the redaction rules"),
    "redaction.outputs_redacted": Action("Stored outputs redacted", _redacted),
    "outputs.exported": Action("Outputs exported", _exported),
    "saved_view.created": Action("Explore view saved", "Saved the explore view “{name}”"),
    "saved_view.renamed": Action("Explore view renamed", "Renamed an explore view to “{name}”"),
    "saved_view.deleted": Action("Explore view deleted", "Deleted the explore view “{name}”"),
    "sign_in.unlocked": Action("Sign-in unlocked", _unlocked),
}


class _Details(dict):
    """The details with each value as text, for a sentence template."""

    def __getitem__(self, key):
        return text(super().__getitem__(key))


def sentence(action: str, details) -> str | None:
    """The event in words, or None when the action is unknown or its details do not fit the sentence."""
    known = ACTIONS.get(action)
    if known is None or not isinstance(details, dict):
        return None
    try:
        if callable(known.sentence):
            return known.sentence(details)
        return known.sentence.format_map(_Details(details))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def detail_pairs(details) -> list[tuple[str, str]]:
    """The fallback: each detail as (key, value text)."""
    if not isinstance(details, dict):
        return [("details", text(details))]
    return [(str(key), text(value)) for key, value in details.items()]


def area_of(action: str) -> Area:
    return next((area for area in AREAS if action.startswith(area.prefixes)), OTHER)


def label_of(action: str) -> str:
    known = ACTIONS.get(action)
    return known.label if known else action


def grouped_choices(actions: list[str]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The filter's options: per area that occurs, "all of the area" and then each of its actions."""
    groups = []
    for area in (*AREAS, OTHER):
        members = [action for action in actions if area_of(action) == area]
        if members:
            options = [(f"area:{area.key}", f"Everything in {area.label}")] if len(members) > 1 else []
            options += [(action, label_of(action)) for action in members]
            groups.append((area.label, options))
    return groups


def actions_of_area(key: str, actions: list[str]) -> tuple[str, ...]:
    return tuple(action for action in actions if area_of(action).key == key)
