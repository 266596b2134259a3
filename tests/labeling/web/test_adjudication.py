"""The lead's adjudication screens: the list of items waiting for a decision, and one item's case.

Leads and admins only (everyone else gets a 404), another project's item is a 404 and stays as it
was, bad answers re-render with a 400 and store nothing, pages run a fixed number of queries.
"""

import json
import re
import threading
from html import unescape

import pytest
from django.db import transaction
from django.test import Client

from labeling.models import AuditEvent, Item, ItemStatus, Label, Queue, Resolution, ResolutionStatus
from labeling.rules.gold import gold_answers
from labeling.services.labels import submit_label
from labeling.services.resolution import adjudicate, resolve_item
from labeling.services.rubrics import publish_rubric
from tests.conftest import _member
from tests.factories import MembershipFactory, OutputFactory, UserFactory
from tests.helpers.concurrency import backend_pid, run_at_once, waits_on_a_lock
from tests.helpers.forms import form_as_shown
from tests.helpers.labeling import label_outputs, mixed_item
from tests.helpers.processes import wait_for

TIE = (
    {"correct": True, "helpful": 4, "tone": "friendly", "fix": "Parcels take 3 days."},
    {"correct": False, "helpful": 4, "tone": "friendly", "fix": "Parcels take 2 to 4 days."},
)
AGREE = ({"correct": True, "helpful": 5}, {"correct": True, "helpful": 5})


@pytest.fixture
def experts(expert, other_expert):
    return [expert, other_expert]


@pytest.fixture
def lead_client(client, lead):
    client.force_login(lead)
    return client


def list_url(project):
    return f"/p/{project.slug}/manage/adjudication/"


def item_url(project, item):
    return f"/p/{project.slug}/manage/adjudication/{item.pk}/"


def state(item) -> tuple:
    resolution = Resolution.objects.get(item=item)
    return resolution.status, resolution.adjudicated, resolution.marked_for_adjudication, resolution.note


# Access ---------------------------------------------------------------------------------------------------------


def test_pages_need_a_signed_in_user(client, project, experts):
    [item] = label_outputs(project, answers=TIE, experts=experts)
    for url in (list_url(project), item_url(project, item)):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login/")


@pytest.mark.parametrize("persona", ["expert", "engineer", "outsider"])
def test_it_validates_ownership(client, project, experts, persona, request):
    """Experts (even those who labeled the item), engineers and outsiders get 404s and change nothing."""
    [item] = label_outputs(project, answers=TIE, experts=experts)
    [agreeing] = label_outputs(project, answers=AGREE, experts=experts)
    before = state(item), state(agreeing)
    client.force_login(request.getfixturevalue(persona))

    assert client.get(list_url(project)).status_code == 404
    assert client.get(item_url(project, item)).status_code == 404
    assert client.post(item_url(project, item), {"q-correct": "yes", "note": "mine"}).status_code == 404
    assert client.post(item_url(project, agreeing), {"action": "mark", "note": "look"}).status_code == 404

    assert (state(item), state(agreeing)) == before


def test_it_validates_ownership_of_an_item_id(lead_client, project, other_project, experts):
    """A lead naming another project's item gets a 404, and so does a decision on an item still being labeled (its page
    shows only what was said about it); nothing changes."""
    foreign_experts = [MembershipFactory(project=other_project, role="expert").user for _ in range(2)]
    [foreign] = label_outputs(other_project, answers=TIE, experts=foreign_experts)
    before = state(foreign)

    assert lead_client.get(item_url(project, foreign)).status_code == 404
    assert lead_client.post(item_url(project, foreign), {"q-correct": "yes"}).status_code == 404
    assert lead_client.post(item_url(project, foreign), {"action": "mark"}).status_code == 404
    assert lead_client.get(item_url(other_project, foreign)).status_code == 404  # not a lead there
    assert lead_client.get(list_url(other_project)).status_code == 404
    assert state(foreign) == before

    label_outputs(project, answers=AGREE, experts=experts)
    open_item = Item.objects.create(project=project, queue=Queue.objects.get(project=project), output=OutputFactory(
        project=project), week=foreign.week, overlap=2)  # fmt: skip
    assert 'id="still-labeling"' in lead_client.get(item_url(project, open_item)).content.decode()
    assert lead_client.post(item_url(project, open_item), {"q-correct": "yes"}).status_code == 404
    assert lead_client.post(item_url(project, open_item), {"action": "mark"}).status_code == 404
    assert not Resolution.objects.filter(item=open_item).exists()


