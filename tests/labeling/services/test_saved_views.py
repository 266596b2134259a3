"""Saved explore views: canonical queries, bad filters refused, names unique per project, audited."""

import pytest
from django.utils import timezone

from labeling.exceptions import InvalidFilter, InvalidInput, NotFound
from labeling.models import AuditEvent, SavedView
from labeling.rules.twins import TWIN_WINDOW
from labeling.services.privacy import erase_end_user
from labeling.services.queues import QueueValues, create_queue
from labeling.services.saved_views import delete_view, rename_view, save_view
from tests.factories import OutputFactory

pytestmark = pytest.mark.django_db


def test_a_view_is_saved_with_the_filters_canonical_query(project, lead):
    view = save_view(
        project=project,
        name="  Refund   date promises ",
        query="?model=m-2&q=%22refund+will%22&feedback=down",
        actor=lead,
    )

    assert (view.name, view.query, view.created_by) == (
        "Refund date promises",
        "q=%22refund+will%22&model=m-2&feedback=down",
        lead,
    )
    event = AuditEvent.objects.get(action="saved_view.created")
    assert (event.actor, event.details["name"], event.details["query"]) == (lead, view.name, view.query)


@pytest.mark.parametrize(
    "name, query, error, message",
    [
        ("Bad", "colour=blue", InvalidFilter, "colour: Unknown filter"),
        ("Bad", "feedback=sideways", InvalidFilter, "'sideways' is not one of"),
        ("", "feedback=down", InvalidInput, "needs a name"),
        ("x" * 101, "feedback=down", InvalidInput, "at most 100 characters"),
        ("Nul\x00", "feedback=down", InvalidInput, "NUL"),
        ("Long", "tag=" + "a" * 20_000, InvalidInput, "too long to save"),
        ("Thumbs down", "feedback=down&comment=yes", InvalidInput, "named 'Thumbs down' already"),
        ("Gone", "queue=refunds", InvalidFilter, "no queue 'refunds'"),  # one of the other project's
        ("Gone", "gold=nonsense:true", InvalidFilter, "No pass/fail, choice or rating question 'nonsense'"),
        ("Gone", "theme=2026-W48.1", InvalidFilter, "no failure theme 2026-W48.1"),
    ],
)
def test_bad_names_and_filters_are_refused(project, other_project, lead, name, query, error, message):
    save_view(project=project, name="Thumbs down", query="feedback=down")
    save_view(project=other_project, name="Long", query="feedback=down")  # names are per project
    create_queue(project=other_project, values=QueueValues(slug="refunds", name="Refunds"))

    with pytest.raises(error, match=message):
        save_view(project=project, name=name, query=query, actor=lead)

    assert SavedView.objects.filter(project=project).count() == 1


def test_a_view_is_deleted_only_through_its_own_project(project, other_project, lead):
    view = save_view(project=project, name="Thumbs down", query="feedback=down")

    with pytest.raises(NotFound):
        delete_view(project=other_project, view_id=view.pk, actor=lead)
    delete_view(project=project, view_id=view.pk, actor=lead)

    assert not SavedView.objects.exists()
    assert AuditEvent.objects.get(action="saved_view.deleted").details["name"] == "Thumbs down"
    delete_view(project=project, view_id=view.pk, actor=lead)  # the same delete again: the first one (rules.twins)
    AuditEvent.objects.update(at=timezone.now() - TWIN_WINDOW)
    with pytest.raises(NotFound):
        delete_view(project=project, view_id=view.pk, actor=lead)
    assert AuditEvent.objects.filter(action="saved_view.deleted").count() == 1


def test_an_erasure_leaves_the_end_user_in_no_saved_views_name_nor_its_audit_events(project, lead):
    """A lead named a view after the end user it was about, filtering on something else: the erasure kept the view,
    and the audit events of its saving and deletion, with the end user's id in their names."""
    OutputFactory(project=project, end_user_id="ana-7")
    save_view(project=project, name="Complaints of ana-7", query="feedback=down", actor=lead)
    save_view(project=project, name="Thumbs down for ana-77", query="feedback=down&comment=yes", actor=lead)
    gone = save_view(project=project, name="ana-7 refunds", query="q=refund", actor=lead)
    delete_view(project=project, view_id=gone.pk, actor=lead)

    erase_end_user(project=project, end_user_id="ana-7")

    assert list(SavedView.objects.values_list("name", flat=True)) == ["Thumbs down for ana-77"]  # another end user
    names = AuditEvent.objects.filter(action__startswith="saved_view.").order_by("pk").values_list("action", "details")
    assert [(action, details["name"]) for action, details in names] == [
        ("saved_view.created", "Complaints of [erased]"),
        ("saved_view.created", "Thumbs down for ana-77"),
        ("saved_view.created", "[erased] refunds"),
        ("saved_view.deleted", "[erased] refunds"),
    ]


def test_a_view_is_renamed_under_a_free_name_only_in_its_own_project_audited(project, other_project, lead):
    view = save_view(project=project, name="Thumbs down", query="feedback=down")
    save_view(project=project, name="Refunds", query="q=refund")

    with pytest.raises(InvalidInput, match="already"):
        rename_view(project=project, view_id=view.pk, name="Refunds", actor=lead)
    with pytest.raises(InvalidInput, match="needs a name"):
        rename_view(project=project, view_id=view.pk, name="   ", actor=lead)
    with pytest.raises(NotFound):
        rename_view(project=other_project, view_id=view.pk, name="Mine", actor=lead)
    renamed = rename_view(project=project, view_id=view.pk, name="  Thumbs   down, this week ", actor=lead)

    view.refresh_from_db()
    assert renamed.name == view.name == "Thumbs down, this week" and view.query == "feedback=down"
    event = AuditEvent.objects.get(action="saved_view.renamed")
    assert (event.actor, event.details) == (lead, {"view": view.pk, "name": "Thumbs down, this week"})
    rename_view(project=project, view_id=view.pk, name="Thumbs down, this week", actor=lead)  # unchanged: no event
    assert AuditEvent.objects.filter(action="saved_view.renamed").count() == 1
