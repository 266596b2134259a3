"""Routing: rules as data, deterministic samples, exact weekly quotas, idempotent placement."""

import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from labeling.models import AuditEvent, Item, OutboxMessage, Output, Queue, Slot
from labeling.services.queues import QueueValues, update_queue
from labeling.services.routing import (
    backfill_queue,
    cycle_week,
    is_sampled,
    preview_rule,
    route_outputs,
    rule_matches,
    validate_rule,
)
from labeling.tasks import route_outputs as route_outputs_task
from tests.conftest import output_record
from tests.factories import OutputFactory
from tests.helpers.concurrency import run_at_once, waits_for_uncommitted
from tests.outbox import enqueued, run_as_worker

WEEK = datetime(2026, 11, 18, 12, tzinfo=UTC)  # a Wednesday


def make_queue(project, **fields):
    defaults = {"slug": f"q{Queue.objects.count()}", "name": "Queue"}
    return Queue.objects.create(project=project, **{**defaults, **fields})


def make_outputs(project, count, **fields):
    return OutputFactory.create_batch(count, project=project, occurred_at=fields.pop("occurred_at", WEEK), **fields)


@pytest.mark.parametrize(
    "rule, expected",
    [
        ({}, True),
        ({"tags_any": ["billing", "vip"]}, True),
        ({"tags_any": ["shipping"]}, False),
        ({"tags_all": ["billing", "vip"]}, True),
        ({"tags_all": ["billing", "refund"]}, False),
        ({"models": ["gpt-4o"]}, True),
        ({"models": ["claude"]}, False),
        ({"metadata": {"topic": "returns"}}, True),
        ({"metadata": {"topic": ["billing", "returns"]}}, True),
        ({"metadata": {"topic": "billing"}}, False),
        ({"metadata": {"missing": "x"}}, False),
        ({"metadata": {"vip": True}}, True),
        ({"metadata": {"tier": 1}}, True),
        ({"metadata": {"vip": 1}}, False),
        ({"feedback_scores": [-1]}, True),
        ({"feedback_scores": [1, 0]}, False),
        ({"has_comment": True}, True),
        ({"has_comment": False}, False),
        ({"tags_any": ["vip"], "feedback_scores": [-1], "metadata": {"topic": "returns"}}, True),
        ({"tags_any": ["vip"], "feedback_scores": [1]}, False),
        ({"text_any": ["refund will arrive"]}, True),
        ({"text_any": ["REFUND WILL ARRIVE", "nothing like it"]}, True),
        ({"text_any": ["refund will arrive by 15"]}, False),
        ({"text_any": ["wrong refund amount"]}, False),  # the end user's comment is not the answer
        ({"text_any": ["refund"], "models": ["claude"]}, False),
    ],
)
def test_rule_matches(rule, expected):
    output = Output(
        tags=["billing", "vip"], model="gpt-4o", metadata={"topic": "returns", "vip": True, "tier": 1},
        feedback_score=-1, feedback_comment="wrong refund amount", output="Your Refund will arrive by 14 March.",
    )  # fmt: skip
    assert rule_matches(validate_rule(rule), output) is expected


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("Your refund will arrive by 14 March.", True),
        ({"role": "assistant", "content": "Your refund WILL arrive soon"}, True),
        ([{"content": "Sorry."}, {"content": ["Your refund", "will arrive"]}], False),  # each string on its own
        ({"refund will arrive": "a key is not the answer's text"}, False),
        (None, False),
        (42, False),
    ],
)
def test_a_text_condition_reads_every_string_of_the_answer(answer, expected):
    rule = validate_rule({"text_any": ["refund will arrive"]})
    assert rule_matches(rule, Output(output=answer)) is expected


