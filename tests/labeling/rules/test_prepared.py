"""Queries compiled once per process (`rules.prepared`) answer exactly what their querysets answer."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import F

from labeling.models import Item, Label, Membership, Queue, Slot
from labeling.rules.prepared import Prepared, PreparedUpdate
from labeling.selectors import work
from labeling.services import assignment, labels
from tests.helpers.labeling import make_items
from tests.helpers.plans import analyze, rows_handled

ANSWERS = {"correct": True, "helpful": 4}


def _as_the_orm_loads_it(user, slug, item_id, *, handed):
    """The selector's queryset run by the ORM itself, as item_for_labeler did before it was prepared."""
    items = work._item_for_labeler_query(user_id=user.pk, project_slug=slug, item_id=item_id, handed=handed)
    item = items.first()
    if item is not None:
        item.queue.project = item.project
    return item


def _everything(item):
    """Every field of the item and of its project, queue and output, with the annotations."""
    if item is None:
        return None
    rows = [item, item.project, item.queue, item.output, item.queue.project]
    fields = [{f.attname: getattr(row, f.attname) for f in row._meta.concrete_fields} for row in rows]
    return fields, item.member_role, item.queue_admits, item.own_answers


@pytest.fixture
def queue(project):
    return Queue.objects.create(project=project, slug="all", name="All answers")


@pytest.mark.parametrize("handed", [False, True])
def test_the_prepared_item_query_loads_what_the_orm_loads(
    project, other_project, expert, other_expert, outsider, queue, rubric, handed
):
    first, second, third = make_items(project, 3, metadata={"topic": "a"}, context={"k": [1, 2]})
    Queue.objects.create(project=other_project, slug="all", name="All answers")
    (foreign,) = make_items(other_project, 1)
    leased = assignment.next_item(expert=expert, queue=queue)
    labels.submit_label(expert=expert, item=leased, rubric=rubric, answers=ANSWERS)  # a label: own_answers
    assignment.next_item(expert=expert, queue=queue)  # a lease, not labeled
    assignment.next_item(expert=other_expert, queue=queue)  # the other expert's: not the expert's to see
    Queue.eligible_experts.through.objects.create(queue=queue, user=other_expert)  # the queue no longer admits
    cases = [
        (user, slug, item.pk)
        for user in (expert, other_expert, outsider)
        for slug in (project.slug, other_project.slug, "no-such-project")
        for item in (first, second, third, foreign)
    ] + [(expert, project.slug, 10**9)]

    seen = [(_everything(work.item_for_labeler(u, s, i, handed=handed)), u, s, i) for u, s, i in cases]

    assert seen == [(_everything(_as_the_orm_loads_it(u, s, i, handed=handed)), u, s, i) for u, s, i in cases]
    loaded = [row for row, *_ in seen if row is not None]
    assert {answers["correct"] if answers else None for *_, answers in loaded} == {True, None}
    assert {role for _, role, _, _ in loaded} >= {"expert"} and {admits for *_, admits, _ in loaded} == {False, True}


def test_a_member_removed_from_the_project_is_refused_by_the_prepared_query(project, expert, queue, rubric):
    make_items(project, 1)
    item = assignment.next_item(expert=expert, queue=queue)
    assert work.item_for_labeler(expert, project.slug, item.pk).member_role == "expert"

    Membership.objects.filter(user=expert).delete()

    assert work.item_for_labeler(expert, project.slug, item.pk).member_role is None


def test_a_values_query_answers_dicts_with_its_annotations(project, expert, queue, rubric):
    make_items(project, 2)
    item = assignment.next_item(expert=expert, queue=queue)
    labels.submit_label(expert=expert, item=item, rubric=rubric, answers=ANSWERS)
    prepared = Prepared(
        lambda item_id: Item.objects.filter(pk=item_id).annotate(twice=F("overlap") * 2).values("status", "twice"),
        item_id=-1,
    )

    assert prepared(item_id=item.pk) == [{"status": "complete", "twice": 2}]
    assert prepared(item_id=10**9) == []


def test_a_stand_in_that_never_reaches_the_sql_is_refused(project):
    # The slug is lower-cased on its way in: the SQL would hold "x", and the stand-in "X" could never be replaced.
    prepared = Prepared(lambda slug: Label.objects.filter(item__project__slug=slug.lower()), slug="X")

    with pytest.raises(RuntimeError, match="did not reach the SQL"):
        prepared(slug="support-bot")


def test_a_prepared_update_changes_what_the_querysets_update_would_and_counts_it(project, expert, queue, rubric):
    first, second = make_items(project, 2)
    prepared = PreparedUpdate(
        lambda item_id, since: Item.objects.filter(pk=item_id, created_at__gte=since),
        lambda item_id, since: {"priority": 7, "completed_at": since},
        item_id=-1,
        since=datetime(2000, 1, 1, tzinfo=UTC),
    )
    since = first.created_at

    assert prepared(item_id=first.pk, since=since) == 1
    assert prepared(item_id=second.pk, since=since + timedelta(days=1)) == 0  # the filter holds

    assert list(Item.objects.order_by("pk").values_list("priority", "completed_at")) == [
        (7, since),
        (second.priority, second.completed_at),
    ]
    assert second.priority != 7 and second.completed_at is None