def test_an_admin_may_adjudicate(client, project, experts):
    admin = MembershipFactory(project=project, role="admin", user=UserFactory(username="ada")).user
    [item] = label_outputs(project, answers=TIE, experts=experts)
    client.force_login(admin)
    assert client.get(list_url(project)).status_code == 200
    assert client.post(item_url(project, item), {"q-correct": "no"}).status_code == 302
    assert Resolution.objects.get(item=item).adjudicated_by == admin


# The list -------------------------------------------------------------------------------------------------------


def test_the_list_shows_items_waiting_for_a_decision_oldest_first(lead_client, project, experts, lead):
    [first] = label_outputs(project, answers=TIE, experts=experts, texts=["First answer <script>alert(1)</script>"])
    label_outputs(project, answers=AGREE, experts=experts)
    [second] = label_outputs(project, answers=TIE, experts=experts, texts=["Second answer"])
    [marked] = label_outputs(project, answers=AGREE, experts=experts, texts=["Agreed, but suspicious"])
    lead_client.post(item_url(project, marked), {"action": "mark", "note": "Check the refund rule"})

    response = lead_client.get(list_url(project))

    assert response.status_code == 200
    assert [row.item.pk for row in response.context["rows"]] == [first.pk, second.pk, marked.pk]
    assert response.context["total"] == 3
    row = response.context["rows"][0]
    assert [(tie.key, tie.prompt, tie.votes) for tie in row.ties] == [
        ("correct", "Is the answer correct?", [("yes", 1), ("no", 1)])
    ]
    html = response.content.decode()
    assert "First answer &lt;script&gt;" in html and "<script>alert(1)" not in html
    assert "Check the refund rule" in html and "sent by a lead" in html
    assert "3 waiting" in html


def test_a_tie_on_a_question_a_later_version_dropped_is_listed_by_its_prompt(lead_client, project, experts, lead):
    """The list named a tie's question by the current version's prompts: one the lead has since dropped read as its
    bare key ("correct")."""
    [tied] = label_outputs(project, answers=TIE, experts=experts)
    current = project.rubrics.order_by("-version").first()
    publish_rubric(project=project, questions=[q for q in current.questions if q["key"] != "correct"])

    response = lead_client.get(list_url(project))

    [row] = [row for row in response.context["rows"] if row.item.pk == tied.pk]
    assert [(tie.key, tie.prompt) for tie in row.ties] == [("correct", "Is the answer correct?")]


def test_the_list_runs_a_fixed_number_of_queries(lead_client, project, experts, lead, django_assert_num_queries):
    [item] = label_outputs(project, answers=TIE, experts=experts)
    lead_client.post(item_url(project, item), {"q-correct": "yes"})  # one recent decision
    label_outputs(project, answers=TIE, experts=experts)
    # session, user, project with membership, count, resolutions with items, the current rubric, recent decisions
    with django_assert_num_queries(7):
        lead_client.get(list_url(project))
    for _ in range(4):
        label_outputs(project, answers=TIE, experts=experts)
    with django_assert_num_queries(7):
        response = lead_client.get(list_url(project))
    assert len(response.context["rows"]) == 5 and len(response.context["recent"]) == 1


def test_an_empty_list_says_there_is_nothing_to_decide(lead_client, project, experts):
    label_outputs(project, answers=AGREE, experts=experts)
    response = lead_client.get(list_url(project))
    assert response.status_code == 200 and "Nothing to decide" in response.content.decode()


# The case -------------------------------------------------------------------------------------------------------


def test_the_case_shows_each_experts_answers_by_name_and_the_automatic_result(lead_client, project, experts):
    [item] = label_outputs(
        project,
        answers=TIE,
        experts=experts,
        texts=["**Friday**, promised. <script>alert('x')</script><img src=x onerror=alert(1)>"],
    )

    response = lead_client.get(item_url(project, item))

    html = response.content.decode()
    assert response.status_code == 200
    correct = next(q for q in response.context["questions"] if q["key"] == "correct")
    assert [(a["expert"]["username"], a["value"]) for a in correct["answers"]] == [("erin", "Yes"), ("ezra", "No")]
    assert correct["needs_decision"] and correct["automatic"]["method"] == "tie"
    assert 'data-expert="erin"' in html and 'data-expert="ezra"' in html
    helpful = next(q for q in response.context["questions"] if q["key"] == "helpful")
    assert helpful["automatic"]["value"] == "4 / 5" and helpful["automatic"]["method_label"] == "Median"
    # Prefilled: the settled automatic answers; nothing for the tie.
    assert [o.value for o in helpful["field"].options if o.checked] == ["4"]
    assert not [o for o in correct["field"].options if o.checked]
    # The experts' corrections are offered to pick, one radio each, by name.
    fix = next(q for q in response.context["questions"] if q["key"] == "fix")
    assert [c["experts"] for c in fix["texts"]["choices"]] == [["erin"], ["ezra"]]
    assert "Parcels take 2 to 4 days." in html
    # The AI output is rendered as sanitised Markdown.
    assert "<strong>Friday</strong>" in html
    assert "<script>alert" not in html and "<img" not in html  # escaped as text, never markup


