"""Personal data after ingest: erase one end user on request; past a project's retention, delete raw outputs and empty
usage events' properties.

Erasure deletes rows rather than blanking texts: the end user's outputs, and those sent without an end user id in a
session only theirs, go; an output goes with everything hanging off it (its
items, slots, labels and their revisions, skips, flags, comments, gold answers), and the end user's
usage events go too. Dataset versions holding a row of theirs are withdrawn as a lead withdraws one
(`datasets.withdraw_versions`: their rows deleted, the record kept with a note, their rendered Parquet and Hugging Face
files deleted) and the newest of them is succeeded by a redacted copy without those rows (whose files a worker renders).
Frozen weekly reports lose their entries about the erased outputs (agenda entries about their items,
failure-theme examples quoting them), and the failure themes of the weeks that held them are deleted
(their terms may be the end user's words; an open week's next refresh or close themes it again).
Saved explore views filtering on the end user (by id, session id or an output's external id) or named after them are
deleted, and the audit events that copied them (an export's filter, a saved view's filter and name, an output's external
id, a lead's gold answers for it) keep who did what with ERASED in their place.
What stays is what carries no text of theirs: aggregate metric rows, "what changed" rows (slice
values such as models, tags and metadata values, and rates), decisions (the lead's text; the link to
the item is cleared), and an audit event naming the end user only by a keyed hash. The raw-retention purge
scrubs the frozen reports of the outputs it deletes the same way, keeping the themes (aggregate terms). See README
"Personal data".
"""

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, Max, Min, OuterRef, Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from labeling.exceptions import InvalidInput
from labeling.models import (
    ApiKey,
    AuditEvent,
    Comment,
    Dataset,
    DatasetRow,
    DatasetVersion,
    FailureTheme,
    FailureThemeOutput,
    Flag,
    Item,
    Label,
    Output,
    Project,
    Resolution,
    ResolutionStatus,
    ReviewCycle,
    SavedView,
    UsageEvent,
    VersionStatus,
    WebhookEndpoint,
)
from labeling.rules.explore import end_user_out_of_queries, end_user_out_of_text
from labeling.rules.text import check_storable

from .advisory_locks import hold_project_lock
from .change_tallies import forget_weeks
from .datasets import copy_version_without, withdraw_versions
from .retention import forget_end_user

MAX_END_USER_ID = 200  # the column's length: a longer id names nobody
RETENTION_BATCH = 2000
ERASED = "[erased]"  # what stands in a kept record where an erased end user's id or text was
# Audit events keeping an explore filter (under this key): it may name the end user, by id or as a word searched for.
FILTER_DETAILS = {
    "outputs.exported": "filter",
    "queue.outputs_added": "filter",
    "saved_view.created": "query",
    "saved_view.deleted": "query",
}
# Audit events keeping a saved view's name (under this key): a lead may name a view after the end user it is about.
NAME_DETAILS = {"saved_view.created": "name", "saved_view.deleted": "name", "saved_view.renamed": "name"}
# Audit events about one output, named by its external id; a lead's gold answers quote the output or correct it.
OUTPUT_DETAILS = ("gold.adjudicated", "gold.confirmed", "gold.marked_for_adjudication")


@dataclass
class ErasureResult:
    outputs: int = 0
    usage_events: int = 0
    items: int = 0
    labels: int = 0
    comments: int = 0
    flags: int = 0
    withdrawn_versions: list[str] = field(default_factory=list)
    successor_versions: list[str] = field(default_factory=list)
    reports_scrubbed: int = 0
    themes_deleted: int = 0
    saved_views_deleted: int = 0
    audit_events_scrubbed: int = 0


# An advisory key space of its own (the retention and week locks use others): a project's erasures against the writers
# of the audit events they scrub.
_ERASURE_LOCK_SPACE = 0x454C_4552 << 32  # "ELER"


def hold_erasures_off(project_id: int) -> None:
    """Until the transaction ends, make an end user's erasure in the project wait for this writer, or this writer wait
    for an erasure in flight: for writers of an audit event that may name an end user (an export's filter, an add to
    a queue's). Unlike the project's row lock it is not held by the recomputes of a week's rows (seconds at a large
    project's close), so those writers never wait for one; they do not wait for each other either (a shared lock)."""
    hold_project_lock(_ERASURE_LOCK_SPACE, project_id, shared=True)


