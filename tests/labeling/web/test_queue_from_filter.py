"""A finding on the explore page becomes a review queue in one step: "Make a queue from this filter" opens the
new-queue form pre-filled with the filter as a rule, saying what became what and what was not carried; saved as
shown, the queue's preview and backfill find the outputs the finding was about."""

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.http import QueryDict
from django.utils import timezone

from labeling.models import Item, Queue
from labeling.rules.explore import parse_filter
from labeling.rules.queue_from_filter import rule_from_filter
from labeling.services.routing import validate_rule
from labeling.services.search_index import index_outputs
from labeling.web.lead_forms import RuleForm
from tests.factories import OutputFactory
from tests.helpers.forms import form_as_shown
from tests.outbox import enqueued, run_as_worker

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

GPT = "gpt-4o-mini-2024-07-18"
GPT_NEXT = "gpt-4.1-mini-2025-04-14"
FINDING = f'q="refund will arrive by"&model={GPT_NEXT}'  # the demo's saved view "Refund date promises"
EXPLORE = "/p/support-bot/explore/"
NEW_QUEUE = "/p/support-bot/manage/queues/new"


@pytest.fixture
def promises(project):
    """This week: the new model promised a refund date three times (once in a JSON answer) and answered twice
    without; the old model promised one once (another model: not the finding); three other answers."""
    now = timezone.now()

    def make(count, model, answer):
        made = OutputFactory.create_batch(count, project=project, model=model, output=answer, occurred_at=now)
        index_outputs(project_id=project.pk, output_ids=[output.pk for output in made])
        return made

    planted = make(2, GPT_NEXT, "Sorry about that.\n\nYour refund will arrive by 14 March.")
    planted += make(1, GPT_NEXT, {"role": "assistant", "content": "Your Refund will arrive by Friday."})
    make(2, GPT_NEXT, "Your refund is on its way.")
    make(1, GPT, "Your refund will arrive by 3 April.")
    make(3, GPT, "Thanks for reaching out!")
    return planted


def action_link(client, query: str) -> str | None:
    """The explore page's "Make a queue from this filter" address, None when the page offers none."""
    html = client.get(f"{EXPLORE}?{query}" if query else EXPLORE).content.decode()
    found = re.search(r'<a class="button" id="queue-from-filter" href="([^"]+)"', html)
    return unescape(found[1]) if found else None


def test_the_explore_page_offers_a_lead_a_queue_from_the_filter(client, lead, promises):
    client.force_login(lead)

    link = action_link(client, FINDING)

    assert link is not None and urlsplit(link).path == NEW_QUEUE
    [carried] = parse_qs(urlsplit(link).query)["explore"]  # the filter's canonical query string
    assert parse_qs(carried) == {"q": ['"refund will arrive by"'], "model": [GPT_NEXT]}
    assert action_link(client, "") is None  # no filter: nothing to make a rule of


@pytest.mark.parametrize("persona", ["expert", "engineer"])
def test_only_leads_are_offered_it_and_may_follow_it(client, persona, promises, request):
    client.force_login(request.getfixturevalue(persona))

    assert action_link(client, FINDING) is None
    assert client.get(NEW_QUEUE, {"explore": FINDING}).status_code == 404


