"""Withdrawing ready versions, for a lead (`withdraw_version`: bad gold, text redacted since) and for an end user's
erasure (`withdraw_versions`, which both use): the versions' rows, the lines only they held and their rendered files
go; the record stays (number, checksum, counts) with who withdrew it, when and why, its downloads, rows and diffs
answer 410 Gone with that note, and `latest` names the newest version still ready."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Case, TextField, Value, When
from django.utils import timezone

from labeling.exceptions import InvalidInput, NotFound, VersionNotReady
from labeling.models import ApiKey, AuditEvent, Dataset, DatasetVersion, VersionStatus
from labeling.rules.access import WithdrawalGrant, ensure_can_withdraw_versions
from labeling.rules.text import check_storable

from .. import version_files, webhook_events
from ..queues import audit_actor
from ..redaction import redact_free_text, redactor_for
from .storage import delete_rows

REASON_MAX_CHARS = 2000


@dataclass(frozen=True)
class Withdrawal:
    version: DatasetVersion
    withdrawn_now: bool  # False: it was withdrawn already (a retry, a second click), and nothing changed
    latest: int | None = None  # the version `latest` names after this withdrawal (None: no ready version is left)


def withdraw_versions(
    *,
    versions: list[DatasetVersion],
    note: str | Mapping[int, str],
    now: datetime | None = None,
    by=None,
    api_key: ApiKey | None = None,
) -> int | None:
    """Withdraw these ready versions of one dataset with `note` (why: downloads answer 410 with it; a mapping gives
    each version's own, by primary key), and tell the webhooks, each with the version `latest` names afterwards;
    return that version's number (None: none is ready).

    The caller holds the dataset's row lock and has waited for a build in flight: no build claims a version meanwhile,
    and none copies these versions' rows once this commits (a build copies only from a ready predecessor).
    """
    ids = [version.pk for version in versions]
    now = now or timezone.now()
    # Their rendered files (Parquet, Hugging Face) hold the rows too: deleted once this commits.
    version_files.discard_files(version_ids=ids)
    # Their rows go, and with them the lines no other version holds.
    delete_rows(ids)
    notes = {pk: note for pk in ids} if isinstance(note, str) else dict(note)
    withdrawn = {
        "status": VersionStatus.WITHDRAWN,
        "withdrawn_at": now,
        "withdrawn_by": audit_actor(by),
        "withdrawn_by_key": api_key,
    }
    each_note = Case(*(When(pk=pk, then=Value(notes[pk])) for pk in ids), output_field=TextField())
    DatasetVersion.objects.filter(pk__in=ids).update(**withdrawn, withdrawn_note=each_note)
    latest = (
        DatasetVersion.objects.ready()
        .filter(dataset_id=versions[0].dataset_id)
        .order_by("-number")
        .values_list("number", flat=True)
        .first()
    )
    for version in versions:
        for name, value in {**withdrawn, "withdrawn_note": notes[version.pk]}.items():
            setattr(version, name, value)
        webhook_events.dataset_version_withdrawn(version, latest_version=latest)
    return latest


@transaction.atomic
def withdraw_version(
    *,
    dataset: Dataset,
    number: int,
    reason: str,
    actor=None,
    api_key: ApiKey | None = None,
    grant: WithdrawalGrant | None = None,
) -> Withdrawal:
    """Withdraw the dataset's ready version `number` for `reason` (required: the note everyone who asks for the
    version is shown), and audit it as `dataset.version_withdrawn`.

    Forbidden unless a lead or admin asks, or a key one of them issued (`rules.access.check_can_withdraw_versions`);
    InvalidInput for a reason empty, too long or not storable; NotFound for no such version; VersionNotReady (409)
    for a version building or failed. A version withdrawn already is returned as it is (`withdrawn_now` False): its
    first note, time and author stay. `grant`: the caller's `check_can_withdraw_versions`, when it asked already.
    """
    ensure_can_withdraw_versions(dataset.project, user=actor, api_key=api_key, grant=grant)
    note = _checked_reason(reason)
    # Locked as a build and an erasure lock them: the dataset (no build claims a number meanwhile), then a build in
    # flight, waited for (it may be copying this version's rows), then the version.
    list(Dataset.objects.select_for_update(of=("self",)).filter(pk=dataset.pk).values_list("pk", flat=True))
    versions = DatasetVersion.objects.select_for_update(of=("self",)).filter(dataset=dataset).order_by("pk")
    list(versions.filter(status=VersionStatus.BUILDING).values_list("pk", flat=True))
    # Nine digits at most, as the API reads a version number: a longer one would overflow the column.
    version = versions.filter(number=number).first() if 0 < number < 10**9 else None
    if version is None:
        raise NotFound(f"No such version: {number}.")
    version.dataset = dataset
    if version.status == VersionStatus.WITHDRAWN:
        return Withdrawal(version=version, withdrawn_now=False)
    if version.status == VersionStatus.BUILDING:
        raise VersionNotReady(
            f"Version {number} is still being built: it can be withdrawn once it is ready (the dataset page shows "
            "when). Nothing was withdrawn."
        )
    if version.status != VersionStatus.READY:
        raise VersionNotReady(f"Version {number} failed: it has no rows or downloads to withdraw. Nothing changed.")
    # A lead may quote what was wrong ("contains jane@example.com"): the project's redaction rules apply.
    note = redact_free_text(redactor_for(dataset.project), note)
    latest = withdraw_versions(versions=[version], note=note, by=actor, api_key=api_key)
    AuditEvent.objects.create(
        project_id=dataset.project_id,
        actor=audit_actor(actor),
        action="dataset.version_withdrawn",
        details={
            "dataset": dataset.pk,
            "slug": dataset.slug,
            "name": dataset.name,
            "version": version.number,
            "sha256": version.sha256,
            "rows": version.row_count,
            "reason": note,
            **({"api_key": api_key.prefix} if api_key else {}),
        },
    )
    return Withdrawal(version=version, withdrawn_now=True, latest=latest)


def _checked_reason(reason: str) -> str:
    note = (reason or "").strip()
    if not note:
        raise InvalidInput(
            "Say why the version is withdrawn: engineers who ask for it are answered with this reason.", field="reason"
        )
    if len(note) > REASON_MAX_CHARS:
        raise InvalidInput(f"The reason is at most {REASON_MAX_CHARS} characters.", field="reason")
    check_storable(reason=note)
    return note
