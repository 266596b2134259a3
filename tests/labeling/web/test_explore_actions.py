"""Acting on the explore page's results: add to a queue (leads), export as JSONL or CSV (engineers, leads, admins)."""

import csv
import io
import json
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.messages import get_messages
from django.http import StreamingHttpResponse
from django.utils import timezone

from labeling.models import AuditEvent, Item, Output, Queue
from labeling.services import hand_picked
from tests.factories import MembershipFactory, OutputFactory, UserFactory
from tests.helpers.labeling import label_outputs

pytestmark = pytest.mark.django_db

ADD = "/p/support-bot/explore/add"
EXPLORE = "/p/support-bot/explore/"


def export_url(fmt: str) -> str:
    return f"/p/support-bot/explore/export.{fmt}"


@pytest.fixture
def queue(project):
    return Queue.objects.create(project=project, slug="refunds", name="Refunds", weekly_quota=1)


@pytest.fixture
def outputs(project, other_project):
    """Five outputs of support-bot-2.4 an hour apart (newest is out-4), two of another model, and another
    project's output with the same external id as one of ours."""
    start = datetime(2026, 11, 20, 9, tzinfo=UTC)
    mine = [
        OutputFactory(project=project, external_id=f"out-{n}", model="support-bot-2.4", occurred_at=start + n * HOUR)
        for n in range(5)
    ]
    OutputFactory.create_batch(2, project=project, model="support-bot-2.3", occurred_at=start)
    OutputFactory(project=other_project, external_id="out-1", model="support-bot-2.4")
    return mine


HOUR = timedelta(hours=1)