def test_the_case_runs_a_fixed_number_of_queries(lead_client, project, experts, django_assert_num_queries):
    [item] = label_outputs(project, answers=TIE, experts=experts)
    # session, user, project with membership, the item with output, queue and resolution, labels with experts and
    # rubric, its flags (with who raised and resolved them), its comments (with their authors)
    with django_assert_num_queries(7):
        assert lead_client.get(item_url(project, item)).status_code == 200


def test_a_lead_records_the_gold_answer_and_the_item_leaves_the_list(lead_client, project, experts, lead):
    [item] = label_outputs(project, answers=TIE, experts=experts)
    mine = "Parcels take 3 working days."

    response = lead_client.post(
        item_url(project, item),
        {"q-correct": "no", "q-helpful": "4", "q-tone": "friendly", "pick-fix": "own", "own-fix": mine + "\r\n",
         "note": "  The policy says 3 working days.  "},
    )  # fmt: skip

    assert response.status_code == 302 and response.headers["Location"] == list_url(project)
    resolution = Resolution.objects.get(item=item)
    assert resolution.status == ResolutionStatus.RESOLVED
    # helpful and tone were posted as the experts agreed (the prefill): they stay the experts', not the lead's.
    assert resolution.adjudicated == {
        "correct": {"value": False, "method": "adjudicated", "rubric_version": 1},
        "fix": {"value": mine, "method": "adjudicated", "rubric_version": 1},
    }
    assert gold_answers(resolution.automatic, resolution.adjudicated)["correct"] is False
    assert (resolution.adjudicated_by, resolution.note) == (lead, "The policy says 3 working days.")
    page = lead_client.get(list_url(project))
    assert page.context["rows"] == [] and [r.item_id for r in page.context["recent"]] == [item.pk]
    assert "Gold answer of item" in page.content.decode()


def test_a_lead_picks_one_experts_correction(lead_client, project, experts, other_expert):
    [item] = label_outputs(project, answers=TIE, experts=experts)
    label = Label.objects.get(item=item, expert=other_expert)

    lead_client.post(item_url(project, item), {"q-correct": "yes", "pick-fix": f"label-{label.pk}", "own-fix": ""})

    assert Resolution.objects.get(item=item).adjudicated["fix"] == {
        "value": "Parcels take 2 to 4 days.", "method": "adjudicated", "rubric_version": 1,
    }  # fmt: skip


def test_own_text_typed_without_picking_counts_and_no_pick_leaves_the_question_undecided(lead_client, project, experts):
    [item] = label_outputs(project, answers=TIE, experts=experts)

    lead_client.post(item_url(project, item), {"q-correct": "yes", "pick-fix": "", "own-fix": "Typed, not picked."})
    assert Resolution.objects.get(item=item).adjudicated["fix"]["value"] == "Typed, not picked."

    [other] = label_outputs(project, answers=TIE, experts=experts)
    lead_client.post(item_url(project, other), {"q-correct": "yes", "pick-fix": "", "own-fix": "  "})
    assert "fix" not in Resolution.objects.get(item=other).adjudicated


@pytest.mark.parametrize(
    "data, key, message",
    [
        ({"q-correct": "maybe"}, "correct", "Answer yes or no."),
        ({"q-correct": "yes", "q-helpful": "9"}, "helpful", "Give a rating from 1 to 5."),
        ({"q-correct": "yes", "q-tone": "sarcastic"}, "tone", "Pick one of the listed options."),
        ({"q-correct": "yes", "q-issues": ["wrong", "nope"]}, "issues", "Unknown option: nope."),
        ({"q-correct": "yes", "pick-fix": "own", "own-fix": "a\x00b"}, "fix", "NUL"),
        ({"note": "nothing decided"}, None, "at least one question"),
    ],
)
def test_bad_answers_are_refused_with_400_and_nothing_is_stored(lead_client, project, experts, data, key, message):
    [item] = label_outputs(project, answers=TIE, experts=experts)
    before = state(item)

    response = lead_client.post(item_url(project, item), data)

    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing was saved." in html and message in html
    if key:
        question = next(q for q in response.context["questions"] if q["key"] == key)
        assert message in question["error"]
    assert state(item) == before
    # What the lead posted is shown again, not the prefill.
    if data.get("q-helpful"):
        helpful = next(q for q in response.context["questions"] if q["key"] == "helpful")
        assert [o.value for o in helpful["field"].options if o.checked] == []


