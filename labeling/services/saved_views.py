"""Saved explore views: a name and the canonical query string of a filter, per project.

The query is read with `rules.explore.parse_filter` (an unknown parameter or a bad value is refused, never
saved), checked against the project (a queue, gold question or failure theme it does not have is refused too) and
stored as `filter_query` writes it back, so equal filters are saved alike and opening a view is opening
`/p/<slug>/explore/?<query>`. Names are unique per project (the database guards it too), and stored under the
project's redaction rules in force: a lead may name a view after the end user it is about.
"""

from urllib.parse import parse_qs

from django.db import IntegrityError, transaction

from labeling.exceptions import InvalidInput, NotFound
from labeling.models import AuditEvent, Project, SavedView
from labeling.rules.explore import filter_query, parse_filter
from labeling.rules.text import check_names
from labeling.rules.twins import audited_twin, twin_of
from labeling.selectors.explore import filter_outputs

from .queues import audit_actor
from .redaction import redact_free_text, redactor_for

MAX_NAME_CHARS = 100  # SavedView.name
MAX_QUERY_CHARS = 4000  # SavedView.query
DELETED = "saved_view.deleted"
# Its details name the view as renamed, not as it was: the earlier events hold that, and erasure and redaction
# scrub every name they hold (`privacy.NAME_DETAILS`, `redaction.SAVED_VIEW_EVENTS`).
RENAMED = "saved_view.renamed"


@transaction.atomic
def save_view(*, project: Project, name: str, query: str, actor=None) -> SavedView:
    """Save the filter in `query` (a query string, with or without "?") under `name`; the same view saved again
    moments ago by the same person is the first one (`saved_twin`).

    InvalidFilter (an InvalidInput) for a bad filter, or one naming what the project does not have; InvalidInput for
    an empty, too long or taken name (taken as stored: two names the redaction rules make alike are one).
    """
    name = _checked_name(name)
    query = (query or "").removeprefix("?")
    too_long = InvalidInput(f"The filter is too long to save (at most {MAX_QUERY_CHARS:,} characters).")
    if len(query) > 4 * MAX_QUERY_CHARS:  # refused unparsed: far beyond any filter worth saving
        raise too_long
    spec = parse_filter(parse_qs(query, keep_blank_values=True))
    canonical = filter_query(spec)
    if len(canonical) > MAX_QUERY_CHARS:
        raise too_long
    # Checked under the lock a queue's rename takes: a slug renamed meanwhile is refused here, or rewritten by it.
    Project.objects.lock(project.pk)
    # Under that lock, as rules are saved and `redact_outputs --all` reads the names: stored as the rules in force make
    # it, compared as stored with a twin and with the names taken.
    name = stored_name(project, name)
    twin = saved_twin(project=project, name=name, query=canonical, actor=actor)
    if twin is not None:
        return twin
    filter_outputs(project, spec)  # InvalidFilter for a queue, gold question or theme the project does not have
    try:
        with transaction.atomic():
            view = SavedView.objects.create(project=project, name=name, query=canonical, created_by=audit_actor(actor))
    except IntegrityError:  # the unique (project, name) constraint: taken, by an earlier or a concurrent save
        raise _taken(name) from None
    AuditEvent.objects.create(
        project=project,
        actor=audit_actor(actor),
        action="saved_view.created",
        details={"view": view.pk, "name": name, "query": canonical},
    )
    return view


def _checked_name(name: str) -> str:
    """The name with its spaces squeezed; InvalidInput for an empty or too long one."""
    name = " ".join((name or "").split())
    check_names(name=name)
    if not name:
        raise InvalidInput("A saved view needs a name.")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"Use at most {MAX_NAME_CHARS} characters for the name.")
    return name


@transaction.atomic
def rename_view(*, project: Project, view_id: int, name: str, actor=None) -> SavedView:
    """Give one of the project's saved views another name, audited; its filter stays. The name is checked and stored
    as `save_view` stores one (the redaction rules in force applied). InvalidInput for an empty, too long or taken
    name; NotFound for another project's view or a gone one. The same name again changes nothing."""
    name = _checked_name(name)
    # The lock `save_view` and the redaction of names take: the names read here are not being changed meanwhile.
    Project.objects.lock(project.pk)
    name = stored_name(project, name)
    view = SavedView.objects.select_for_update(of=("self",)).filter(project=project, pk=view_id).first()
    if view is None:
        raise NotFound("No such saved view.")
    if view.name == name:
        return view
    view.name = name
    try:
        with transaction.atomic():
            view.save(update_fields=["name"])
    except IntegrityError:  # the unique (project, name) constraint
        raise _taken(name) from None
    AuditEvent.objects.create(
        project=project, actor=audit_actor(actor), action=RENAMED, details={"view": view.pk, "name": name}
    )
    return view


def stored_name(project: Project, name: str) -> str:
    """The name as a view named so is stored: with the project's redaction rules in force applied (cut to fit)."""
    return redact_free_text(redactor_for(project), name)[:MAX_NAME_CHARS]


def saved_twin(*, project: Project, name: str, query: str, actor) -> SavedView | None:
    """The view `actor` saved moments ago under this name with this (canonical) query: the same save posted again,
    which is the first one (rules.twins), not a name taken."""
    if audit_actor(actor) is None:
        return None
    return twin_of(SavedView.objects.filter(project=project, name=name, query=query, created_by=actor))


@transaction.atomic
def delete_view(*, project: Project, view_id: int, actor=None) -> None:
    """Delete one of the project's saved views; another project's, or a gone one, is NotFound, unless `actor` deleted
    it moments ago: the same delete posted again is the first one (rules.twins)."""
    # The row lock makes a delete posted twice at the same instant wait for the first, then find the row gone.
    view = SavedView.objects.select_for_update(of=("self",)).filter(project=project, pk=view_id).first()
    if view is None:
        if audit_actor(actor) and audited_twin(project_id=project.pk, actor=actor, action=DELETED, view=view_id):
            return
        raise NotFound("No such saved view.")
    AuditEvent.objects.create(
        project=project,
        actor=audit_actor(actor),
        action=DELETED,
        details={"view": view.pk, "name": view.name, "query": view.query},
    )
    view.delete()


def _taken(name: str) -> InvalidInput:
    return InvalidInput(f"This project has a saved view named {name!r} already.")