def end_user_digest(project: Project, end_user_id: str) -> str:
    """A keyed hash naming an end user in the audit log: provable given the id, not reversible without the secret."""
    return salted_hmac("privacy.end-user", f"{project.pk}:{end_user_id}", algorithm="sha256").hexdigest()


def check_end_user_id(end_user_id: str) -> str:
    if not end_user_id or len(end_user_id) > MAX_END_USER_ID:
        raise InvalidInput(f"An end user id is 1 to {MAX_END_USER_ID} characters.")
    check_storable(end_user_id=end_user_id)
    return end_user_id


@transaction.atomic
def erase_end_user(*, project: Project, end_user_id: str, api_key: ApiKey | None = None, actor=None) -> ErasureResult:
    """Remove every text of one end user from the project (idempotent: a second call finds nothing).

    Datasets are locked first (after the project's row): no build can claim a version meanwhile, and a build in
    flight is waited for, so no version made from their rows can appear after this commits.
    """
    check_end_user_id(end_user_id)
    # The project's row first, as saving a view takes it: a view naming the end user saved meanwhile is committed
    # before the views are read (and deleted), or saved after. First, so no lock held here waits behind a queue edit.
    Project.objects.lock(project.pk)
    # Then, before the outputs, the exports and adds to a queue in flight are waited for (hold_erasures_off): their
    # audit events are committed before the log is scrubbed, or written after this commits.
    hold_project_lock(_ERASURE_LOCK_SPACE, project.pk)
    _lock_endpoints(project)
    datasets = list(
        Dataset.objects.select_for_update().filter(project=project).order_by("pk").values_list("pk", flat=True)
    )
    list(
        DatasetVersion.objects.select_for_update()
        .filter(dataset_id__in=datasets, status=VersionStatus.BUILDING)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    outputs = Output.objects.filter(
        Q(end_user_id=end_user_id) | Q(end_user_id="", session_id__in=_sessions_only_theirs(project, end_user_id)),
        project=project,
    )
    # Locked before their items are read: a placement in flight holds them (routing.kept_from_deletion) and is
    # waited for, so the items it makes go with them; one that starts later finds them gone.
    external_ids = list(outputs.select_for_update().order_by("pk").values_list("external_id", flat=True))
    item_ids = set(Item.objects.filter(output__in=outputs).values_list("pk", flat=True))
    result = ErasureResult()
    if external_ids:
        _withdraw_versions(project, set(external_ids), result, actor=actor, api_key=api_key)
    # Always: a thumbs-down output that was never queued has no item, yet a theme example quotes it.
    themed_weeks = set(
        FailureThemeOutput.objects.filter(theme__project=project, output__in=outputs).values_list(
            "theme__week", flat=True
        )
    )
    result.reports_scrubbed = len(_scrub_reports(project, item_ids, set(external_ids), themed_weeks))
    result.themes_deleted = _delete_themes_of(project, themed_weeks)
    events = UsageEvent.objects.filter(project=project, end_user_id=end_user_id)
    for rows in (outputs, events):  # the weeks whose kept "what changed" counts may name the user's values
        span = rows.aggregate(since=Min("occurred_at"), until=Max("occurred_at"))
        if span["since"] is not None:
            forget_weeks(project=project, since=span["since"], until=span["until"] + timedelta(microseconds=1))
    result.usage_events, _ = events.delete()
    forget_end_user(project=project, end_user_id=end_user_id)
    # Items, slots, labels, revisions, skips, flags, comments, gold answers and the webhook deliveries about
    # them (their bodies name the output, may quote it) go with the outputs.
    sessions = set(outputs.exclude(session_id="").values_list("session_id", flat=True).distinct())
    _, deleted = outputs.delete()
    result.outputs, result.items = deleted.get(Output._meta.label, 0), deleted.get(Item._meta.label, 0)
    result.labels, result.comments = deleted.get(Label._meta.label, 0), deleted.get(Comment._meta.label, 0)
    result.flags = deleted.get(Flag._meta.label, 0)
    # Filters find their outputs by their id, a session id of theirs or an output's external id.
    out_of_sight = end_user_out_of_queries(end_user_id, ERASED, sessions=sessions, external_ids=external_ids)
    out_of_words = end_user_out_of_text(end_user_id, ERASED, sessions=sessions, external_ids=external_ids)
    result.saved_views_deleted = _delete_saved_views_naming(project, out_of_sight, out_of_words)
    result.audit_events_scrubbed = _scrub_audit_log(project, out_of_sight, out_of_words, set(external_ids))
    AuditEvent.objects.create(
        project=project,
        actor=actor,
        action="privacy.end_user_erased",
        details={
            "end_user_hmac": end_user_digest(project, end_user_id),
            "api_key": api_key.prefix if api_key else None,
            **asdict(result),
        },
    )
    return result


def _lock_endpoints(project: Project) -> None:
    """Lock the project's webhook endpoints before the outputs, whose deletion deletes the deliveries about them: a
    worker takes its endpoint, then its delivery, then (disabling the endpoint) fails the others pending; deleting
    them first would wait for its delivery while it waited for them (a deadlock). In the order a redelivery takes them
    (endpoint, then output)."""
    list(
        WebhookEndpoint.objects.filter(project=project)
        .select_for_update(no_key=True, of=("self",))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _sessions_only_theirs(project: Project, end_user_id: str) -> list[str]:
    """The session ids of the end user's outputs that no other end user's output carries: there, an output without an
    end user id is theirs too (an app that names the end user only once they sign in sent the first turns without).
    A session id other end users' outputs carry as well says nothing of whose its anonymous outputs are: they stay."""
    theirs = Output.objects.filter(project=project, end_user_id=end_user_id).exclude(session_id="")
    shared = Output.objects.filter(project=project, session_id=OuterRef("session_id")).exclude(
        end_user_id__in=("", end_user_id)
    )
    return list(theirs.filter(~Exists(shared)).order_by().values_list("session_id", flat=True).distinct())


def _withdraw_versions(
    project: Project, external_ids: set[str], result: ErasureResult, *, actor, api_key: ApiKey | None
) -> None:
    """Withdraw every ready version holding one of the rows; succeed each dataset's newest by a redacted copy."""
    affected = (
        DatasetVersion.objects.filter(dataset__project=project, status=VersionStatus.READY)
        .filter(Exists(DatasetRow.objects.filter(version=OuterRef("pk"), external_id__in=external_ids)))
        .select_related("dataset")
        .order_by("dataset_id", "number")
    )
    by_dataset: dict[int, list[DatasetVersion]] = {}
    for version in affected:
        by_dataset.setdefault(version.dataset_id, []).append(version)
    now = timezone.now()
    for versions in by_dataset.values():
        dataset = versions[0].dataset
        newest = dataset.versions.ready().order_by("-number").first()
        successor = copy_version_without(version=newest, external_ids=external_ids) if newest in versions else None
        if successor is not None:
            result.successor_versions.append(f"{dataset.slug}/v{successor.number}")
        notes = {version.pk: _erasure_note(version, newest, successor, now) for version in versions}
        # Their rows and files go, and with them the lines no other version holds: the end user's among them.
        withdraw_versions(versions=versions, note=notes, now=now, by=actor, api_key=api_key)
        result.withdrawn_versions += [f"{dataset.slug}/v{version.number}" for version in versions]


def _erasure_note(
    version: DatasetVersion, newest: DatasetVersion, successor: DatasetVersion | None, now: datetime
) -> str:
    """Why `version` was withdrawn, and what replaces it: the successor is a copy of the newest ready version without
    the end user's rows, so only the newest is "the same" as it; an older one held other rows (or fewer)."""
    note = f"Withdrawn on {now:%Y-%m-%d}: it held rows of an end user whose data was erased."
    if successor is None:  # the newest held none of their rows: it is the version to use
        return note + f" Version {newest.number}, the dataset's latest, holds none of them."
    if version.pk == newest.pk:
        return note + f" Version {successor.number} is the same without those rows."
    return note + (
        f" Version {successor.number}, a copy of version {newest.number} (the latest then) without those rows, "
        "replaces it."
    )


def _scrub_reports(project: Project, item_ids: set[int], external_ids: set[str], themed_weeks: set) -> set[int]:
    """Drop, from frozen weekly reports, the entries about erased items or outputs (agenda entries quote outputs,
    notes and comments; failure-theme examples quote outputs and name them by external id), and the whole failure
    themes of the `themed_weeks`: their terms may be the end user's own words. Return the reports' cycle ids."""
    if not item_ids and not external_ids:
        return set()
    scrubbed = set()
    for cycle in ReviewCycle.objects.filter(project=project).exclude(report={}).locked_newest_first():
        cleaned = _without_entries(cycle.report, item_ids, external_ids)
        if cycle.week in themed_weeks and cleaned.get("themes"):
            cleaned["themes"] = []
        if cleaned != cycle.report:
            ReviewCycle.objects.filter(pk=cycle.pk).update(report=cleaned)
            scrubbed.add(cycle.pk)
    return scrubbed


def _without_entries(value: Any, item_ids: set[int], external_ids: set[str]) -> Any:
    if isinstance(value, dict):
        return {key: _without_entries(inner, item_ids, external_ids) for key, inner in value.items()}
    if isinstance(value, list):
        return [
            _without_entries(inner, item_ids, external_ids)
            for inner in value
            if not (isinstance(inner, dict) and _is_about(inner, item_ids, external_ids))
        ]
    return value


def _is_about(entry: dict, item_ids: set[int], external_ids: set[str]) -> bool:
    """An entry about an erased item (`item_id`) or output (`output`: an external id, as theme examples name it)."""
    if entry.get("item_id") in item_ids:
        return True
    output = entry.get("output")
    return isinstance(output, str) and output in external_ids


def _delete_themes_of(project: Project, weeks: set) -> int:
    """Delete the failure themes of the weeks whose themes held an erased output: their terms are the words of the
    week's failures, theirs among them. Derived rows with their text go, as dataset rows do. An open week's next
    refresh or close themes it again; a closed week's frozen report drops its themes too (`_scrub_reports`)."""
    _, deleted = FailureTheme.objects.filter(project=project, week__in=weeks).delete()
    return deleted.get(FailureTheme._meta.label, 0)


def _delete_saved_views_naming(
    project: Project, out_of_sight: Callable[[str], str], out_of_words: Callable[[str], str]
) -> int:
    """Delete the saved explore views filtering on the end user (by their id, a session id of theirs or an output's
    external id, as a parameter or searched for): their query names them, and they find nothing any more; and those
    whose name names them (a view named after the end user it is about). Views of anything else stay."""
    views = SavedView.objects.select_for_update().filter(project=project).only("pk", "name", "query").order_by("pk")
    naming = [
        view.pk for view in views if out_of_sight(view.query) != view.query or out_of_words(view.name) != view.name
    ]
    SavedView.objects.filter(pk__in=naming).delete()
    return len(naming)


def _scrub_audit_log(
    project: Project, out_of_sight: Callable[[str], str], out_of_words: Callable[[str], str], external_ids: set[str]
) -> int:
    """Put the end user out of sight in the audit events that copied them: explore filters naming them (exports,
    saved views, outputs added to a queue), saved views' names, their outputs' external ids, and a lead's gold answers
    for those outputs. The events stay (who did what, when), with ERASED where the id or text was."""
    events = AuditEvent.objects.filter(project=project, action__in=[*FILTER_DETAILS, *OUTPUT_DETAILS]).order_by("pk")
    scrubbed = []
    for event in events.only("pk", "action", "details").iterator():
        details = _audit_details_without(event.action, event.details, out_of_sight, out_of_words, external_ids)
        if details != event.details:
            event.details = details
            scrubbed.append(event)
    AuditEvent.objects.bulk_update(scrubbed, ["details"], batch_size=500)
    return len(scrubbed)


def _audit_details_without(
    action: str,
    details: Any,
    out_of_sight: Callable[[str], str],
    out_of_words: Callable[[str], str],
    external_ids: set[str],
) -> Any:
    if not isinstance(details, dict):
        return details
    cleaned = dict(details)
    key = FILTER_DETAILS.get(action)
    if key and isinstance(cleaned.get(key), str):
        cleaned[key] = out_of_sight(cleaned[key])
    key = NAME_DETAILS.get(action)
    if key and isinstance(cleaned.get(key), str):
        cleaned[key] = out_of_words(cleaned[key])
    if isinstance(cleaned.get("external_ids"), list):
        cleaned["external_ids"] = [ERASED if name in external_ids else name for name in cleaned["external_ids"]]
    if action in OUTPUT_DETAILS and cleaned.get("external_id") in external_ids:
        cleaned["external_id"] = ERASED
        if isinstance(cleaned.get("answers"), dict):  # {question: [before, after]}: texts may quote the output
            cleaned["answers"] = {
                question: [ERASED if isinstance(value, str) else value for value in pair]
                if isinstance(pair, list)
                else pair
                for question, pair in cleaned["answers"].items()
            }
    return cleaned


# Retention ----------------------------------------------------------------------------------------------------


def expired_outputs(project: Project, cutoff: datetime):
    """Raw outputs that occurred before the cutoff and are in no gold answer and no current dataset version."""
    gold = Resolution.objects.filter(item__output=OuterRef("pk"), status=ResolutionStatus.RESOLVED)
    in_datasets = DatasetRow.objects.filter(
        version__dataset__project=project, version__status=VersionStatus.READY
    ).values("external_id")
    return (
        Output.objects.filter(project=project, occurred_at__lt=cutoff)
        .filter(~Exists(gold))
        .filter(~Q(external_id__in=in_datasets))
    )


def purge_expired_outputs(*, project: Project, now: datetime | None = None) -> int | None:
    """Delete the project's expired raw outputs and empty its expired usage events' properties, in batches, and audit
    the run; return how many outputs were deleted, None when the project keeps them forever."""
    if project.raw_retention_days is None:
        return None
    now = now or timezone.now()
    cutoff = now - timedelta(days=project.raw_retention_days)
    deleted, reports, emptied = 0, set(), 0
    try:
        while True:
            with transaction.atomic():
                batch = expired_outputs(project, cutoff).order_by("pk").values_list("pk", flat=True)[:RETENTION_BATCH]
                ids = list(batch)
                if not ids:
                    break
                _lock_endpoints(project)
                # Locked before their items are read, as an erasure locks its outputs (see erase_end_user).
                locked = Output.objects.filter(pk__in=ids).select_for_update().order_by("pk")
                external_ids = dict(locked.values_list("pk", "external_id"))
                ids = list(external_ids)
                # The frozen reports quoting them (flagged items' excerpts, notes, comments; theme examples) lose
                # those entries; a theme's terms stay, as aggregate figures do.
                item_ids = set(Item.objects.filter(output_id__in=ids).values_list("pk", flat=True))
                reports |= _scrub_reports(project, item_ids, set(external_ids.values()), themed_weeks=set())
                Output.objects.filter(pk__in=ids).delete()  # their items, labels, comments, webhook deliveries cascade
                deleted += len(ids)
        for count in _empty_expired_event_properties(project, cutoff):
            emptied += count  # counted batch by batch: a run stopped later still audits what it emptied
    finally:
        # Audited even when a later batch fails or the task is stopped: what was deleted is on record.
        if deleted:
            forget_weeks(project=project, until=cutoff)  # their kept "what changed" counts may name purged values
        kept = Output.objects.filter(project=project, occurred_at__lt=cutoff).count()
        details = {"days": project.raw_retention_days, "cutoff": cutoff.isoformat(), "deleted": deleted, "kept": kept}
        details["reports_scrubbed"] = len(reports)
        details["event_properties_emptied"] = emptied
        AuditEvent.objects.create(project=project, action="retention.outputs_deleted", details=details)
    return deleted


def _empty_expired_event_properties(project: Project, cutoff: datetime) -> Iterator[int]:
    """Empty the properties of the project's usage events that occurred before the cutoff, yielding each batch's count.

    The rows stay: retention reads their end user and time, never their properties, which hold whatever the app sent
    (page URLs, search terms, e-mail addresses). Batches walk the events by time from the last one emptied, and only
    those still holding properties are read (a partial index on them), so a night does not read or rewrite the
    events emptied on earlier nights.
    """
    pending = UsageEvent.objects.filter(project=project, occurred_at__lt=cutoff).exclude(properties={})
    since = None
    while True:
        batch = pending if since is None else pending.filter(occurred_at__gte=since)
        rows = list(batch.order_by("occurred_at").values_list("pk", "occurred_at")[:RETENTION_BATCH])
        if not rows:
            return
        yield UsageEvent.objects.filter(pk__in=[pk for pk, _ in rows]).update(properties={})
        since = rows[-1][1]