def test_a_partial_decision_is_saved_and_the_item_keeps_waiting(lead_client, project, experts):
    answers = ({**TIE[0], "tone": "friendly"}, {**TIE[1], "tone": "curt"})  # ties on correct and tone
    [item] = label_outputs(project, answers=answers, experts=experts)

    response = lead_client.post(item_url(project, item), {"q-correct": "no"})

    assert response.status_code == 302 and response.headers["Location"] == item_url(project, item)
    resolution = Resolution.objects.get(item=item)
    assert resolution.status == ResolutionStatus.NEEDS_ADJUDICATION and "correct" in resolution.adjudicated
    page = lead_client.get(response.headers["Location"])
    assert "still ties on: tone" in page.content.decode()


def test_a_lead_sends_an_agreeing_item_to_adjudication(lead_client, project, experts, lead):
    [item] = label_outputs(project, answers=AGREE, experts=experts)
    assert "Send to adjudication" in lead_client.get(item_url(project, item)).content.decode()

    response = lead_client.post(item_url(project, item), {"action": "mark", "note": "Refund rule looks wrong"})

    assert response.status_code == 302 and response.headers["Location"] == item_url(project, item)
    assert state(item) == (ResolutionStatus.NEEDS_ADJUDICATION, {}, True, "Refund rule looks wrong")
    rows = lead_client.get(list_url(project)).context["rows"]
    assert [(row.item.pk, row.ties) for row in rows] == [(item.pk, [])]
    # Deciding it (agreeing with the experts) settles it again.
    lead_client.post(item_url(project, item), {"q-correct": "yes", "q-helpful": "5"})
    assert state(item)[0] == ResolutionStatus.RESOLVED and state(item)[2] is False


def test_a_complete_item_whose_resolution_is_still_queued_is_shown_and_decided(lead_client, project, experts):
    [item] = label_outputs(project, answers=TIE, experts=experts)
    Resolution.objects.filter(item=item).delete()  # as if the resolve task had not run yet

    response = lead_client.get(item_url(project, item))
    assert response.status_code == 200
    assert next(q for q in response.context["questions"] if q["key"] == "correct")["automatic"]["is_tie"]
    assert not Resolution.objects.filter(item=item).exists()  # showing it writes nothing

    lead_client.post(item_url(project, item), {"q-correct": "no"})
    assert Resolution.objects.get(item=item).status == ResolutionStatus.RESOLVED
    assert Item.objects.get(pk=item.pk).status == ItemStatus.COMPLETE


# What counts as the lead's decision ------------------------------------------------------------------------------


def relabel(item, expert, **changes) -> None:
    """The expert edits their label of the complete item; its gold is recomputed (as the task would)."""
    label = Label.objects.get(item=item, expert=expert)
    submit_label(expert=expert, item=item, rubric=label.rubric, answers={**label.answers, **changes})
    resolve_item(item_id=item.pk)


def gold_of(item) -> dict:
    return gold_answers(**Resolution.objects.values("automatic", "adjudicated").get(item=item))


def test_only_the_question_the_lead_decides_is_theirs_and_the_others_keep_following_the_labels(
    lead_client, project, experts, lead
):
    """The form comes prefilled with the automatic gold; posting it back with one tie decided records that one
    question only: a later label that flips another question's majority still moves that question's gold."""
    third = _member(project, "elio", "expert")
    answers = (
        {"correct": True, "helpful": 4, "tone": "friendly"},
        {"correct": True, "helpful": 4, "tone": "curt"},
        {"correct": False, "helpful": 4, "tone": "rude"},
    )  # correct: majority yes; helpful: median 4; tone: a three-way tie
    [item] = label_outputs(project, answers=answers, experts=[*experts, third])
    page = lead_client.get(item_url(project, item))
    prefilled = {q["field"].name: o.value for q in page.context["questions"] if q["field"]
                 for o in q["field"].options if o.checked}  # fmt: skip
    assert prefilled == {"q-correct": "yes", "q-helpful": "4"}

    response = lead_client.post(item_url(project, item), {**prefilled, "q-tone": "friendly"})

    assert response.status_code == 302 and response.headers["Location"] == list_url(project)
    resolution = Resolution.objects.get(item=item)
    assert resolution.status == ResolutionStatus.RESOLVED
    assert resolution.adjudicated == {"tone": {"value": "friendly", "method": "adjudicated", "rubric_version": 1}}
    [event] = AuditEvent.objects.filter(action="gold.adjudicated")
    assert event.details["answers"] == {"tone": [None, "friendly"]}
    # The second expert changes their mind: correct's majority flips to no, and the gold follows.
    relabel(item, experts[1], correct=False)
    assert gold_of(item) == {"correct": False, "helpful": 4, "tone": "friendly"}
    assert Resolution.objects.get(item=item).status == ResolutionStatus.RESOLVED


