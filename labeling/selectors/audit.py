"""A project's audit log, newest first, a page at a time, filtered by action, actor, days and moments.

Pages are cut on (at, id), not by offset: the `audit_project_at` index serves them, a page never repeats or
skips an event when several share a timestamp, and events written while someone reads do not shift the
pages they have not seen yet. A cursor is the id of the event at a page's edge.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Q

from labeling.exceptions import InvalidInput
from labeling.models import AuditEvent, Project
from labeling.rules.calendar import day_start
from labeling.rules.commands import COMMAND

PAGE_SIZE = 50


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditFilter:
    """What the reader asked for; None means any. `automatic` picks events no person did (actor unset) and no
    command; `by_command` those of a management command (rules.commands)."""

    actions: tuple[str, ...] | None = None
    actor_id: int | None = None
    automatic: bool = False
    by_command: bool = False
    first_day: date | None = None  # in the project's time zone, inclusive
    last_day: date | None = None  # inclusive
    since: datetime | None = None  # a moment, inclusive (a done decision's link: from its record to its done)
    until: datetime | None = None  # inclusive


@dataclass(frozen=True, slots=True)
class AuditPage:
    events: list[AuditEvent]
    older: int | None  # cursor of the next (older) page, if there is one
    newer: int | None  # cursor of the previous (newer) page, if there is one


def audit_page(
    project: Project,
    *,
    where: AuditFilter,
    older_than: int | None = None,
    newer_than: int | None = None,
    size: int | None = None,
) -> AuditPage:
    """One page of the project's events matching `where`, newest first: the newest page, or the page just
    older than the event `older_than`, or just newer than the event `newer_than` (InvalidInput for an id that
    is not one of the project's events). Two queries with a cursor, one without; actors come with the events."""
    size = size or PAGE_SIZE
    events = (
        AuditEvent.objects.filter(project=project)
        .filter(_matching(project, where))
        .select_related("actor")
        .only("id", "action", "details", "at", "actor_id", "actor__username", "actor__email")
    )
    if newer_than is not None:
        at = _anchor(project, newer_than)
        chunk = list(events.filter(Q(at__gt=at) | Q(at=at, pk__gt=newer_than)).order_by("at", "pk")[: size + 1])
        more_newer = len(chunk) > size
        chunk = chunk[:size][::-1]
        return AuditPage(
            events=chunk,
            older=chunk[-1].pk if chunk else None,
            newer=chunk[0].pk if chunk and more_newer else None,
        )
    if older_than is not None:
        at = _anchor(project, older_than)
        events = events.filter(Q(at__lt=at) | Q(at=at, pk__lt=older_than))
    chunk = list(events.order_by("-at", "-pk")[: size + 1])
    more_older = len(chunk) > size
    chunk = chunk[:size]
    return AuditPage(
        events=chunk,
        older=chunk[-1].pk if chunk and more_older else None,
        # Coming from a newer page, there is one to go back to.
        newer=chunk[0].pk if chunk and older_than is not None else None,
    )


def _anchor(project: Project, event_id: int) -> datetime:
    at = AuditEvent.objects.filter(project=project, pk=event_id).values_list("at", flat=True).first()
    if at is None:
        raise InvalidInput("That page of the audit log does not exist; start again from the newest events.")
    return at


def _matching(project: Project, where: AuditFilter) -> Q:
    match = Q()
    if where.actions is not None:
        match &= Q(action__in=where.actions)
    if where.automatic:
        match &= Q(actor__isnull=True) & ~Q(details__has_key=COMMAND)
    elif where.by_command:
        match &= Q(actor__isnull=True, details__has_key=COMMAND)
    elif where.actor_id is not None:
        match &= Q(actor_id=where.actor_id)
    if where.first_day is not None:
        match &= Q(at__gte=day_start(project, where.first_day))
    if where.last_day is not None:
        match &= Q(at__lt=day_start(project, where.last_day + timedelta(days=1)))
    if where.since is not None:
        match &= Q(at__gte=where.since)
    if where.until is not None:
        match &= Q(at__lte=where.until)
    return match


def actions_in_log(project: Project) -> list[str]:
    """The actions that occur in the project's log, alphabetically (one query)."""
    return list(
        AuditEvent.objects.filter(project=project).order_by("action").values_list("action", flat=True).distinct()
    )


def actors_in_log(project: Project) -> list:
    """The people who did something in the project's log, by username (one query)."""
    acted = AuditEvent.objects.filter(project=project, actor__isnull=False).values("actor_id")
    return list(get_user_model().objects.filter(pk__in=acted).order_by("username").only("id", "username"))
