"""A project's API keys as its keys page shows them: active first, the one used last, the stale ones, and
those whose issuer could not issue them today.

A key belongs to the project, not to the person who issued it (a product app's ingest must not stop because an
engineer left), so it keeps working when its issuer is removed, demoted or deactivated: the page flags it
instead, and a lead decides whether to revoke it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import CharField, F, OuterRef, Subquery
from django.db.models.fields.json import KT
from django.utils import timezone

from labeling.exceptions import NotFound
from labeling.models import ApiKey, AuditEvent, Membership, Project
from labeling.rules.access import KEY_ROLES, issuable_scopes
from labeling.rules.commands import COMMAND, by_command

# An active key nobody used for this long is worth a look: forgotten, or an app that stopped sending.
STALE_AFTER = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class KeyRow:
    api_key: ApiKey
    used_last: bool  # the active key used most recently: the one the product app sends now
    stale: bool  # active, and unused (or never used) for STALE_AFTER
    # Active, and its issuer may not issue it today: removed, deactivated, or in a role without these scopes.
    issuer_lost_access: bool
    issuer: str  # who issued it: a username, or the command its api_key.created event names (rules.commands)


@dataclass(frozen=True, slots=True)
class ProjectKeys:
    rows: list[KeyRow]
    last_used: ApiKey | None
    active: int


def project_keys(project: Project, now: datetime | None = None) -> ProjectKeys:
    """Every key of the project with who made it: active ones newest first, then the revoked ones (one query)."""
    now = now or timezone.now()
    issuer_role = Membership.objects.of_active_accounts().filter(project=project, user_id=OuterRef("created_by_id"))
    # A key no person issued: the command its creation's audit event names, in the same query, each event found by
    # its key's prefix through the partial index audit_command_key_created (not a scan of the log per key).
    issued_by_command = (
        AuditEvent.objects.filter(project=project, action="api_key.created", actor__isnull=True)
        .annotate(key_prefix=KT("details__prefix"))
        .filter(key_prefix=OuterRef("prefix"))
        .values(command=KT(f"details__{COMMAND}"))
    )
    keys = list(
        ApiKey.objects.filter(project=project)
        .select_related("created_by")
        .annotate(
            issuer_role=Subquery(issuer_role.values("role")[:1]),
            issuing_command=Subquery(issued_by_command[:1], output_field=CharField()),
        )
        .order_by(F("revoked_at").desc(nulls_first=True), "-created_at", "-pk")
    )
    active = [key for key in keys if key.revoked_at is None]
    used = [key for key in active if key.last_used_at is not None]
    last_used = max(used, key=lambda key: (key.last_used_at, key.pk)) if used else None
    rows = [
        KeyRow(
            api_key=key,
            used_last=key is last_used,
            stale=key.revoked_at is None and (key.last_used_at or key.created_at) < now - STALE_AFTER,
            issuer_lost_access=key.revoked_at is None and _issuer_lost_access(key),
            issuer=_issuer(key),
        )
        for key in keys
    ]
    return ProjectKeys(rows=rows, last_used=last_used, active=len(active))


def _issuer(key: ApiKey) -> str:
    if key.created_by_id is not None:
        return key.created_by.username
    # Keys issued before commands were named (or whose issuer's account was deleted) say no more than that.
    return by_command(key.issuing_command) if key.issuing_command else "a command"


def _issuer_lost_access(key: ApiKey) -> bool:
    """Could the key's issuer not issue it now (`rules.access.check_can_issue_key`'s rule)? None: a command's key."""
    if key.created_by_id is None:
        return False
    role = key.issuer_role  # None: no longer a member, or the account is deactivated
    return role not in KEY_ROLES or not set(key.scopes) <= set(issuable_scopes(role))


def key_of_project(project: Project, key_id: int) -> ApiKey:
    """The project's key with this id, else NotFound (another project's key included)."""
    api_key = ApiKey.objects.filter(project=project, pk=key_id).select_related("created_by").first()
    if api_key is None:
        raise NotFound("No such API key.")
    return api_key