def test_a_lead_confirms_a_marked_item_as_it_is_without_freezing_its_gold(lead_client, project, experts, lead):
    """Sent to adjudication, then submitted unchanged: the item leaves the list as a confirmation (audited as
    one), nothing is stored as decided, and its gold keeps following the labels."""
    [item] = label_outputs(project, answers=AGREE, experts=experts)
    lead_client.post(item_url(project, item), {"action": "mark", "note": "Refund rule looks wrong"})

    response = lead_client.post(item_url(project, item), {"q-correct": "yes", "q-helpful": "5", "note": "It is fine."})

    assert response.status_code == 302 and response.headers["Location"] == list_url(project)
    assert state(item) == (ResolutionStatus.RESOLVED, {}, False, "It is fine.")
    resolution = Resolution.objects.get(item=item)
    assert (resolution.adjudicated_by, resolution.adjudicated_at is not None) == (lead, True)
    [event] = AuditEvent.objects.filter(action__startswith="gold.").exclude(action="gold.marked_for_adjudication")
    assert (event.action, event.actor, event.details) == (
        "gold.confirmed", lead, {"item": item.pk, "external_id": item.output.external_id}
    )  # fmt: skip
    page = lead_client.get(list_url(project))
    assert page.context["rows"] == [] and "confirmed as it is" in page.content.decode()
    # Not frozen: an expert's edit makes it a tie, and it waits for a lead again.
    relabel(item, experts[1], correct=False)
    assert "correct" not in gold_of(item)
    assert Resolution.objects.get(item=item).status == ResolutionStatus.NEEDS_ADJUDICATION


def test_changing_nothing_on_a_tied_item_stores_nothing(lead_client, project, experts):
    """Only the settled answers posted back, the tie left open: nothing to record, a 400 that names the tie."""
    [item] = label_outputs(project, answers=TIE, experts=experts)
    before = state(item)

    response = lead_client.post(item_url(project, item), {"q-helpful": "4", "q-tone": "friendly"})

    assert response.status_code == 400
    assert "Nothing was saved." in response.content.decode() and "still ties on: correct" in response.content.decode()
    assert state(item) == before and not AuditEvent.objects.filter(action__startswith="gold.").exists()


def test_a_lead_settles_a_multi_choice_tie_with_none_of_its_options(lead_client, project, experts, lead):
    """One expert ticks `evasive`, the other none of the options: a tie. The lead decides that none applies with the
    question's *None of these* box (an unticked set alone leaves the tie open, as any question left undecided)."""
    [item] = label_outputs(project, answers=({"correct": True, "issues": ["evasive"]}, {"correct": True, "issues": []}),
                           experts=experts)  # fmt: skip
    assert Resolution.objects.get(item=item).status == ResolutionStatus.NEEDS_ADJUDICATION
    page = lead_client.get(item_url(project, item)).content.decode()
    assert 'name="none-issues"' in page
    issues = re.search(r'id="question-issues".*?</fieldset>', page, re.S).group(0)
    assert re.findall(r'class="answer-value[^"]*"[^>]*>([^<]*)<', issues) == ["evasive", "none"]

    left_open = lead_client.post(item_url(project, item), {"q-correct": "yes"})
    response = lead_client.post(item_url(project, item), {"q-correct": "yes", "none-issues": "on"})

    assert left_open.status_code == 400 and "still ties on: issues" in left_open.content.decode()
    assert response.status_code == 302
    resolution = Resolution.objects.get(item=item)
    assert resolution.adjudicated == {"issues": {"value": [], "method": "adjudicated", "rubric_version": 1}}
    assert resolution.status == ResolutionStatus.RESOLVED


def test_a_decision_made_before_stays_the_leads_and_takes_a_new_value(lead_client, project, experts):
    [item] = label_outputs(project, answers=TIE, experts=experts)
    lead_client.post(item_url(project, item), {"q-correct": "no", "q-helpful": "2"})
    assert set(Resolution.objects.get(item=item).adjudicated) == {"correct", "helpful"}

    lead_client.post(item_url(project, item), {"q-correct": "yes", "q-helpful": "2", "q-tone": "friendly"})

    assert Resolution.objects.get(item=item).adjudicated == {
        "correct": {"value": True, "method": "adjudicated", "rubric_version": 1},
        "helpful": {"value": 2, "method": "adjudicated", "rubric_version": 1},
    }
    latest = AuditEvent.objects.filter(action="gold.adjudicated").latest("pk")
    assert latest.details["answers"] == {"correct": [False, True]}


# A page opened before an expert's edit --------------------------------------------------------------------------


