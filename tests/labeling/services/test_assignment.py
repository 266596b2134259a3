"""Assignment: no slot handed to two experts, overlap honoured, abandoned leases freed at once."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from labeling.exceptions import InvalidAnswers, LeaseLost, NotFound, QueuePaused
from labeling.models import Item, ItemStatus, Label, Membership, Queue, Skip, Slot, SlotState
from labeling.rules.access import (
    LABELING_REFUSED,
    LEAD_QUEUE_NAMES_OTHERS,
    OPERATOR_LABELING_REFUSED,
    QUEUE_NAMES_OTHERS,
)
from labeling.services import assignment
from labeling.services.assignment import claimable, next_item, skip_item, undo_skip
from labeling.services.labels import submit_label
from labeling.services.routing import route_outputs
from labeling.services.rubrics import publish_rubric
from tests.factories import MembershipFactory, OutputFactory, UserFactory
from tests.helpers.history import add_history
from tests.helpers.plans import rows_handled
from tests.helpers.rubrics import questions

QUESTIONS = questions(required=("helpful",))  # the shared rubric; a missing rating is refused below
ANSWERS = {"correct": True, "helpful": 4}


@pytest.fixture
def rubric(project):
    return publish_rubric(project=project, questions=QUESTIONS)


def make_queue(project, count, **fields):
    queue = Queue.objects.create(project=project, slug=f"q{Queue.objects.count()}", name="Queue", **fields)
    outputs = OutputFactory.create_batch(count, project=project)
    route_outputs(project_id=project.pk, output_ids=[o.pk for o in outputs])
    return queue


def make_experts(project, count):
    return [
        MembershipFactory(project=project, user=UserFactory(username=f"x{i}"), role="expert").user for i in range(count)
    ]


def expire_leases():
    Slot.objects.filter(state=SlotState.LEASED).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


def test_next_item_serves_priority_then_age_and_resumes_a_live_lease(project, expert):
    queue = make_queue(project, 3)
    items = list(Item.objects.filter(queue=queue).order_by("pk"))
    Item.objects.filter(pk=items[2].pk).update(priority=9)
    Slot.objects.filter(item=items[2]).update(priority=9)

    first = next_item(expert=expert, queue=queue)

    assert first.pk == items[2].pk
    assert next_item(expert=expert, queue=queue).pk == first.pk  # resumes, does not take a second


def test_an_expert_never_gets_an_item_they_labeled_or_skipped(project, expert, rubric):
    queue = make_queue(project, 3, overlap=2)
    labeled = next_item(expert=expert, queue=queue)
    submit_label(expert=expert, item=labeled, rubric=rubric, answers=ANSWERS)
    skipped = next_item(expert=expert, queue=queue)
    skip_item(expert=expert, item=skipped, reason="not my area")

    remaining = next_item(expert=expert, queue=queue)

    assert remaining.pk not in {labeled.pk, skipped.pk}
    submit_label(expert=expert, item=remaining, rubric=rubric, answers=ANSWERS)
    assert next_item(expert=expert, queue=queue) is None
    assert Skip.objects.get().reason == "not my area"


def test_a_skipped_slot_goes_back_to_the_pool(project, expert, other_expert):
    queue = make_queue(project, 1)
    item = next_item(expert=expert, queue=queue)
    assert next_item(expert=other_expert, queue=queue) is None

    skip_item(expert=expert, item=item)

    assert next_item(expert=other_expert, queue=queue).pk == item.pk


def test_an_abandoned_lease_goes_to_another_expert_and_the_late_submit_is_refused(
    project, expert, other_expert, rubric
):
    queue = make_queue(project, 1, overlap=1)
    item = next_item(expert=expert, queue=queue)
    assert next_item(expert=other_expert, queue=queue) is None  # leased: not handed out twice

    expire_leases()  # the first expert walked away
    assert next_item(expert=other_expert, queue=queue).pk == item.pk
    submit_label(expert=other_expert, item=item, rubric=rubric, answers=ANSWERS)

    with pytest.raises(LeaseLost, match="went to another expert"):
        submit_label(expert=expert, item=item, rubric=rubric, answers=ANSWERS)
    assert Label.objects.filter(item=item).count() == 1


def test_a_late_submit_is_accepted_while_a_slot_remains(project, expert, other_expert, rubric):
    queue = make_queue(project, 1, overlap=2)
    item = next_item(expert=expert, queue=queue)
    expire_leases()
    next_item(expert=other_expert, queue=queue)  # takes the second slot (the first lapsed but is still free)

    submit_label(expert=expert, item=item, rubric=rubric, answers=ANSWERS)
    submit_label(expert=other_expert, item=item, rubric=rubric, answers=ANSWERS)

    item.refresh_from_db()
    assert item.status == ItemStatus.COMPLETE
    assert set(Label.objects.filter(item=item).values_list("expert__username", flat=True)) == {"erin", "ezra"}


def test_an_expired_lease_that_nobody_took_is_still_the_experts(project, expert, rubric):
    queue = make_queue(project, 1)
    item = next_item(expert=expert, queue=queue)
    expire_leases()

    assert submit_label(expert=expert, item=item, rubric=rubric, answers=ANSWERS).answers == ANSWERS


def pause(queue):
    """What a lead's unticking the queue's *Active* box stores."""
    Queue.objects.filter(pk=queue.pk).update(is_active=False)
    queue.refresh_from_db()


def test_a_paused_queue_hands_out_no_new_item(project, expert, outsider):
    queue = make_queue(project, 2)
    pause(queue)

    with pytest.raises(QueuePaused, match="“Queue” is paused: its lead stopped handing out items"):
        next_item(expert=expert, queue=queue)

    assert not Slot.objects.exclude(state=SlotState.FREE).exists()
    with pytest.raises(NotFound):  # one who may not label there learns nothing, paused or not
        next_item(expert=outsider, queue=queue)


def test_a_paused_queue_resumes_the_experts_own_lease_and_takes_their_label(project, expert, rubric):
    queue = make_queue(project, 2)
    held = next_item(expert=expert, queue=queue)
    pause(queue)

    assert next_item(expert=expert, queue=queue) == held  # the work in progress stays theirs
    submit_label(expert=expert, item=held, rubric=rubric, answers=ANSWERS)

    with pytest.raises(QueuePaused):
        next_item(expert=expert, queue=queue)
    assert Label.objects.get(item=held, expert=expert).answers == ANSWERS
    assert list(Slot.objects.exclude(state=SlotState.FREE).values_list("item", "state")) == [(held.pk, "done")]


def test_a_skip_in_a_paused_queue_is_not_handed_back(project, expert):
    queue = make_queue(project, 1)
    item = next_item(expert=expert, queue=queue)
    skip_item(expert=expert, item=item)
    pause(queue)

    with pytest.raises(QueuePaused):
        undo_skip(expert=expert, item=Item.objects.select_related("queue").get(pk=item.pk))

    assert Skip.objects.filter(item=item, expert=expert).exists()
    assert not Slot.objects.exclude(state=SlotState.FREE).exists()


def test_editing_a_label_keeps_its_history(project, expert, rubric):
    queue = make_queue(project, 1)
    item = next_item(expert=expert, queue=queue)
    label = submit_label(expert=expert, item=item, rubric=rubric, answers=ANSWERS)

    edited = submit_label(expert=expert, item=item, rubric=rubric, answers={"correct": False, "helpful": 1})

    assert edited.pk == label.pk and edited.answers == {"correct": False, "helpful": 1}
    assert list(label.revisions.values_list("answers", flat=True)) == [ANSWERS]


def test_a_new_rubric_version_leaves_earlier_labels_alone(project, expert, rubric):
    queue = make_queue(project, 2)
    first = submit_label(expert=expert, item=next_item(expert=expert, queue=queue), rubric=rubric, answers=ANSWERS)
    v2 = publish_rubric(project=project, questions=[{"key": "ok", "kind": "binary", "prompt": "OK?"}])

    second = submit_label(expert=expert, item=next_item(expert=expert, queue=queue), rubric=v2, answers={"ok": False})

    first.refresh_from_db()
    assert (first.rubric.version, first.answers) == (1, ANSWERS)
    assert (second.rubric.version, second.answers) == (2, {"ok": False})


@pytest.mark.parametrize(
    "answers, key",
    [
        ({"correct": "yes", "helpful": 4}, "correct"),
        ({"correct": True, "helpful": 6}, "helpful"),
        ({"correct": True, "helpful": "4"}, "helpful"),
        ({"correct": True, "helpful": True}, "helpful"),
        ({"correct": True, "helpful": 4, "tone": "sarcastic"}, "tone"),
        ({"correct": True, "helpful": 4, "issues": ["wrong", "made-up"]}, "issues"),
        ({"correct": True, "helpful": 4, "issues": "wrong"}, "issues"),
        ({"correct": True}, "helpful"),
        ({"correct": True, "helpful": 4, "fix": 12}, "fix"),
        ({"correct": True, "helpful": 4, "unknown": 1}, "unknown"),
    ],
)
def test_answers_that_do_not_fit_the_rubric_store_nothing(project, expert, rubric, answers, key):
    queue = make_queue(project, 1)
    item = next_item(expert=expert, queue=queue)

    with pytest.raises(InvalidAnswers) as error:
        submit_label(expert=expert, item=item, rubric=rubric, answers=answers)

    assert key in error.value.errors
    assert not Label.objects.exists()
    assert Slot.objects.get(item=item).state == SlotState.LEASED


def test_another_projects_rubric_is_refused(project, other_project, expert, rubric):
    queue = make_queue(project, 1)
    foreign = publish_rubric(project=other_project, questions=QUESTIONS)
    with pytest.raises(NotFound):
        submit_label(expert=expert, item=next_item(expert=expert, queue=queue), rubric=foreign, answers=ANSWERS)


@pytest.mark.parametrize(
    ("persona", "message"),
    [
        ("outsider", "No such project."),
        ("engineer", LABELING_REFUSED),
        ("operator", OPERATOR_LABELING_REFUSED),
        ("expert", QUEUE_NAMES_OTHERS),  # of the queue and the expert: "“Queue” is not erin's to label: …"
        ("lead", LEAD_QUEUE_NAMES_OTHERS),  # a lead edits the queue's experts: told to add themselves, not to ask
    ],
)
def test_a_service_called_without_a_grant_tells_a_member_why_and_names_the_queue_to_one_it_does_not_admit(
    request, project, rubric, other_expert, persona, message
):
    """A command or script (the demo's seed, a benchmark) calls the labeling services without a request's grant: they
    ask `check_can_label`, which tells a member why as the pages do (`grant_from`): an engineer that their role does not
    label, an operator who is no member that only members label (the project exists: they read it), an expert a queue
    does not name that it is not theirs, in words that speak of the queue the command named, not of a link (a lead
    that they may add themselves to it, not to ask a lead); an outsider learns nothing."""
    queue = make_queue(project, 2)
    queue.eligible_experts.set([other_expert])
    item = next_item(expert=other_expert, queue=queue)
    user = request.getfixturevalue(persona)
    message = message.format(queue=queue.name, username=user.username)

    with pytest.raises(NotFound) as refused:
        next_item(expert=user, queue=queue)
    assert refused.value.message == message
    with pytest.raises(NotFound) as refused:
        submit_label(expert=user, item=item, rubric=rubric, answers=ANSWERS)
    assert refused.value.message == message
    assert not Slot.objects.filter(expert=user).exists() and not Label.objects.exists()


def test_outsiders_engineers_and_ineligible_experts_get_nothing(project, outsider, engineer, expert, other_expert):
    queue = make_queue(project, 2)
    for user in (outsider, engineer):
        with pytest.raises(NotFound):
            next_item(expert=user, queue=queue)
    queue.eligible_experts.set([other_expert])
    with pytest.raises(NotFound):
        next_item(expert=expert, queue=queue)
    assert next_item(expert=other_expert, queue=queue) is not None


def test_a_removed_member_is_refused_at_once(project, expert, rubric):
    queue = make_queue(project, 2)
    item = next_item(expert=expert, queue=queue)
    Membership.objects.filter(user=expert).delete()

    with pytest.raises(NotFound):
        submit_label(expert=expert, item=item, rubric=rubric, answers=ANSWERS)
    with pytest.raises(NotFound):
        next_item(expert=expert, queue=queue)


def _label_concurrently(project, queue, experts, rubric, handed):
    """Each expert in its own thread: next item → label, until the queue is empty."""
    errors = []

    def work(expert):
        try:
            while True:
                item = next_item(expert=expert, queue=queue)
                if item is None:
                    return
                handed.append((item.pk, expert.pk, timezone.now()))
                submit_label(expert=expert, item=item, rubric=rubric, answers=ANSWERS)
        except Exception as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(expert,)) for expert in experts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sixteen_experts_label_a_thousand_items_each_exactly_once(project):
    rubric = publish_rubric(project=project, questions=QUESTIONS)
    queue = make_queue(project, 1000, overlap=1)
    experts = make_experts(project, 16)
    handed = []

    errors = _label_concurrently(project, queue, experts, rubric, handed)

    assert errors == []
    assert len(handed) == 1000
    assert len({item_id for item_id, _, _ in handed}) == 1000  # no item handed out twice
    assert Label.objects.count() == 1000
    assert Item.objects.filter(queue=queue, status=ItemStatus.COMPLETE).count() == 1000
    assert len({expert_id for _, expert_id, _ in handed}) > 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_with_overlap_three_every_item_gets_three_distinct_experts(project):
    rubric = publish_rubric(project=project, questions=QUESTIONS)
    queue = make_queue(project, 200, overlap=3)
    experts = make_experts(project, 16)

    errors = _label_concurrently(project, queue, experts, rubric, [])

    assert errors == []
    per_item = {}
    for item_id, expert_id in Label.objects.values_list("item_id", "expert_id"):
        per_item.setdefault(item_id, []).append(expert_id)
    assert len(per_item) == 200
    assert all(len(experts) == 3 == len(set(experts)) for experts in per_item.values())
    assert Item.objects.filter(queue=queue).exclude(status=ItemStatus.COMPLETE).count() == 0


def _slots_in_every_state(project, other_project, expert, other_expert):
    """Queues whose slots are in every state "next item" tells apart; the ids the claim must take, in order."""
    now = timezone.now()
    hour = timedelta(hours=1)

    def item(queue, *slots, priority=0, status=ItemStatus.OPEN):
        made = Item.objects.create(
            project=queue.project,
            queue=queue,
            output=OutputFactory(project=queue.project),
            week=now.date(),
            overlap=len(slots),
            priority=priority,
            status=status,
        )
        return [
            Slot.objects.create(item=made, queue=queue, priority=priority, number=number, **state)
            for number, state in enumerate(slots, start=1)
        ]

    free = {}
    done = {"state": SlotState.DONE}
    expired = {"state": SlotState.LEASED, "leased_at": now - 2 * hour, "lease_expires_at": now - hour}
    live = {"state": SlotState.LEASED, "leased_at": now, "lease_expires_at": now + hour}
    queue = Queue.objects.create(project=project, slug="main", name="Main")
    urgent = item(queue, free, priority=5)
    plain = item(queue, free)
    run_out = item(queue, expired | {"expert": other_expert})
    item(queue, live | {"expert": other_expert})
    item(queue, done | {"expert": other_expert}, status=ItemStatus.COMPLETE)
    half_done = item(queue, done | {"expert": other_expert}, free)
    Skip.objects.create(item=item(queue, free)[0].item, expert=expert)
    item(queue, done | {"expert": expert}, free)  # labeled by the expert
    item(queue, live | {"expert": expert}, free)  # held by the expert
    item(queue, expired | {"expert": expert}, free)  # their run-out lease: still theirs, resumed, never re-claimed
    inactive = Queue.objects.create(project=project, slug="paused", name="Paused", is_active=False)
    paused = item(inactive, free)
    restricted = Queue.objects.create(project=project, slug="others", name="Others only")
    restricted.eligible_experts.set([other_expert])
    not_mine = item(restricted, free)
    elsewhere = Queue.objects.create(project=other_project, slug="main", name="Elsewhere")
    item(elsewhere, free)
    return {
        queue: [urgent[0].pk, plain[0].pk, run_out[0].pk, half_done[1].pk],
        inactive: [paused[0].pk],
        restricted: [not_mine[0].pk],
    }


def _claims_until_none(expert, queue) -> list[int]:
    """Claim the queue's slots one by one (no resume), checking each is the queryset's first; their ids."""
    taken = []
    while True:
        chosen = claimable(expert=expert, queue=queue, now=timezone.now()).values_list("pk", flat=True).first()
        with transaction.atomic():
            item_id = assignment._claim(expert, queue)
        leased = Slot.objects.leased_to(expert).filter(item_id=item_id).values_list("pk", flat=True).first()
        assert leased == chosen, f"the claim took slot {leased}, the queryset chose {chosen}"
        if leased is None:
            return taken
        taken.append(leased)


def test_the_claim_statement_takes_exactly_the_slots_the_queryset_chooses(project, other_project, expert, other_expert):
    """The claim's SQL and Slot.objects.available_to agree on data holding a slot in every state."""
    expected = _slots_in_every_state(project, other_project, expert, other_expert)

    for queue, slot_ids in expected.items():
        assert _claims_until_none(expert, queue) == slot_ids, queue.slug

    # The statement takes an inactive queue's slots like any other's: next_item refuses a paused queue before it
    # runs (QueuePaused), and a queue that does not admit the expert (NotFound). Either hands out nothing.
    paused, restricted = list(expected)[1:]
    Slot.objects.filter(queue__in=[paused, restricted]).update(state=SlotState.FREE, expert=None, leased_at=None)
    with pytest.raises(QueuePaused):
        next_item(expert=expert, queue=paused)
    assert not Slot.objects.filter(queue__in=[paused, restricted]).exclude(state=SlotState.FREE).exists()
    with pytest.raises(NotFound):
        next_item(expert=expert, queue=restricted)


def test_a_lease_is_either_live_or_available_even_at_its_last_instant(project, expert):
    queue = make_queue(project, 2)
    next_item(expert=expert, queue=queue)
    now = timezone.now()
    Slot.objects.filter(state=SlotState.LEASED).update(lease_expires_at=now)
    leased = Slot.objects.filter(state=SlotState.LEASED)

    assert list(leased.live_leases(now)) == list(leased)
    assert not leased.available(now).exists()
    assert leased.available(now + timedelta(microseconds=1)).count() == 1
    assert not leased.live_leases(now + timedelta(microseconds=1)).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans")
def test_next_item_and_a_label_read_none_of_the_experts_history_even_with_stale_statistics(
    project, expert, other_expert, rubric
):
    """5,000 labels of the expert's, and 5,000 of another expert's, came after the last ANALYZE (a bulk
    import; autoanalyze not yet run): the planner believes the expert holds no slot. "Next item" (resume,
    then claim) and a label's submit still handle as many rows as with no history, where an anti-join over
    the expert's slots, or a scan of an index by expert for their one lease, handles thousands.

    The ANALYZE finds the table bloated with dead rows, as a busy one is (leases churn) and as CI's was after the
    tests before it: the claim's probe then took the index by expert and read 5,015 rows against 14."""
    queue = make_queue(project, 20)
    with transaction.atomic():  # 20,000 slots written and rolled back: dead rows the table's pages keep
        add_history(queue=queue, expert=other_expert, count=20_000)
        transaction.set_rollback(True)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Slot._meta.db_table}")  # nobody holds a slot yet: the statistics say so

    def hand_out():
        assignment.next_item_id(expert=expert, queue=queue)

    def submit():
        submit_label(expert=expert, item=item, rubric=rubric, answers=ANSWERS)

    claim_without_history = rows_handled(hand_out)
    item = next_item(expert=expert, queue=queue)
    submit_without_history = rows_handled(submit)
    add_history(queue=queue, expert=expert, count=5_000)
    add_history(queue=queue, expert=other_expert, count=5_000)

    submit_with_history = rows_handled(submit)
    submit_label(expert=expert, item=item, rubric=rubric, answers=ANSWERS)
    claim_with_history = rows_handled(hand_out)

    assert claim_with_history <= claim_without_history + 5, (claim_with_history, claim_without_history)
    assert submit_with_history <= submit_without_history + 5, (submit_with_history, submit_without_history)
    assert next_item(expert=expert, queue=queue).status == ItemStatus.OPEN


@pytest.mark.django_db(transaction=True)
def test_next_item_outside_any_transaction_leases_and_resumes(project, expert):
    """A label's next screen asks for the next item in autocommit (no BEGIN and COMMIT around its two statements),
    in a fresh process too (the statements compiled on the first call)."""
    queue = make_queue(project, 3)
    assignment._statement.cache_clear()
    assert connection.get_autocommit()

    first = assignment.next_item_id(expert=expert, queue=queue)

    assert assignment.next_item_id(expert=expert, queue=queue) == first  # resumed, not a second lease
    assert Slot.objects.filter(expert=expert, state=SlotState.LEASED).count() == 1