@pytest.mark.parametrize(
    "phrases, message",
    [
        ([], "Invalid queue rule: text_any: give at least one phrase, or leave the condition out."),
        ([""], "Invalid queue rule: text_any: a phrase is empty"),
        (["refund", "   "], "text_any: a phrase is empty"),
        (["x"] * 21, "text_any: 21 phrases; use at most 20."),
        (["x"] * 2081, "text_any: 2,081 phrases; use at most 20."),  # grouped as every page writes a count
        (["x" * 201], "has 201 characters; use at most 200."),
        (["refund\nwill arrive"], "text_any: a phrase is one line"),
        (["bad\x00"], "text_any: a phrase contains a NUL character"),
        ("refund", "Expected `array | null`, got `str` - at `$.text_any`"),
        ([3], "Expected `str`"),
    ],
)
def test_a_bad_text_condition_is_refused_saying_why(phrases, message):
    from labeling.exceptions import InvalidSpec

    with pytest.raises(InvalidSpec, match=re.escape(message)):
        validate_rule({"text_any": phrases})


@pytest.mark.parametrize(
    "rule, message",
    [
        ({"tags_any": []}, "Invalid queue rule: tags_any: give at least one tag, or leave the condition out."),
        ({"tags_all": []}, "Invalid queue rule: tags_all: give at least one tag, or leave the condition out."),
        ({"models": []}, "Invalid queue rule: models: give at least one model, or leave the condition out."),
        (
            {"feedback_scores": []},
            "Invalid queue rule: feedback_scores: give at least one feedback score, or leave the condition out.",
        ),
        (
            {"metadata": {"plan": "pro", "topic": []}},
            "Invalid queue rule: metadata: give 'topic' at least one value, or leave the key out.",
        ),
        ({"text_any": []}, "Invalid queue rule: text_any: give at least one phrase, or leave the condition out."),
    ],
)
def test_a_condition_listing_nothing_is_refused_as_no_phrase_is(rule, message):
    """A list of nothing was read literally: tags_any, models, feedback_scores and a metadata key of [] took no output
    at all, tags_all [] every output, and the queue editor then dropped the condition. Each is refused, saying so."""
    from labeling.exceptions import InvalidSpec

    with pytest.raises(InvalidSpec) as refused:
        validate_rule(rule)
    assert refused.value.message == message


@pytest.mark.django_db
def test_a_project_spec_with_a_queue_of_no_phrase_is_refused_and_nothing_made():
    """`{"text_any": []}` took no output (any of no phrase), and the queue editor then dropped it, taking every one."""
    from labeling.exceptions import InvalidSpec
    from labeling.models import Project
    from labeling.services.projects import create_project

    queue = {"slug": "promises", "name": "Promises", "rule": {"text_any": []}}
    with pytest.raises(InvalidSpec, match="text_any: give at least one phrase, or leave the condition out"):
        create_project(spec={"slug": "support", "name": "Support", "queues": [queue]})
    assert not Project.objects.filter(slug="support").exists()


@pytest.mark.parametrize(
    "rule", [{"tags": ["x"]}, {"tags_any": "x"}, {"feedback_scores": [2]}, {"metadata": {"k": {"nested": 1}}}, []]
)
def test_bad_rules_are_refused(rule):
    from labeling.exceptions import InvalidSpec

    with pytest.raises(InvalidSpec):
        validate_rule(rule)


def test_sampling_is_deterministic_and_near_the_rate(project):
    queue = make_queue(project, sample_rate=0.25)
    outputs = make_outputs(project, 400)

    first = [is_sampled(queue, output) for output in outputs]

    assert first == [is_sampled(queue, output) for output in outputs]
    assert 70 <= sum(first) <= 130


def test_cycle_week_uses_the_project_time_zone_and_weekday(project):
    project.time_zone, project.cycle_weekday = "America/New_York", 6  # weeks start on Sunday
    # Sunday 02:00 UTC is still Saturday evening in New York: the week that began the Sunday before.
    assert str(cycle_week(project, datetime(2026, 11, 22, 2, tzinfo=UTC))) == "2026-11-15"
    assert str(cycle_week(project, datetime(2026, 11, 22, 6, tzinfo=UTC))) == "2026-11-22"