def as_the_browser_posts(page) -> dict:
    """The case form as the browser submits it untouched: the prefilled options and the hidden fields."""
    html = page.content.decode()
    form = {name: value for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)}
    form = {name: unescape(value) for name, value in form.items() if name != "csrfmiddlewaretoken"}
    form.update({q["field"].name: o.value for q in page.context["questions"] if q["field"]
                 for o in q["field"].options if o.checked})  # fmt: skip
    return form


@pytest.fixture
def three_experts(project, experts):
    return [*experts, _member(project, "elio", "expert")]


THREE = (
    {"correct": True, "helpful": 4, "tone": "friendly"},
    {"correct": True, "helpful": 4, "tone": "curt"},
    {"correct": False, "helpful": 4, "tone": "rude"},
)  # correct: majority yes; helpful: median 4; tone: a three-way tie


def test_a_gold_that_flips_while_the_page_is_open_is_not_taken_for_the_leads_decision(
    lead_client, project, three_experts
):
    """The lead opens the case (correct prefilled yes), an expert's edit flips correct's majority to no, then the
    lead decides the tone: correct, posted back as the page showed it, stays automatic and follows the labels."""
    [item] = label_outputs(project, answers=THREE, experts=three_experts)
    page = lead_client.get(item_url(project, item))
    form = as_the_browser_posts(page)
    assert form["q-correct"] == "yes"

    relabel(item, three_experts[1], correct=False)
    response = lead_client.post(item_url(project, item), {**form, "q-tone": "friendly"})

    assert response.status_code == 302 and response.headers["Location"] == list_url(project)
    assert Resolution.objects.get(item=item).adjudicated == {
        "tone": {"value": "friendly", "method": "adjudicated", "rubric_version": 1}
    }
    assert gold_of(item) == {"correct": False, "helpful": 4, "tone": "friendly"}
    [event] = AuditEvent.objects.filter(action="gold.adjudicated")
    assert event.details["answers"] == {"tone": [None, "friendly"]}
    message = lead_client.get(list_url(project)).content.decode()
    assert "correct changed while you had the page open" in message and "keeps following" in message
    # Still the experts': the second one changes their mind back, and the gold follows again.
    relabel(item, three_experts[1], correct=True)
    assert gold_of(item)["correct"] is True


def test_a_leads_change_wins_over_a_gold_that_moved_meanwhile_and_the_page_says_so(lead_client, project, three_experts):
    """The lead settles the tone tie as curt; meanwhile an expert's edit made friendly the majority. The lead's
    explicit answer is recorded (as any decision wins over the labels), and the message says the gold had moved."""
    [item] = label_outputs(project, answers=THREE, experts=three_experts)
    form = as_the_browser_posts(lead_client.get(item_url(project, item)))

    relabel(item, three_experts[2], tone="friendly")
    response = lead_client.post(item_url(project, item), {**form, "q-tone": "curt"})

    assert response.status_code == 302
    assert Resolution.objects.get(item=item).adjudicated == {
        "tone": {"value": "curt", "method": "adjudicated", "rubric_version": 1}
    }
    [event] = AuditEvent.objects.filter(action="gold.adjudicated")
    assert event.details["answers"] == {"tone": ["friendly", "curt"]}
    html = lead_client.get(list_url(project)).content.decode()
    assert "tone changed while you had the page open" in html and "your answer was recorded" in html


def test_confirming_a_gold_that_moved_while_the_page_was_open_is_refused_and_shows_it_as_it_is(
    lead_client, project, three_experts
):
    """A marked item submitted unchanged confirms the gold the lead saw; if an edit moved it meanwhile nothing is
    confirmed (the item stays on the list), and the page, shown again, holds the new gold to confirm or change."""
    answers = tuple({**answer, "tone": "friendly"} for answer in THREE)
    [item] = label_outputs(project, answers=answers, experts=three_experts)
    lead_client.post(item_url(project, item), {"action": "mark", "note": "Check it"})
    form = as_the_browser_posts(lead_client.get(item_url(project, item)))

    relabel(item, three_experts[1], correct=False)
    response = lead_client.post(item_url(project, item), form)

    assert response.status_code == 400
    assert "correct changed while you had the page open" in response.content.decode()
    assert state(item) == (ResolutionStatus.NEEDS_ADJUDICATION, {}, True, "Check it")
    again = as_the_browser_posts(response)
    assert again["q-correct"] == "no"
    assert lead_client.post(item_url(project, item), again).status_code == 302
    assert state(item) == (ResolutionStatus.RESOLVED, {}, False, "Check it")


# Two leads on one tie -------------------------------------------------------------------------------------------