def said(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def admin(project):
    return MembershipFactory(project=project, user=UserFactory(username="ada"), role="admin").user


@pytest.mark.parametrize("persona", ["expert", "engineer", "outsider"])
def test_it_validates_ownership(client, project, queue, outputs, persona, request):
    """Anyone but a lead or admin gets a 404 from adding, and nothing is added."""
    client.force_login(request.getfixturevalue(persona))

    assert client.post(ADD, {"queue": "refunds", "output": ["out-1"]}).status_code == 404
    assert client.post(ADD, {"queue": "refunds", "all": "1", "filter": ""}).status_code == 404
    assert not Item.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.parametrize(("persona", "status"), [("expert", 404), ("outsider", 404), (None, 302)])
def test_an_export_is_refused_to_experts_with_the_reason_and_to_others_as_not_found(
    client, project, outputs, persona, status, request
):
    """An expert (who may explore) gets the 404 the other pages give a role they do not open (API keys, datasets,
    webhooks), told why they may not export; a member of another project learns nothing."""
    if persona:
        client.force_login(request.getfixturevalue(persona))

    response = client.get(export_url("csv"))

    assert response.status_code == status and not AuditEvent.objects.exists()
    if persona == "expert":
        assert "Experts do not export outputs" in response.content.decode()


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_engineer_exports_the_filters_outputs_and_the_audit_log_names_them(client, engineer, outputs, fmt):
    client.force_login(engineer)

    response = client.get(export_url(fmt), {"model": "support-bot-2.4"})

    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode().count("out-") == 5
    event = AuditEvent.objects.get(action="outputs.exported")
    assert (event.actor, event.details) == (engineer, {"format": fmt, "filter": "model=support-bot-2.4"})


@pytest.mark.parametrize(("persona", "offered"), [("engineer", True), ("lead", True), ("expert", False)])
def test_the_explore_page_offers_the_export_to_whoever_may_export(client, project, outputs, persona, offered, request):
    client.force_login(request.getfixturevalue(persona))

    page = client.get(EXPLORE).content.decode()

    assert ('id="export-csv"' in page and 'id="export-jsonl"' in page) is offered


def test_a_lead_adds_ticked_rows_and_is_told_what_was_in_already(client, lead, queue, outputs):
    client.force_login(lead)
    assert said(client.post(ADD, {"queue": "refunds", "output": ["out-1"], "filter": ""})) == [
        "1 output added to Refunds."
    ]

    response = client.post(
        ADD, {"queue": "refunds", "output": ["out-0", "out-1", "out-3", "nope"], "filter": "model=support-bot-2.4"}
    )

    assert response.status_code == 302
    assert response.headers["Location"] == f"{EXPLORE}?model=support-bot-2.4"
    assert said(response)[-1] == "2 outputs added to Refunds; 1 was in it already."  # shown after the first
    in_queue = set(Item.objects.filter(queue=queue).values_list("output_id", flat=True))
    assert in_queue == {outputs[n].pk for n in (0, 1, 3)}  # the quota of 1 does not apply; never the other project's
    event = AuditEvent.objects.filter(action="queue.outputs_added").order_by("-pk").first()
    assert (event.actor, event.details["filter"], event.details["added"]) == (lead, "model=support-bot-2.4", 2)


def test_adding_all_results_takes_the_newest_up_to_the_limit(client, lead, queue, outputs, monkeypatch):
    monkeypatch.setattr(hand_picked, "ADD_LIMIT", 3)
    client.force_login(lead)

    response = client.post(ADD, {"queue": "refunds", "all": "1", "filter": "model=support-bot-2.4"})

    assert response.headers["Location"] == f"{EXPLORE}?model=support-bot-2.4"
    assert said(response) == [
        "3 outputs added to Refunds. Only the first 3 results in the list's order were taken: "
        "narrow the filter for the rest."
    ]
    in_queue = set(Item.objects.filter(queue=queue).values_list("output__external_id", flat=True))
    assert in_queue == {"out-4", "out-3", "out-2"}


@pytest.mark.parametrize(
    "data, message",
    [
        ({"queue": "refunds", "all": "1", "filter": "colour=blue"}, "colour: Unknown filter"),
        ({"queue": "refunds", "all": "1", "filter": "from=yesterday"}, "is not a date"),
        (
            {"queue": "shipping", "output": ["out-1"]},
            "Unknown queue &#x27;shipping&#x27;. This project&#x27;s queues: refunds",
        ),
    ],
)
def test_a_bad_filter_or_queue_is_a_400_with_the_message(client, lead, queue, outputs, data, message):
    client.force_login(lead)

    response = client.post(ADD, data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Item.objects.exists()


def test_adding_all_of_a_filter_that_matches_nothing_says_so(client, lead, queue, outputs):
    """It used to say "choose outputs first, or add all results" to the lead who had just asked for all results."""
    client.force_login(lead)

    response = client.post(ADD, {"queue": "refunds", "all": "1", "filter": "model=support-bot-9"})

    assert response.headers["Location"] == f"{EXPLORE}?model=support-bot-9"
    assert said(response) == ["Nothing was added: no output matches the filter."]
    assert not Item.objects.exists()


@pytest.mark.parametrize("picked", [[], ["out-\x00"], ["nope"]])
def test_nothing_ticked_adds_nothing_and_says_so(client, lead, queue, outputs, picked):
    """No rows, an id that cannot be stored (a NUL) or an unknown one: nothing to add, never a 500."""
    client.force_login(lead)

    response = client.post(ADD, {"queue": "refunds", "filter": "tag=refund", "output": picked})

    assert response.headers["Location"] == f"{EXPLORE}?tag=refund"
    assert said(response) == ["Nothing was added: choose outputs first, or add all results."]
    assert not Item.objects.exists()


def test_the_add_menu_keeps_the_queue_chosen_after_nothing_was_added(client, lead, project, queue, outputs):
    """With nothing ticked, "Add selected" added nothing and the menu came back on its first queue: the next click
    added to the wrong one. It now comes back on the queue chosen, in this project only."""
    Queue.objects.create(project=project, slug="billing", name="Billing")  # first by name
    client.force_login(lead)
    assert 'value="billing" selected' not in client.get(EXPLORE).content.decode()

    client.post(ADD, {"queue": "refunds", "filter": "", "output": []})

    page = client.get(EXPLORE).content.decode()
    menu = page.split('id="add-queue"')[1].split("</select>")[0]
    assert '<option value="refunds" selected>' in menu and 'billing" selected' not in menu
    client.post(ADD, {"queue": "billing", "filter": "", "output": ["out-1"]})  # the queue used last, after an add too
    menu = client.get(EXPLORE).content.decode().split('id="add-queue"')[1].split("</select>")[0]
    assert '<option value="billing" selected>' in menu and '"refunds" selected' not in menu


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_leads_and_admins_export_the_filters_outputs(client, lead, admin, project, outputs, fmt):
    for user in (lead, admin):
        client.force_login(user)

        response = client.get(export_url(fmt), {"model": "support-bot-2.4", "from": "2026-11-20"})

        assert response.status_code == 200 and isinstance(response, StreamingHttpResponse)
        today = timezone.localdate(timezone=project.tzinfo).isoformat()
        assert response.headers["Content-Disposition"] == f'attachment; filename="support-bot-outputs-{today}.{fmt}"'
        body = b"".join(response.streaming_content).decode()
        if fmt == "jsonl":
            ids = [json.loads(line)["external_id"] for line in body.splitlines()]
        else:
            ids = [row["external_id"] for row in csv.DictReader(io.StringIO(body))]
        assert ids == ["out-4", "out-3", "out-2", "out-1", "out-0"]
    exports = AuditEvent.objects.filter(action="outputs.exported").order_by("pk")
    assert [(event.actor, event.details) for event in exports] == [
        (user, {"format": fmt, "filter": "from=2026-11-20&model=support-bot-2.4"}) for user in (lead, admin)
    ]


def test_a_bad_export_filter_is_a_400_with_the_message(client, lead, outputs):
    client.force_login(lead)

    response = client.get(export_url("csv"), {"min_chars": "ten"})

    assert response.status_code == 400
    assert "min_chars: Use a whole number of characters" in response.content.decode()


def _streamed(client, params) -> tuple[int, int]:
    """The body's size, and the peak of Python memory allocated while it was asked for and streamed."""
    size = 0
    tracemalloc.start()
    try:
        for chunk in client.get(export_url(params["fmt"]), {"model": params["model"]}).streaming_content:
            size += len(chunk)
        return size, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.postgres
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_big_export_streams_in_memory_that_does_not_grow_with_it(client, lead, project, fmt):
    """1,000 and 4,000 outputs of ~1 kB: four times the rows, about the same peak of memory."""
    text = "Your refund will arrive by 14 March. " * 28
    start = timezone.now() - timedelta(days=30)
    for model, count in (("small", 1_000), ("large", 4_000)):
        Output.objects.bulk_create(
            OutputFactory.build(project=project, model=model, output=text, occurred_at=start + n * timedelta(seconds=1))
            for n in range(count)
        )
    client.force_login(lead)
    _streamed(client, {"fmt": fmt, "model": "small"})  # warm up: imports and caches, outside the count

    small_size, small_peak = _streamed(client, {"fmt": fmt, "model": "small"})
    large_size, large_peak = _streamed(client, {"fmt": fmt, "model": "large"})

    assert large_size > 3.5 * small_size
    assert large_peak < 1.25 * small_peak, (small_peak, large_peak)
    assert large_peak < large_size  # less than the body: never all rows at once


def test_an_inactive_queue_is_not_offered_and_adding_to_one_is_refused(client, lead, project, queue, outputs):
    """An inactive queue is on no expert's screen: outputs added to it would never be labeled. The page offers only
    active queues (its filter still lists every queue), and a page from before the queue was switched off is told."""
    Queue.objects.create(project=project, slug="archived", name="Archived", is_active=False)
    client.force_login(lead)

    page = client.get(EXPLORE).content.decode()
    add_select = page[page.index('id="add-queue"') : page.index("</select>", page.index('id="add-queue"'))]
    assert 'value="refunds"' in add_select and 'value="archived"' not in add_select
    assert 'name="queue" value="archived"' in page  # a filter by it still works

    response = client.post(ADD, {"queue": "archived", "output": ["out-1"], "filter": ""})

    assert response.status_code == 400
    assert "“Archived” is inactive" in response.content.decode()
    assert not Item.objects.exists()


def test_a_sorted_list_adds_and_exports_in_the_order_it_shows(client, lead, queue, outputs, monkeypatch):
    """Ordered slowest first, "Add all matching" took the newest outputs and the export listed them newest first:
    not what the list showed. Both follow the list's order now."""
    for latency, output in zip((300, 4000, 100, 2500, 900), outputs, strict=True):  # out-1 slowest, then out-3
        output.metadata = {"latency_ms": latency}
        output.save(update_fields=["metadata"])
    monkeypatch.setattr(hand_picked, "ADD_LIMIT", 2)
    client.force_login(lead)
    slowest = "model=support-bot-2.4&sort=slowest"

    client.post(ADD, {"queue": "refunds", "all": "1", "filter": slowest})
    exported = client.get(export_url("jsonl") + "?" + slowest)

    in_queue = set(Item.objects.filter(queue=queue).values_list("output__external_id", flat=True))
    assert in_queue == {"out-1", "out-3"}
    lines = b"".join(exported.streaming_content).decode().splitlines()
    assert [json.loads(line)["external_id"] for line in lines] == ["out-1", "out-3", "out-4", "out-0", "out-2"]


def test_adding_all_and_exporting_take_exactly_the_outputs_the_experts_disagreed_on(
    client, project, lead, expert, other_expert, rubric
):
    """ "Add all" and the export read the same filter as the list: `disagree=yes` adds and exports the one output
    the two experts split on, not the one they agreed on."""
    experts = [expert, other_expert]
    label_outputs(project, answers=({"correct": True}, {"correct": True}), experts=experts)  # out-00000
    label_outputs(project, answers=({"correct": True}, {"correct": False}), experts=experts)  # out-00001
    discuss = Queue.objects.create(project=project, slug="discuss", name="Discuss")
    client.force_login(lead)

    response = client.post(ADD, {"queue": "discuss", "all": "1", "filter": "disagree=yes"})

    assert response.headers["Location"] == f"{EXPLORE}?disagree=yes"
    assert list(Item.objects.filter(queue=discuss).values_list("output__external_id", flat=True)) == ["out-00001"]
    body = b"".join(client.get(export_url("jsonl"), {"disagree": "yes"}).streaming_content).decode()
    assert [json.loads(line)["external_id"] for line in body.splitlines()] == ["out-00001"]