def test_routing_places_outputs_with_slots_and_marks_them_routed(project):
    queue = make_queue(project, overlap=3, priority=5, rule={"tags_any": ["billing"]})
    billing = make_outputs(project, 4, tags=["billing"])
    other = make_outputs(project, 2, tags=["shipping"])

    made = route_outputs(project_id=project.pk, output_ids=[o.pk for o in billing + other])

    assert made == 4
    items = Item.objects.filter(queue=queue)
    assert {item.output_id for item in items} == {o.pk for o in billing}
    assert {(item.overlap, item.priority, str(item.week)) for item in items} == {(3, 5, "2026-11-16")}
    assert Slot.objects.filter(queue=queue).count() == 12
    assert Output.objects.unrouted().count() == 0


def test_routing_the_same_outputs_again_changes_nothing(project):
    make_queue(project, sample_rate=0.5)
    ids = [o.pk for o in make_outputs(project, 60)]

    first = route_outputs(project_id=project.pk, output_ids=ids)
    snapshot = sorted(Item.objects.values_list("queue_id", "output_id"))
    second = route_outputs(project_id=project.pk, output_ids=ids)

    assert first > 0 and second == 0
    assert sorted(Item.objects.values_list("queue_id", "output_id")) == snapshot


def test_a_weekly_quota_is_met_exactly(project):
    queue = make_queue(project, weekly_quota=50)
    ids = [o.pk for o in make_outputs(project, 80)]
    next_week = [o.pk for o in make_outputs(project, 5, occurred_at=datetime(2026, 11, 25, 9, tzinfo=UTC))]

    route_outputs(project_id=project.pk, output_ids=ids[:30])
    route_outputs(project_id=project.pk, output_ids=ids[30:] + next_week)

    assert Item.objects.filter(queue=queue, week="2026-11-16").count() == 50
    assert Item.objects.filter(queue=queue, week="2026-11-23").count() == 5


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_routing_tasks_give_the_same_items_and_an_exact_quota(project):
    quota_queue = make_queue(project, weekly_quota=50)
    sampled_queue = make_queue(project, sample_rate=0.3)
    ids = [o.pk for o in make_outputs(project, 300)]
    chunks = [ids[i::4] + ids[:40] for i in range(4)]  # overlapping: the first 40 go to every task

    def route(chunk):
        return route_outputs_task.apply(args=[project.pk, chunk]).get()

    _, errors = run_at_once(route, [(chunk,) for chunk in chunks * 2])  # each chunk twice

    assert errors == []
    assert Item.objects.filter(queue=quota_queue).count() == 50
    expected = {o for o in Output.objects.filter(pk__in=ids) if is_sampled(sampled_queue, o)}
    assert set(Item.objects.filter(queue=sampled_queue).values_list("output_id", flat=True)) == {o.pk for o in expected}
    assert Slot.objects.count() == Item.objects.count()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_queue_paused_while_routing_places_outputs_takes_none_of_them(project):
    """Routing read the queue as active, then a lead paused it before routing took its row: the outputs still went
    into the paused queue, where no expert is handed them (routing reads only active queues). Routing waits for the
    pause, sees the queue paused, and places nothing there."""
    queue = make_queue(project, slug="refunds", name="Refunds")
    ids = [output.pk for output in make_outputs(project, 3)]
    pause = QueueValues(slug="refunds", name="Refunds", is_active=False)

    errors = waits_for_uncommitted(
        lambda: update_queue(queue=Queue.objects.get(pk=queue.pk), values=pause),
        lambda: route_outputs(project_id=project.pk, output_ids=ids),
    )

    assert errors == []
    assert not Item.objects.filter(queue=queue).exists()
    assert Output.objects.filter(pk__in=ids, routed_at__isnull=False).count() == 3


def run_enqueued(callbacks):
    """Run the routing tasks the request enqueued, here (the broker is not what this test is about)."""
    messages = enqueued()
    assert len(callbacks) == len(messages)  # one publish after commit per message
    for message in messages:
        assert message.task == "labeling.route_outputs"
        run_as_worker(message)
        OutboxMessage.objects.filter(pk=message.pk).update(published_at=timezone.now())