def _second_lead(project) -> Client:
    other = Client()
    other.force_login(_member(project, "lou", "lead"))
    return other


def test_a_tie_another_lead_decided_since_the_page_opened_is_not_overwritten(lead_client, project, experts, lead):
    """Lena and Lou open the same tie; Lena decides yes, then Lou (his page still showing the tie) decides no. Lou's
    answer used to replace Lena's without a word. Now nothing of his is saved: the page, a 400, says Lena decided yes
    meanwhile and keeps his answer in the form, so saving it again from there (having seen hers) replaces it."""
    [item] = label_outputs(project, answers=TIE, experts=experts)
    lou = _second_lead(project)
    lenas_form = as_the_browser_posts(lead_client.get(item_url(project, item)))
    lous_form = as_the_browser_posts(lou.get(item_url(project, item)))

    assert lead_client.post(item_url(project, item), {**lenas_form, "q-correct": "yes"}).status_code == 302
    refused = lou.post(item_url(project, item), {**lous_form, "q-correct": "no", "note": "Lou's reason"})

    assert refused.status_code == 400
    html = unescape(refused.content.decode())
    assert "lena decided “Yes” for correct since this page was opened" in html
    assert "nothing was saved" in html
    resolution = Resolution.objects.get(item=item)
    assert (resolution.adjudicated, resolution.adjudicated_by, resolution.note) == (
        {"correct": {"value": True, "method": "adjudicated", "rubric_version": 1}},
        lead,
        "",
    )
    assert AuditEvent.objects.filter(action="gold.adjudicated").count() == 1

    again = form_as_shown(refused.content.decode(), "adjudicate-form")
    assert again["q-correct"] == ["no"] and json.loads(again["shown"][0])["correct"] is True
    assert again["note"] == ["Lou's reason"]
    assert lou.post(item_url(project, item), again).status_code == 302
    assert gold_of(item)["correct"] is False
    assert Resolution.objects.get(item=item).note == "Lou's reason"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_leads_deciding_one_tie_at_once_one_decides_and_the_other_is_told(project, experts, lead):
    """Lena's and Lou's decisions of the same tie arrive together: Lena's holds the item while Lou's request waits on
    it; once hers commits, Lou's reads her decision and is refused naming it, instead of silently replacing it.
    (Lena decides through the service the page calls: a test client request inside the transaction held open would
    have its connection closed by the other thread's request signals.)"""
    [item] = label_outputs(project, answers=TIE, experts=experts)
    lou = _second_lead(project)
    lous_form = as_the_browser_posts(lou.get(item_url(project, item)))
    lena_in, lou_pid = threading.Event(), []

    def lena_decides():
        with transaction.atomic():
            adjudicate(lead=lead, item=item, answers={"correct": True}, shown=json.loads(lous_form["shown"]))
            lena_in.set()
            assert wait_for(lambda: bool(lou_pid) and waits_on_a_lock(lou_pid[0])), "Lou's decision never waited"
        return "decided"

    def lou_decides():
        assert lena_in.wait(20)
        lou_pid.append(backend_pid())
        return lou.post(item_url(project, item), {**lous_form, "q-correct": "no"})

    results, errors = run_at_once(lambda step: step(), [(lena_decides,), (lou_decides,)])

    assert errors == []
    [refused] = [result for result in results if result != "decided"]
    assert refused.status_code == 400
    assert "lena decided “Yes” for correct since this page was opened" in unescape(refused.content.decode())
    resolution = Resolution.objects.get(item=item)
    assert (resolution.adjudicated, resolution.adjudicated_by) == (
        {"correct": {"value": True, "method": "adjudicated", "rubric_version": 1}},
        lead,
    )
    assert AuditEvent.objects.filter(action="gold.adjudicated").count() == 1


def test_a_question_another_lead_decided_while_the_page_was_open_and_left_as_shown_keeps_their_decision(
    lead_client, project, experts
):
    """Lou's page still shows the tie Lena has since decided; he decides another question only. Lena's decision
    stands, and his message said the tie "keeps following the experts' labels", which it does not: it names her."""
    [item] = label_outputs(project, answers=TIE, experts=experts)
    lou = _second_lead(project)
    lous_form = as_the_browser_posts(lou.get(item_url(project, item)))
    lead_client.post(item_url(project, item), {**as_the_browser_posts(lead_client.get(item_url(project, item))),
                                               "q-correct": "yes"})  # fmt: skip

    response = lou.post(item_url(project, item), {**lous_form, "q-helpful": "3"}, follow=True)

    assert gold_of(item)["correct"] is True and gold_of(item)["helpful"] == 3
    html = unescape(response.content.decode())
    assert "lena decided “Yes” for correct while you had the page open: that decision stands" in html
    assert "keeps following" not in html