def test_a_prepared_update_refuses_a_stand_in_that_never_reaches_the_sql(project):
    prepared = PreparedUpdate(lambda item_id: Item.objects.all(), lambda item_id: {"overlap": 2}, item_id=-1)

    with pytest.raises(RuntimeError, match="did not reach the SQL"):
        prepared(item_id=1)


def test_the_prepared_comments_are_the_readers_own_until_they_labeled_then_all_oldest_first_with_their_authors(
    project, expert, lead, queue, rubric, django_assert_num_queries
):
    first, second = make_items(project, 2)
    for author, item, body in [(lead, first, "a"), (expert, second, "x"), (expert, first, "b"), (lead, first, "c")]:
        labels.comment_on_item(author=author, item=item, body=body)

    with django_assert_num_queries(1):
        comments = work.comments_on(first, reader=expert)
        seen = [(comment.body, comment.author.username) for comment in comments]

    assert seen == [("b", "erin")]  # blind: not the lead's, until the expert labels the item
    held = assignment.next_item(expert=expert, queue=queue)
    assert held == first
    labels.submit_label(expert=expert, item=held, rubric=rubric, answers={"correct": True})
    comments = work.comments_on(first, reader=expert)
    assert [(comment.body, comment.author.username) for comment in comments] == [
        ("a", "lena"),
        ("b", "erin"),
        ("c", "lena"),
    ]
    assert comments == list(first.comments.order_by("created_at", "pk"))
    assert [comment.body for comment in work.comments_on(first, reader=lead)] == ["a", "c"]


@pytest.mark.postgres
def test_on_postgresql_the_compiled_item_query_is_prepared_on_the_server_and_answers_the_same(
    project, expert, queue, rubric
):
    """psycopg prepares a statement that binds on the server once it has run a few times on the connection
    (settings: DB_PREPARED_STATEMENTS): PostgreSQL then stops planning it on every label."""
    make_items(project, 2)
    held = assignment.next_item(expert=expert, queue=queue)
    expected = _everything(_as_the_orm_loads_it(expert, project.slug, held.pk, handed=False))

    answers = [_everything(work.item_for_labeler(expert, project.slug, held.pk)) for _ in range(8)]

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement for (statement,) in cursor.fetchall()]
    assert any('FROM "labeling_item"' in statement and "$1" in statement for statement in prepared), prepared
    assert answers == [expected] * 8


def _week_line(queue):
    if queue is None:
        return None
    names = (
        "done_this_week",
        "placed_this_week",
        "my_labels_this_week",
        "waiting_for_me",
        "waiting_from_earlier_weeks",
    )
    return queue.pk, queue.held_item_id, {name: getattr(queue, name) for name in names}


def test_the_prepared_week_line_counts_what_the_project_pages_queryset_counts(
    project, expert, other_expert, outsider, queue, rubric
):
    """The labeling screen's week line (`queue_week_for_labeler`, prepared) and the project page's queue cards
    (`queues_for_labeler`, the queryset) are one rule: the same counts for every user, queue and state."""
    now = datetime(2026, 11, 18, 12, tzinfo=UTC)  # a Wednesday: the week and the one before are far from its edges
    week = work.cycle_week(project, now)
    make_items(project, 4, occurred_at=now - timedelta(hours=1))
    make_items(project, 2, occurred_at=now - timedelta(days=7))  # last week's, still open
    paused = Queue.objects.create(project=project, slug="paused", name="Paused", is_active=False)
    leased = assignment.next_item(expert=expert, queue=queue)
    labels.submit_label(expert=expert, item=leased, rubric=rubric, answers=ANSWERS)
    assignment.next_item(expert=expert, queue=queue)  # a lease, not labeled
    assignment.next_item(expert=other_expert, queue=queue)
    assert Item.objects.filter(queue=queue, week=week).exists()

    for user in (expert, other_expert, outsider):
        for each in (queue, paused):
            expected = work.queues_for_labeler(user, project, now=now).filter(pk=each.pk).first()
            assert _week_line(work.queue_week_for_labeler(user, each, now=now)) == _week_line(expected)
    mine = work.queue_week_for_labeler(expert, queue, now=now)
    assert mine.my_labels_this_week == 1 and mine.waiting_for_me >= 1 and mine.waiting_from_earlier_weeks >= 1


@pytest.mark.postgres
@pytest.mark.parametrize("open_items", [300, 1_200])
def test_on_postgresql_the_week_line_reads_what_it_counts_with_any_plan(project, expert, queue, rubric, open_items):
    """PostgreSQL plans a prepared statement on each run until a plan made once for any parameters (a generic plan)
    costs no more. The week line's constants (states, the 1 of EXISTS) sent as parameters left that plan guessing:
    it read every slot of the queue (1.6 s at 100,000 items), so PostgreSQL kept planning anew on every label
    (~1.6 ms). With the constants in the SQL, any plan reads only the rows it counts, up to its limits."""
    now = datetime(2026, 11, 18, 12, tzinfo=UTC)
    make_items(project, open_items, occurred_at=now - timedelta(days=7))
    assignment.next_item(expert=expert, queue=queue)
    analyze(Item, Slot, Label)

    handled = rows_handled(lambda: work.queue_week_for_labeler(expert, queue, now=now))

    assert handled <= 6_000, handled  # before: 7,008 at 300 open items, 23,212 at 1,200