def test_late_thumbs_down_puts_an_output_into_a_feedback_queue(api, project, django_capture_on_commit_callbacks):
    queue = make_queue(project, rule={"feedback_scores": [-1]})
    with django_capture_on_commit_callbacks() as callbacks:
        api.post("/api/v1/outputs", {"outputs": [output_record(1, feedback=None)]})
    run_enqueued(callbacks)
    assert not Item.objects.filter(queue=queue).exists()

    with django_capture_on_commit_callbacks() as callbacks:
        api.post("/api/v1/feedback", {"feedback": [{"external_id": "conv-1", "score": -1}]})
    run_enqueued(callbacks)

    assert len(callbacks) == 1
    assert Item.objects.filter(queue=queue, output__external_id="conv-1").count() == 1


def test_ingest_enqueues_one_routing_task_for_the_new_outputs(api, project, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        api.post("/api/v1/outputs", {"outputs": [output_record(i) for i in range(3)]})
        api.post("/api/v1/outputs", {"outputs": [output_record(i) for i in range(3)]})  # duplicates: nothing new

    [message] = enqueued()  # one message for the batch, published after commit
    assert message.task == "labeling.route_outputs" and len(callbacks) == 1
    project_id, output_ids, reevaluate = message.args
    assert project_id == project.pk and reevaluate is False
    assert sorted(output_ids) == sorted(Output.objects.filter(project=project).values_list("pk", flat=True))


def test_backfill_routes_existing_outputs_through_a_new_queue(project):
    make_outputs(project, 10, tags=["refund"])
    make_outputs(project, 5)
    queue = make_queue(project, rule={"tags_any": ["refund"]})

    assert backfill_queue(queue=queue) == 10
    assert backfill_queue(queue=queue) == 0


def test_a_text_rule_routes_and_backfills_with_the_answers_read_in_the_same_queries(project):
    """The answer is read with the other routing fields, not one query per output: twice the outputs, as many
    queries."""
    queue = make_queue(project, rule=validate_rule({"text_any": ["refund will arrive"]}))
    queries = []
    for count in (3, 6):
        promised = make_outputs(project, count, output="Your refund will ARRIVE by 14 March.")
        plain = make_outputs(project, count, output="Your refund is on its way.")
        with CaptureQueriesContext(connection) as routing:
            made = route_outputs(project_id=project.pk, output_ids=[o.pk for o in promised + plain])
        assert made == count
        queries.append(len(routing.captured_queries))
    assert queries[0] == queries[1]

    Item.objects.all().delete()
    with CaptureQueriesContext(connection) as backfill:
        assert backfill_queue(queue=queue) == 9
    assert len(backfill.captured_queries) < 10  # fewer than one per output and the audit row of the count
    assert AuditEvent.objects.get(action="queue.backfilled").details["placed"] == 9  # what the lead is told


def test_preview_counts_this_weeks_matching_outputs(project):
    from django.utils import timezone

    make_outputs(project, 6, tags=["refund"], occurred_at=timezone.now())
    make_outputs(project, 4, occurred_at=timezone.now())
    make_outputs(project, 3, tags=["refund"], occurred_at=WEEK)  # another week

    preview = preview_rule(project=project, rule={"tags_any": ["refund"]}, sample_rate=1.0)

    assert (preview["outputs"], preview["matched"], preview["sampled"], preview["estimated"]) == (10, 6, 6, False)
    assert len(preview["examples"]) == 5


def test_a_routed_output_is_placed_again_only_when_reevaluated(project):
    ids = [o.pk for o in make_outputs(project, 3)]
    route_outputs(project_id=project.pk, output_ids=ids)  # no queue yet: routed into nothing
    queue = make_queue(project)

    assert route_outputs(project_id=project.pk, output_ids=ids) == 0
    assert route_outputs(project_id=project.pk, output_ids=ids, reevaluate=True) == 3
    assert Item.objects.filter(queue=queue).count() == 3