def test_the_refusal_names_the_lead_who_decided_that_question_not_the_last_to_decide_any(lead_client, project, experts):
    """Ada's page is open; Lena decides the tie, then Lou (from a fresh page) rates helpful. Ada's answer to the tie
    is refused naming Lena, who decided it, though Lou decided last on the item."""
    [item] = label_outputs(project, answers=TIE, experts=experts)
    ada = Client()
    ada.force_login(_member(project, "ada", "lead"))
    adas_form = as_the_browser_posts(ada.get(item_url(project, item)))
    lead_client.post(item_url(project, item), {**as_the_browser_posts(lead_client.get(item_url(project, item))),
                                               "q-correct": "yes"})  # fmt: skip
    lou = _second_lead(project)
    lous_form = form_as_shown(lou.get(item_url(project, item)).content.decode(), "adjudicate-form")
    assert lou.post(item_url(project, item), {**lous_form, "q-helpful": "3"}).status_code == 302
    assert Resolution.objects.get(item=item).adjudicated_by.username == "lou"

    refused = ada.post(item_url(project, item), {**adas_form, "q-correct": "no"})

    assert refused.status_code == 400
    assert "lena decided “Yes” for correct since this page was opened" in unescape(refused.content.decode())
    assert gold_of(item)["correct"] is True


def test_submitting_unchanged_after_another_lead_decided_the_tie_confirms_nothing_and_names_them(
    lead_client, project, experts
):
    """Lou's page still shows the tie; Lena decides it; Lou submits his page unchanged. Nothing is confirmed (he never
    saw her decision) and the page, shown again with it, says who decided what."""
    [item] = label_outputs(project, answers=TIE, experts=experts)
    lou = _second_lead(project)
    lous_form = as_the_browser_posts(lou.get(item_url(project, item)))
    lead_client.post(item_url(project, item), {**as_the_browser_posts(lead_client.get(item_url(project, item))),
                                               "q-correct": "yes"})  # fmt: skip

    refused = lou.post(item_url(project, item), lous_form)

    assert refused.status_code == 400
    html = unescape(refused.content.decode())
    assert "The gold of correct changed while you had the page open (lena decided “Yes” for correct" in html
    assert "nothing was confirmed" in html
    assert form_as_shown(refused.content.decode(), "adjudicate-form")["q-correct"] == ["yes"]
    assert not AuditEvent.objects.filter(action="gold.confirmed").exists()


def test_a_decision_set_aside_by_a_new_scale_is_shown_on_the_item(lead_client, project, lead, experts, rubric):
    """The lead decided `helpful` 5 under v1; the labels were then edited under v2, which asks it on 1-3. The item's
    page says the earlier decision was set aside and why, rather than showing the gold as if nothing was decided."""
    [item] = label_outputs(project, answers=[{"correct": True, "helpful": 4}, {"correct": True, "helpful": 4}])
    lead_client.post(item_url(project, item), {"q-correct": "yes", "q-helpful": "5"})
    rescaled = publish_rubric(
        project=project,
        questions=[{**q, "scale": [1, 3]} if q["key"] == "helpful" else q for q in rubric.questions],
    )
    for label in Label.objects.filter(item=item).select_related("expert"):
        submit_label(expert=label.expert, item=item, rubric=rescaled, answers={"correct": True, "helpful": 2})
    resolve_item(item_id=item.pk)

    page = unescape(lead_client.get(item_url(project, item)).content.decode())

    assert "Set aside: decided <bdi>5</bdi> under version 1, which asked this question differently" in page


def test_the_case_shows_an_earlier_rubric_versions_answer_on_its_own_scale_and_says_it_does_not_count(
    lead_client, project
):
    """lab0 rated `helpful` 5 on v2's 1-5, lab1 3 on v3's 1-3: the page showed lab0's "5 / 3", an answer v3 cannot
    have. Each answer is shown as its own version asked it, said not to count, and v3's new question "not asked"."""
    item = mixed_item(project, {"correct": True, "helpful": 5}, {"correct": True, "helpful": 3, "cites": True})
    resolve_item(item_id=item.pk)

    response = lead_client.get(item_url(project, item))

    questions = {q["key"]: q for q in response.context["questions"]}
    assert [(a["value"], a["not_counted"]) for a in questions["helpful"]["answers"]] == [
        ("5 / 5", True),
        ("3 / 3", False),
    ]
    assert questions["helpful"]["automatic"] is None  # one answer on v3's scale: no gold to show
    assert [(a["given"], a["not_asked"]) for a in questions["cites"]["answers"]] == [(False, True), (True, False)]
    html = response.content.decode()
    assert "asked otherwise in v2: not counted" in html and "not asked in v2" in html