def test_the_form_is_pre_filled_and_saved_as_shown_makes_a_queue_that_finds_the_promises(
    client, lead, project, promises
):
    client.force_login(lead)
    response = client.get(action_link(client, FINDING))

    assert response.status_code == 200
    html = unescape(response.content.decode())
    assert "Pre-filled from your explore filter" in html
    assert 'the search "refund will arrive by"</bdi> → <strong>Answer contains any of</strong>' in html
    assert f"the model {GPT_NEXT}</bdi> → <strong>Models</strong>" in html
    assert "not by word stems" in html
    assert 'id="not-carried"' not in html  # everything in this filter was carried

    shown = form_as_shown(response.content.decode(), "queue-form")
    assert (shown["text_any"], shown["models"]) == (["refund will arrive by"], [GPT_NEXT])

    preview = client.get("/p/support-bot/manage/queues/preview", {**shown, "queue_id": "0"})
    assert (preview.context["preview"]["outputs"], preview.context["preview"]["matched"]) == (9, 3)

    saved = client.post(response.wsgi_request.get_full_path(), {**shown, "name": "Refund date promises"})

    assert saved.status_code == 302
    queue = Queue.objects.get()
    assert queue.rule == {"models": [GPT_NEXT], "text_any": ["refund will arrive by"]}
    assert client.post(f"/p/support-bot/manage/queues/{queue.pk}/backfill").status_code == 302
    [backfill] = enqueued("labeling.backfill_queue")
    run_as_worker(backfill)
    assert set(Item.objects.filter(queue=queue).values_list("output_id", flat=True)) == {o.pk for o in promises}


def test_what_the_rule_cannot_say_is_named_on_the_form(client, lead, promises):
    client.force_login(lead)
    query = (
        "q=refund+-shipping&from=2026-11-01&to=2026-11-30&tag=billing&feedback=down&feedback=none&labeled=no"
        "&queue=thumbs-down&flagged=yes&min_chars=10&end_user=u-42&session=s-7&has_meta=plan"
    )

    response = client.get(NEW_QUEUE, {"explore": query})

    assert response.status_code == 200
    [named] = re.findall(r'<p id="not-carried">(.*?)</p>', response.content.decode(), re.DOTALL)
    named = unescape(re.sub(r"<[^>]+>", "", named))
    assert named.startswith("Not carried into the rule: the words left out of the search, “-shipping”")
    parts = [
        "the metadata key plan being there", "the feedback down or none", "the date range (from 2026-11-01 to "
        "2026-11-30)", "the end user u-42", "the session s-7", "not labeled yet", "being in the queue thumbs-down",
        "flagged", "the output length (at least 10 characters)",
    ]  # fmt: skip
    assert [part for part in parts if part not in named] == []
    shown = form_as_shown(response.content.decode(), "queue-form")
    assert (shown["text_any"], shown["tags_any"], shown.get("feedback_scores")) == (["refund"], ["billing"], None)


@pytest.mark.parametrize(
    "query",
    [
        FINDING,
        'q=refund will arrive OR "money back" OR ÜBERWEISUNG&tag=billing&tag=VIP user&tags=all',
        'meta=tier:3&meta=tier:"3"&meta=vip:true&meta=score:0.0000001&meta=code:007&meta="region":" eu "',
        'meta=note:"quoted"&meta=plan:pro&model=a b&feedback=down&feedback=up&comment=no',
    ],
)
def test_the_pre_filled_form_posts_back_the_translated_rule_unchanged(query):
    """What the form shows is what it saves: no value is re-read as another (a number as text, spaces trimmed)."""
    made_from = rule_from_filter(parse_filter(QueryDict(query)))
    shown = RuleForm.initial_for_rule(made_from.rule)
    form = RuleForm({**shown, "sample_rate": "1"})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["rule"] == validate_rule(made_from.rule)


def test_a_filter_no_rule_can_say_is_said_to_take_every_output(client, lead):
    client.force_login(lead)

    html = unescape(client.get(NEW_QUEUE, {"explore": "from=2026-11-01&labeled=no"}).content.decode())

    assert "as it stands, the queue takes every output" in html
    assert "Not carried into the rule:" in html and "not labeled yet" in html


def test_a_bad_filter_is_a_400_saying_why(client, lead):
    client.force_login(lead)

    response = client.get(NEW_QUEUE, {"explore": "from=yesterday&colour=red"})

    assert response.status_code == 400
    html = unescape(response.content.decode())
    assert "'yesterday' is not a date like 2026-11-30." in html and "colour: Unknown filter" in html
    assert not Queue.objects.exists()
