"""The lead's screens: queues, rule preview, backfill, rubric versions and experts' progress.

Leads and admins only (everyone else gets a 404), bad input re-renders with a 400 and stores nothing,
list pages run a fixed number of queries.
"""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.test import Client
from django.utils import timezone

from labeling.models import (
    AuditEvent,
    ExpertWeek,
    Flag,
    Item,
    Label,
    Membership,
    OutboxMessage,
    Queue,
    Rubric,
    Skip,
    Slot,
)
from labeling.rules import calendar
from labeling.rules.calendar import current_week
from labeling.services.metrics import refresh_week_metrics
from labeling.services.queues import QueueValues, create_queue, request_backfill
from labeling.services.routing import is_sampled
from labeling.services.rubrics import publish_rubric
from tests.factories import MembershipFactory, OutputFactory, UserFactory
from tests.helpers.concurrency import run_at_once
from tests.helpers.forms import form_as_shown, stale_page_after_another_leads_save
from tests.helpers.rubrics import QUESTIONS
from tests.outbox import enqueued, run_as_worker


def make_queue(project, **overrides) -> Queue:
    return create_queue(project=project, values=QueueValues(**{"slug": "billing", "name": "Billing", **overrides}))


def form_data(**overrides) -> dict:
    """What the queue form posts, filled in as a lead would."""
    data = {
        "name": "Refund complaints",
        "slug": "refund-complaints",
        "description": "Angry customers asking for money back.",
        "tags_any": "refund, billing",
        "tags_all": "",
        "metadata": 'topic=returns|billing\ntier=2\nvip=true\nlocale="en-GB"',
        "models": "gpt-4o, gpt-4o-mini",
        "feedback_scores": ["-1", "0"],
        "has_comment": "yes",
        "sample_rate": "0.5",
        "weekly_quota": "40",
        "overlap": "2",
        "priority": "5",
        "is_active": "on",
    }
    data.update(overrides)
    return {name: value for name, value in data.items() if value is not None}


@pytest.fixture
def lead_client(client, lead):
    client.force_login(lead)
    return client


def urls(project, queue_id):
    base = f"/p/{project.slug}/manage"
    return {
        "list": f"{base}/queues/",
        "create": f"{base}/queues/new",
        "preview": f"{base}/queues/preview",
        "edit": f"{base}/queues/{queue_id}/",
        "backfill": f"{base}/queues/{queue_id}/backfill",
        "rubric": f"{base}/rubric/",
        "experts": f"{base}/experts/",
    }


# Access ---------------------------------------------------------------------------------------------------------


def test_pages_need_a_signed_in_user(client, project):
    queue = make_queue(project)
    for url in urls(project, queue.pk).values():
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login/")


@pytest.mark.parametrize("persona", ["expert", "engineer", "outsider"])
def test_it_validates_ownership(client, project, persona, request, django_capture_on_commit_callbacks):
    """Experts, engineers and outsiders see 404 on every lead page, and their POSTs change nothing."""
    user = request.getfixturevalue(persona)
    queue = make_queue(project)
    publish_rubric(project=project, questions=QUESTIONS)
    client.force_login(user)

    for url in urls(project, queue.pk).values():
        assert client.get(url).status_code in (404, 405), url
    with django_capture_on_commit_callbacks() as callbacks:
        assert client.post(urls(project, queue.pk)["create"], form_data()).status_code == 404
        assert client.post(urls(project, queue.pk)["edit"], form_data(slug="billing")).status_code == 404
        assert client.post(urls(project, queue.pk)["backfill"]).status_code == 404
        assert client.post(urls(project, queue.pk)["rubric"], {"questions": "[]"}).status_code == 404

    assert callbacks == [] and not OutboxMessage.objects.exists()
    assert list(Queue.objects.values_list("slug", "name")) == [("billing", "Billing")]
    assert Rubric.objects.count() == 1
    assert not AuditEvent.objects.filter(action__startswith="queue.").exclude(action="queue.created").exists()


@pytest.mark.parametrize(
    ("persona", "message"),
    [
        ("expert", "Only the project's leads and admins manage its queues."),
        ("engineer", "Only the project's leads and admins manage its queues."),
        ("outsider", "Nothing is at this address"),  # the 404 of any unknown project: a non-member learns nothing
    ],
)
@pytest.mark.parametrize("page", ["", "new"])  # the list, and the editor's page (what it sends: test_role_refusals)
def test_a_refused_queue_page_says_why_to_members_only(client, project, persona, message, page, request):
    client.force_login(request.getfixturevalue(persona))

    response = client.get(f"/p/{project.slug}/manage/queues/{page}")

    assert response.status_code == 404
    html = response.content.decode().replace("&#x27;", "'")
    assert message in html
    assert ("leads" in html) == (persona != "outsider")


def test_it_validates_ownership_of_a_queue_id(lead_client, project, other_project, django_capture_on_commit_callbacks):
    """A lead of this project naming another project's queue, through this project's URLs, gets 404."""
    foreign = make_queue(other_project, slug="theirs", name="Theirs")
    paths = urls(project, foreign.pk)

    assert lead_client.get(paths["edit"]).status_code == 404
    with django_capture_on_commit_callbacks() as callbacks:
        assert lead_client.post(paths["edit"], form_data(slug="theirs", name="Mine now")).status_code == 404
        assert lead_client.post(paths["backfill"]).status_code == 404
    assert lead_client.get(paths["preview"], {"sample_rate": "1", "queue_id": foreign.pk}).status_code == 404
    # …and the other project's own URLs are closed to this lead.
    assert lead_client.get(urls(other_project, foreign.pk)["edit"]).status_code == 404
    assert lead_client.get(urls(other_project, foreign.pk)["list"]).status_code == 404

    assert callbacks == [] and not OutboxMessage.objects.exists()
    foreign.refresh_from_db()
    assert foreign.name == "Theirs"


def test_an_admin_member_may_manage(client, project):
    admin = MembershipFactory(project=project, role="admin", user=UserFactory(username="ada")).user
    client.force_login(admin)
    assert client.get(urls(project, 0)["list"]).status_code == 200


def test_forms_are_protected_against_csrf(project, lead):
    queue = make_queue(project)
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)
    paths = urls(project, queue.pk)

    assert client.post(paths["create"], form_data()).status_code == 403
    assert client.post(paths["edit"], form_data(slug="billing", overlap="3")).status_code == 403
    assert client.post(paths["backfill"]).status_code == 403
    assert client.post(paths["rubric"], {"questions": "- {key: a, kind: text, prompt: A}"}).status_code == 403
    assert Queue.objects.get().overlap == 1
    assert not Rubric.objects.exists()


# Queue list ----------------------------------------------------------------------------------------------------


def test_the_queue_list_shows_settings_and_this_weeks_counts(lead_client, project, expert):
    queue = make_queue(project, rule={"tags_any": ["billing"], "metadata": {"topic": "returns"}}, sample_rate=0.25,
                       weekly_quota=40, overlap=2, priority=5, eligible_expert_ids=(expert.pk,))  # fmt: skip
    make_queue(project, slug="paused", name="Paused queue", is_active=False)
    week = current_week(project)
    for status in ["open", "open", "complete"]:
        Item.objects.create(project=project, queue=queue, output=OutputFactory(project=project), week=week,
                            overlap=2, status=status)  # fmt: skip
    Item.objects.create(project=project, queue=queue, output=OutputFactory(project=project),
                        week=week - timedelta(days=7), overlap=2)  # fmt: skip

    response = lead_client.get(urls(project, queue.pk)["list"])

    assert response.status_code == 200
    row = next(row["queue"] for row in response.context["rows"] if row["queue"].slug == "billing")
    assert (row.placed, row.complete, row.open, row.backlog) == (3, 1, 2, 3)
    html = response.content.decode()
    assert "tags any of billing" in html and "topic = returns" in html
    assert "25%" in html and "erin" in html and "Paused queue" in html and "paused" in html
    assert '<progress max="40" value="3"' in html
    # What was placed is said on screen, not only to a screen reader: items (this week's, of the quota).
    quota = html.split('data-queue="billing"')[1].split('<td class="quota">')[1].split("</td>")[0]
    # The bar repeats it: hidden from a screen reader, which read "3 of 40 items" twice.
    assert "<strong>3</strong> of 40 items" in quota and 'aria-hidden="true"' in quota and "aria-label" not in quota
    assert "<strong>0</strong> items" in html.split('data-queue="paused"')[1].split("</tr>")[0]


def test_the_queue_list_runs_a_fixed_number_of_queries(lead_client, project, expert, other_expert,
                                                        django_assert_num_queries):  # fmt: skip
    def add_queue(index):
        experts = (expert.pk, other_expert.pk)
        queue = make_queue(project, slug=f"q{index}", name=f"Q{index}", eligible_expert_ids=experts)
        output = OutputFactory(project=project)
        Item.objects.create(project=project, queue=queue, output=output, week=current_week(project), overlap=1)

    add_queue(0)
    # session, user, project with membership, queues with counts, their eligible experts, backfills queued, who of
    # the named experts may still label, who may label in a queue that names nobody
    with django_assert_num_queries(8):
        lead_client.get(urls(project, 0)["list"])
    for index in range(1, 6):
        add_queue(index)
    with django_assert_num_queries(8):
        response = lead_client.get(urls(project, 0)["list"])
    assert len(response.context["rows"]) == 6


# Create and edit -----------------------------------------------------------------------------------------------


def test_a_queue_slug_left_blank_is_made_from_the_name_or_generated_for_a_name_without_latin_letters(
    lead_client, project
):
    """The slug was required: a name in Japanese left the lead to invent one (the page's script suggests none)."""
    create = urls(project, 0)["create"]
    latin = lead_client.post(create, form_data(name="Réfund complaints", slug=""))
    first = lead_client.post(create, form_data(name="返金の苦情", slug=""))
    again = lead_client.post(create, form_data(name="返金の苦情", slug=""))  # the form posted twice: the same queue
    other = lead_client.post(create, form_data(name="Жалобы", slug=""))
    refused = lead_client.post(create, form_data(name="???", slug=""))

    assert [response.status_code for response in (latin, first, again, other)] == [302] * 4
    assert list(Queue.objects.order_by("pk").values_list("slug", "name")) == [
        ("refund-complaints", "Réfund complaints"), ("queue-1", "返金の苦情"), ("queue-2", "Жалобы"),
    ]  # fmt: skip
    assert refused.status_code == 400 and "the name has no letters or digits" in refused.content.decode()
    assert "queue-1" in lead_client.get(urls(project, 0)["list"]).content.decode()


def test_two_queues_of_one_name_without_latin_letters_made_moments_apart_get_slugs_of_their_own(lead_client, project):
    """A second "返品" (returns) queue with another rule a minute after the first was refused, "This project has a
    queue with slug 'queue-1' already", over a slug nobody typed; only the same form posted again is the same queue."""
    create = urls(project, 0)["create"]
    refunds = lead_client.post(create, form_data(name="返品", slug="", tags_any="refund"))
    returns = lead_client.post(create, form_data(name="返品", slug="", tags_any="return"))
    again = lead_client.post(create, form_data(name="返品", slug="", tags_any="return"))  # the form posted twice
    reviews = lead_client.post(create, form_data(name="Отзывы", slug="", sample_rate="0.2"))
    other_reviews = lead_client.post(create, form_data(name="Отзывы", slug="", sample_rate="0.3"))

    assert [response.status_code for response in (refunds, returns, again, reviews, other_reviews)] == [302] * 5
    assert list(Queue.objects.order_by("slug").values_list("slug", "name", "rule__tags_any", "sample_rate")) == [
        ("queue-1", "返品", ["refund"], 0.5), ("queue-2", "返品", ["return"], 0.5),
        ("queue-3", "Отзывы", ["refund", "billing"], 0.2), ("queue-4", "Отзывы", ["refund", "billing"], 0.3),
    ]  # fmt: skip


def test_a_lead_creates_a_queue_from_the_form(lead_client, project, lead, expert, other_expert):
    response = lead_client.post(urls(project, 0)["create"], form_data(eligible_experts=[str(expert.pk)]))

    queue = Queue.objects.get()
    assert response.status_code == 302
    assert response.headers["Location"] == urls(project, queue.pk)["edit"]
    assert queue.rule == {
        "tags_any": ["refund", "billing"],
        "metadata": {"topic": ["returns", "billing"], "tier": 2, "vip": True, "locale": "en-GB"},
        "models": ["gpt-4o", "gpt-4o-mini"],
        "feedback_scores": [-1, 0],
        "has_comment": True,
    }
    assert (queue.sample_rate, queue.weekly_quota, queue.overlap, queue.priority) == (0.5, 40, 2, 5)
    assert list(queue.eligible_experts.all()) == [expert]
    assert queue.is_active
    assert AuditEvent.objects.filter(action="queue.created", actor=lead).exists()
    page = lead_client.get(response.headers["Location"])
    assert "Backfill this week's outputs</button>" in page.content.decode()
    assert "backfill it to add this week" in page.content.decode()  # the message after creating


def test_a_lead_asks_for_text_in_the_answer_a_phrase_a_line(lead_client, project):
    text = "refund will arrive\n  Guaranteed BY \n\nrefund will arrive\n"
    response = lead_client.post(urls(project, 0)["create"], form_data(tags_any="", text_any=text))

    assert response.status_code == 302
    queue = Queue.objects.get()
    assert queue.rule["text_any"] == ["refund will arrive", "Guaranteed BY"]
    form = lead_client.get(urls(project, queue.pk)["edit"]).context["form"]
    assert form.initial["text_any"] == "refund will arrive\nGuaranteed BY"
    listing = lead_client.get(urls(project, 0)["list"]).content.decode()
    assert "answer contains “refund will arrive” or “Guaranteed BY”" in unescape(listing)


@pytest.mark.parametrize(
    "text, message",
    [
        ("\n".join(f"phrase {n}" for n in range(21)), "21 phrases; use at most 20."),
        ("x" * 201, "has 201 characters; use at most 200."),
    ],
)
def test_a_bad_text_condition_is_a_400_saying_why(lead_client, project, text, message):
    response = lead_client.post(urls(project, 0)["create"], form_data(text_any=text))

    assert response.status_code == 400
    assert message in response.context["form"].errors["text_any"][0]
    assert message in unescape(response.content.decode())
    assert not Queue.objects.exists()
    preview = lead_client.get(urls(project, 0)["preview"], preview_params(text_any=text))
    assert preview.status_code == 400 and message in unescape(preview.content.decode())


def test_a_metadata_key_given_no_value_is_a_400_saying_so(lead_client, project):
    """`topic=|` (any of no value) was saved as {"topic": []}: a queue that took no output, and no word of it."""
    message = "Invalid queue rule: metadata: give 'topic' at least one value, or leave the key out."

    response = lead_client.post(urls(project, 0)["create"], form_data(metadata="topic=|\ntier=2"))

    assert response.status_code == 400
    assert message in unescape(response.content.decode())
    assert not Queue.objects.exists()
    preview = lead_client.get(urls(project, 0)["preview"], preview_params(metadata="topic= | "))
    assert preview.status_code == 400 and message in unescape(preview.content.decode())


def test_an_empty_rule_and_quota_mean_every_output_and_no_quota(lead_client, project):
    data = form_data(tags_any="", metadata="", models="", feedback_scores=None, has_comment="any", weekly_quota="",
                     is_active=None)  # fmt: skip
    assert lead_client.post(urls(project, 0)["create"], data).status_code == 302
    queue = Queue.objects.get()
    assert (queue.rule, queue.weekly_quota, queue.is_active) == ({}, None, False)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"overlap": "11"}, "overlap"),
        ({"overlap": "0"}, "overlap"),
        ({"sample_rate": "1.5"}, "sample_rate"),
        ({"sample_rate": "lots"}, "sample_rate"),
        ({"weekly_quota": "-3"}, "weekly_quota"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"slug": "billing"}, "slug"),  # taken by the existing queue
        ({"name": ""}, "name"),
        ({"metadata": "topic returns"}, "metadata"),
        ({"metadata": "topic=a\ntopic=b"}, "metadata"),
        ({"feedback_scores": ["2"]}, "feedback_scores"),
        ({"has_comment": "maybe"}, "has_comment"),
    ],
)
def test_bad_input_re_renders_the_form_and_saves_nothing(lead_client, project, overrides, field):
    make_queue(project)

    response = lead_client.post(urls(project, 0)["create"], form_data(**overrides))

    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert 'class="error"' in response.content.decode()
    assert list(Queue.objects.values_list("slug", flat=True)) == ["billing"]
    assert not AuditEvent.objects.filter(action="queue.created").exclude(details__slug="billing").exists()


def test_every_problem_is_reported_at_once(lead_client, project):
    make_queue(project)
    response = lead_client.post(urls(project, 0)["create"], form_data(slug="billing", overlap="11", sample_rate="2"))
    assert response.status_code == 400
    assert {"slug", "overlap", "sample_rate"} <= set(response.context["form"].errors)
    assert "already" in response.context["form"].errors["slug"][0]


def test_an_expert_of_another_project_cannot_be_made_eligible(lead_client, project, expert, outsider):
    response = lead_client.post(
        urls(project, 0)["create"], form_data(eligible_experts=[str(expert.pk), str(outsider.pk)])
    )

    assert response.status_code == 400
    assert "eligible_experts" in response.context["form"].errors
    assert not Queue.objects.exists()


def test_the_edit_form_shows_the_rule_as_typed_and_saves_changes(lead_client, project, lead, expert):
    rule = {"metadata": {"topic": ["returns", "billing"], "build": "42"}, "tags_all": ["a", "b"], "has_comment": False}
    queue = make_queue(project, rule=rule, weekly_quota=10)
    paths = urls(project, queue.pk)

    form = lead_client.get(paths["edit"]).context["form"]
    assert set(form.initial["metadata"].splitlines()) == {"topic=returns|billing", 'build="42"'}
    assert (form.initial["tags_all"], form.initial["has_comment"]) == ("a, b", "no")

    response = lead_client.post(paths["edit"], form_data(slug="billing", name="Billing v2", overlap="3"))

    assert response.status_code == 302
    queue.refresh_from_db()
    assert (queue.name, queue.overlap, queue.slug) == ("Billing v2", 3, "billing")
    assert AuditEvent.objects.filter(action="queue.updated", actor=lead).exists()


def test_a_number_with_an_exponent_is_shown_in_digits_and_saved_back_as_a_number(lead_client, project):
    """Python writes 1e-07 with an exponent, which the metadata field reads back as text: a save as shown turned the
    number into the text "1e-07"."""
    rule = {"metadata": {"score": 1e-07, "tier": 2.0}}
    queue = make_queue(project, rule=rule)
    edit = urls(project, queue.pk)["edit"]

    shown = form_as_shown(lead_client.get(edit).content.decode(), "queue-form")
    assert set(shown["metadata"][0].splitlines()) == {"score=0.0000001", "tier=2.0"}
    assert lead_client.post(edit, {**shown, "name": "Renamed"}).status_code == 302
    queue.refresh_from_db()
    assert (queue.name, queue.rule) == ("Renamed", rule)
    assert [type(value) for value in queue.rule["metadata"].values()] == [float, float]


def test_a_bad_edit_changes_nothing(lead_client, project):
    queue = make_queue(project)
    response = lead_client.post(urls(project, queue.pk)["edit"], form_data(slug="billing", overlap="11"))
    assert response.status_code == 400
    queue.refresh_from_db()
    assert (queue.overlap, queue.name) == (1, "Billing")


def test_a_stale_queue_form_saves_only_the_leads_change_and_keeps_another_leads(lead_client, project, lead):
    """Lead A's page, opened before lead B raised the quota, saved its stale quota back (and the audit log said A
    changed it). The form posts back what it showed: only A's change (the name) is saved, B's quota stays."""
    queue = make_queue(project, weekly_quota=10)
    edit = urls(project, queue.pk)["edit"]
    page_a = stale_page_after_another_leads_save(lead_client, project, edit, "queue-form", {"weekly_quota": "40"})

    response = lead_client.post(edit, {**page_a, "name": "Billing v2"})

    assert response.status_code == 302
    queue.refresh_from_db()
    assert (queue.name, queue.weekly_quota) == ("Billing v2", 40)
    event = AuditEvent.objects.filter(action="queue.updated", actor=lead).get()
    assert event.details["changed"] == ["name"]


def test_a_stale_queue_form_changing_what_another_lead_changed_is_refused_naming_it(lead_client, project, lead):
    """Both leads changed the quota: A's save is a 400 naming the field and its value now, and saves nothing (not
    A's other change either). The page shown again knows B's value: saving it again keeps A's, on purpose."""
    queue = make_queue(project, weekly_quota=10)
    edit = urls(project, queue.pk)["edit"]
    page_a = stale_page_after_another_leads_save(
        lead_client, project, edit, "queue-form", {"weekly_quota": "40", "priority": "3"}
    )

    refused = lead_client.post(edit, {**page_a, "weekly_quota": "25", "name": "Billing v2"})

    assert refused.status_code == 400
    html = refused.content.decode()
    assert "Someone else changed the weekly quota to 40 since this page was opened" in html
    assert "nothing was saved" in html
    queue.refresh_from_db()
    assert (queue.name, queue.weekly_quota, queue.priority) == ("Billing", 40, 3)
    assert not AuditEvent.objects.filter(action="queue.updated", actor=lead).exists()

    again = form_as_shown(html, "queue-form")
    assert again["weekly_quota"] == ["25"] and again["name"] == ["Billing v2"]  # A's values, kept in the form
    assert lead_client.post(edit, again).status_code == 302
    queue.refresh_from_db()
    assert (queue.name, queue.weekly_quota, queue.priority) == ("Billing v2", 25, 3)


# Preview -------------------------------------------------------------------------------------------------------


@pytest.fixture
def week_outputs(project):
    """This week: 6 billing outputs (4 thumbs down), 3 shipping ones; last week: 5 billing ones."""
    now = timezone.now()
    made = [OutputFactory(project=project, tags=["billing"], feedback_score=-1 if i < 4 else 1, occurred_at=now)
            for i in range(6)]  # fmt: skip
    made += OutputFactory.create_batch(3, project=project, tags=["shipping"], occurred_at=now)
    OutputFactory.create_batch(5, project=project, tags=["billing"], occurred_at=now - timedelta(days=8))
    return made


def preview_params(**overrides):
    return {"tags_any": "billing", "tags_all": "", "metadata": "", "models": "", "has_comment": "any",
            "sample_rate": "1", "weekly_quota": "", "queue_id": "0", **overrides}  # fmt: skip


def test_the_previews_counts_group_their_thousands_as_every_page_does():
    """A busy week's preview: "2,081" and "the newest 5,000 outputs", not "2081" and "5000"."""
    from datetime import date
    from types import SimpleNamespace
    from zoneinfo import ZoneInfo

    from django.template.loader import render_to_string

    counts = dict(outputs=12_345, matched=2_081, sampled=1_500, placed=1_000, backfill=1_200, not_in_queue=1_001)
    preview = SimpleNamespace(form=None, estimated=False, quota=1_000, paused=False, new_queue=False, scanned=5_000,
                              examples=[], week=date(2026, 11, 30), conditions=[], **counts)  # fmt: skip
    project = SimpleNamespace(tzinfo=ZoneInfo("UTC"), slug="p")

    html = render_to_string("labeling/lead/_preview.html", {"project": project, "preview": preview})
    estimated = render_to_string(
        "labeling/lead/_preview.html",
        {"project": project, "preview": SimpleNamespace(**{**vars(preview), "estimated": True})},
    )

    for name in ("outputs", "matched", "sampled", "placed", "backfill"):
        assert f'data-count="{name}">{counts[name]:,}</dd>' in html
    assert "1,001 of the matches are not in the queue yet" in html and "room for 1,200." in html
    assert "counted on the newest 5,000 outputs of the week" in estimated


def test_the_preview_counts_this_weeks_matches_and_sample(lead_client, project, week_outputs):
    response = lead_client.get(urls(project, 0)["preview"], preview_params())

    assert response.status_code == 200
    html = response.content.decode()
    assert '<dd data-count="outputs">9</dd>' in html
    assert '<dd data-count="matched">6</dd>' in html
    assert '<dd data-count="sampled">6</dd>' in html
    assert "<html" not in html  # a fragment, for lead.js to put into the page

    data = {**preview_params(weekly_quota="3"), "feedback_scores": ["-1"]}
    down = lead_client.post(urls(project, 0)["preview"], data)
    assert (down.context["preview"]["matched"], down.context["preview"]["placed"]) == (4, 3)


def test_the_previews_examples_say_when_they_occurred_in_the_projects_time_zone(lead_client, project):
    """The fragment the page swaps in on each keystroke shows times as the page does: in the project's zone."""
    type(project).objects.filter(pk=project.pk).update(time_zone="Pacific/Kiritimati")  # UTC+14
    project.refresh_from_db()
    began = calendar.week_start(project, calendar.current_week(project))  # a Monday, 00:00 there
    OutputFactory(project=project, tags=["billing"], occurred_at=began + timedelta(hours=1))

    html = lead_client.get(urls(project, 0)["preview"], preview_params()).content.decode()

    assert "Mon 01:00" in html and "Sun 11:00" not in html


def test_the_preview_samples_as_the_saved_queue_would(lead_client, project, week_outputs):
    queue = make_queue(project, rule={"tags_any": ["billing"]}, sample_rate=0.5)
    expected = sum(is_sampled(queue, output) for output in week_outputs if "billing" in output.tags)

    response = lead_client.get(urls(project, 0)["preview"], preview_params(sample_rate="0.5", queue_id=queue.pk))

    assert response.context["preview"]["matched"] == 6
    assert response.context["preview"]["sampled"] == expected


def test_a_sample_rate_of_zero_previews_as_nothing_sampled(lead_client, project, week_outputs):
    """0 is what a lead types first on the way to 0.25, and what pauses a queue's sampling: the preview says
    nothing is sampled (it was a 500 on PostgreSQL)."""
    response = lead_client.get(urls(project, 0)["preview"], preview_params(sample_rate="0"))

    assert response.status_code == 200
    assert (response.context["preview"]["matched"], response.context["preview"]["sampled"]) == (6, 0)


def test_the_preview_counts_the_answers_holding_a_phrase(lead_client, project, week_outputs):
    OutputFactory(project=project, output="Your REFUND will arrive by 14 March.", occurred_at=timezone.now())
    OutputFactory(project=project, output={"content": "Your refund will arrive soon."}, occurred_at=timezone.now())

    response = lead_client.get(urls(project, 0)["preview"], preview_params(tags_any="", text_any="refund will arrive"))

    assert response.status_code == 200
    assert (response.context["preview"]["outputs"], response.context["preview"]["matched"]) == (11, 2)
    assert "answer contains “refund will arrive”" in unescape(response.content.decode())


def test_the_previews_examples_show_the_phrase_that_matched_marked_and_link_to_the_output(lead_client, project):
    """A long answer holds the phrase near its end: each example's excerpt is taken around it, "…" where it is cut,
    the phrase marked (escaped: an answer is untrusted), and its id links to the output."""
    answer = "Thanks for writing to us about your order. " * 12 + "Your REFUND will arrive by <b>Friday</b>."
    OutputFactory(project=project, external_id="late-1", output=answer, session_id="", occurred_at=timezone.now())
    OutputFactory(project=project, external_id="late-2", output=answer, session_id="s-9", occurred_at=timezone.now())

    response = lead_client.get(urls(project, 0)["preview"], preview_params(tags_any="", text_any="refund will arrive"))

    html = response.content.decode()
    assert html.count("<mark>REFUND will arrive</mark>") == 2
    assert "&lt;b&gt;Friday&lt;/b&gt;" in html and "<b>" not in html
    assert html.count('dir="auto">…') == 2  # cut before the phrase
    # The output itself: alone, or at its turn of its conversation.
    assert f'href="/p/{project.slug}/explore/output?id=late-1"' in html
    assert f'href="/p/{project.slug}/explore/output?id=late-2"' in html
    opened = lead_client.get(f"/p/{project.slug}/explore/output?id=late-2")
    assert opened["Location"].startswith(f"/p/{project.slug}/explore/session?id=s-9")


def test_the_previews_examples_say_whether_the_queue_samples_them(lead_client, project, week_outputs):
    queue = make_queue(project, rule={"tags_any": ["billing"]}, sample_rate=0.5)
    newest = sorted((o for o in week_outputs if "billing" in o.tags), key=lambda o: (o.occurred_at, o.pk))[-5:]

    response = lead_client.get(urls(project, 0)["preview"], preview_params(sample_rate="0.5", queue_id=queue.pk))

    html = response.content.decode()
    shown = dict(re.findall(r'data-output="([^"]+)" data-sampled="(yes|no)"', html))
    assert shown == {o.external_id: "yes" if is_sampled(queue, o) else "no" for o in newest}
    assert html.count("not sampled</span>") == list(shown.values()).count("no")


def test_the_preview_says_how_many_matches_a_backfill_would_place(lead_client, project, lead, week_outputs):
    """This week's sampled matches not in the queue yet, within what the quota leaves: what a backfill places."""
    queue = make_queue(project, rule={"tags_any": ["billing"]}, weekly_quota=5)
    billing = [output for output in week_outputs if "billing" in output.tags]
    from labeling.services.routing import place_in_queue

    place_in_queue(project=project, queue_id=queue.pk, outputs=billing[:2])
    params = preview_params(queue_id=queue.pk, weekly_quota="5")

    response = lead_client.get(urls(project, 0)["preview"], params)

    assert response.context["preview"]["not_in_queue"] == 4
    assert response.context["preview"]["backfill"] == 3  # 2 of the quota's 5 are taken
    assert 'data-count="backfill">3<' in response.content.decode()
    assert "4 of the matches are not in the queue yet" in response.content.decode()

    new_queue = lead_client.get(urls(project, 0)["preview"], preview_params()).context["preview"]
    assert (new_queue["not_in_queue"], new_queue["backfill"]) == (6, 6)


def test_a_paused_queues_preview_offers_no_backfill_and_says_what_one_would_place_once_active(
    lead_client, project, week_outputs
):
    """A paused queue takes nothing: routing passes it by, a backfill asked for is refused, and one queued before the
    pause places none. Its preview said "A backfill would place 6" all the same; it says none, why, and what a
    backfill would place once the queue is active again, on the live preview and the page's Preview button alike."""
    queue = make_queue(project, rule={"tags_any": ["billing"]}, is_active=False)
    missing = "this week's sampled matches not in it yet"

    live = lead_client.get(urls(project, 0)["preview"], preview_params(queue_id=queue.pk))
    button = lead_client.post(
        urls(project, queue.pk)["edit"],
        {**form_data(slug="billing", name="Billing", tags_any="billing", metadata="", models="", feedback_scores=None,
                     has_comment="any", sample_rate="1", weekly_quota="", is_active=None), "preview": "1"},
    )  # fmt: skip

    for response in (live, button):
        html = unescape(response.content.decode())
        assert response.status_code == 200
        assert (response.context["preview"]["not_in_queue"], response.context["preview"]["backfill"]) == (6, 0)
        assert 'data-count="backfill">0<' in html
        assert "This queue is paused: routing puts no output in it, and a backfill places none." in html
        assert f"Made active again and saved, a backfill would place 6 ({missing})." in html
    active = lead_client.get(urls(project, 0)["preview"], preview_params(queue_id=make_queue(project, slug="on").pk))
    assert "paused" not in active.content.decode()


def test_a_bad_rule_previews_as_a_400_fragment(lead_client, project):
    response = lead_client.get(urls(project, 0)["preview"], preview_params(sample_rate="3", metadata="oops"))
    assert response.status_code == 400
    assert "Line 1: write key=value" in response.content.decode()


def test_the_preview_button_without_javascript_re_renders_the_form(lead_client, project, week_outputs):
    data = form_data(name="", tags_any="refund, billing", metadata="", models="", feedback_scores=None,
                     has_comment="any", sample_rate="1")  # fmt: skip
    response = lead_client.post(urls(project, 0)["create"], {**data, "preview": "1"})

    assert response.status_code == 200
    assert response.context["preview"]["matched"] == 6
    assert 'data-count="matched">6<' in response.content.decode()
    assert 'value="refund, billing"' in response.content.decode()  # what the lead typed is kept
    assert not Queue.objects.exists()


@pytest.mark.parametrize("queue", ["new", "saved"])
def test_the_preview_button_without_javascript_answers_a_rule_it_cannot_preview_with_a_400_saying_why(
    lead_client, project, queue
):
    """The no-JS Preview of a rule that cannot be previewed answered 200, as if it were a preview: it is a 400 saying
    what is wrong, as the live preview's fragment is, and saves nothing."""
    saved = make_queue(project, rule={"tags_any": ["billing"]})
    path = urls(project, saved.pk)["edit"] if queue == "saved" else urls(project, 0)["create"]
    data = form_data(slug="billing", name="Billing", metadata="topic= | ", sample_rate="3")

    response = lead_client.post(path, {**data, "preview": "1"})

    html = unescape(response.content.decode())
    assert response.status_code == 400
    assert "The rule cannot be previewed yet:" in html
    assert "Sample rate: Ensure this value is less than or equal to 1." in html
    assert "metadata: give 'topic' at least one value, or leave the key out." in html
    assert list(Queue.objects.values_list("pk", "rule", "sample_rate")) == [(saved.pk, {"tags_any": ["billing"]}, 1.0)]


# Backfill ------------------------------------------------------------------------------------------------------


def test_backfill_places_this_weeks_outputs_after_commit(lead_client, project, lead, week_outputs,
                                                         django_capture_on_commit_callbacks):  # fmt: skip
    queue = make_queue(project, rule={"tags_any": ["billing"]}, weekly_quota=5)

    with django_capture_on_commit_callbacks() as callbacks:
        response = lead_client.post(urls(project, queue.pk)["backfill"])

    assert response.status_code == 302
    assert response.headers["Location"] == urls(project, queue.pk)["list"]
    [message] = enqueued()  # written with the request; its publish is what runs after commit
    assert message.task == "labeling.backfill_queue" and message.args[0] == queue.pk and len(callbacks) == 1
    assert not Item.objects.exists()  # enqueued, not run inline
    listing = lead_client.get(response.headers["Location"]).content.decode()
    assert "Backfill of “Billing” queued: a worker places" in listing
    assert 'data-backfill="queued"' in listing and "backfill queued, waiting for the worker" in listing
    assert 'data-backfill="queued"' in lead_client.get(urls(project, queue.pk)["edit"]).content.decode()

    run_as_worker(message)
    # 6 billing outputs this week, a quota of 5; last week's billing outputs are not touched.
    assert Item.objects.filter(queue=queue).count() == 5
    assert Slot.objects.filter(queue=queue).count() == 5
    assert AuditEvent.objects.filter(action="queue.backfill_requested", actor=lead).exists()
    assert "data-backfill" not in lead_client.get(response.headers["Location"]).content.decode()


@pytest.fixture
def eager_celery():
    """No broker, as in the demo: a task asked for runs in the request that asks for it."""
    from celery import current_app

    import labeling.tasks  # noqa: F401  (registers the tasks the outbox runs by name)

    current_app.conf.task_always_eager = True
    yield
    current_app.conf.task_always_eager = False


@pytest.mark.django_db(transaction=True)
def test_a_backfill_that_ran_at_once_says_how_many_outputs_it_placed(lead_client, project, lead, eager_celery):
    """With no broker (the demo: eager Celery) the backfill runs within the request: the confirmation gives its count,
    and the audit log records what it placed."""
    OutputFactory.create_batch(3, project=project, tags=["billing"], occurred_at=timezone.now())
    queue = make_queue(project, rule={"tags_any": ["billing"]}, weekly_quota=2)

    response = lead_client.post(urls(project, queue.pk)["backfill"], follow=True)

    assert Item.objects.filter(queue=queue).count() == 2
    assert "Backfill of “Billing” done: 2 outputs of this week placed in it" in response.content.decode()
    event = AuditEvent.objects.get(action="queue.backfilled")
    assert (event.details["queue"], event.details["placed"]) == (queue.pk, 2)


def test_a_backfill_a_worker_runs_shows_as_running(lead_client, project, lead):
    queue = make_queue(project)
    request_backfill(queue=queue, since=None, actor=lead)
    OutboxMessage.objects.update(published_at=timezone.now(), started_at=timezone.now())

    assert 'data-backfill="running"' in lead_client.get(urls(project, queue.pk)["list"]).content.decode()


def test_an_inactive_queue_is_not_backfilled(lead_client, project, lead, week_outputs):
    """An inactive queue is on no expert's screen: its page offers no backfill, a stale page's request is refused
    with a message, and one queued before the queue was switched off places nothing when the worker runs it."""
    queue = make_queue(project, rule={"tags_any": ["billing"]})
    request_backfill(queue=queue, since=None, actor=lead)
    [queued] = enqueued()
    Queue.objects.filter(pk=queue.pk).update(is_active=False)

    page = lead_client.get(urls(project, queue.pk)["edit"]).content.decode()
    assert "Backfill this week's outputs</button>" not in page and "Make it active" in page
    response = lead_client.post(urls(project, queue.pk)["backfill"], follow=True)
    assert "“Billing” is inactive" in response.content.decode()
    assert AuditEvent.objects.filter(action="queue.backfill_requested").count() == 1  # the refused one is not

    run_as_worker(queued)
    assert not Item.objects.filter(queue=queue).exists()


def test_backfill_takes_only_post(lead_client, project):
    queue = make_queue(project)
    assert lead_client.get(urls(project, queue.pk)["backfill"]).status_code == 405


# Rubric --------------------------------------------------------------------------------------------------------


@pytest.fixture
def rubric_v1(project, lead):
    return publish_rubric(project=project, questions=QUESTIONS, guidelines="# Be *kind*\n<script>alert(1)</script>",
                          published_by=lead)  # fmt: skip


def test_the_rubric_page_lists_versions_and_renders_guidelines_safely(lead_client, project, rubric_v1):
    response = lead_client.get(urls(project, 0)["rubric"])

    html = response.content.decode()
    assert response.status_code == 200
    assert '<h1 dir="auto">Be <em>kind</em></h1>' in html
    assert "<script>alert(1)</script>" not in html
    assert "- key: correct\n  kind: binary" in response.context["form"].initial["questions"]
    assert "options: [friendly, curt, rude]" in response.context["form"].initial["questions"]


def test_publishing_creates_v2_and_keeps_v1_and_its_labels(lead_client, project, lead, expert, rubric_v1):
    queue = make_queue(project)
    item = Item.objects.create(project=project, queue=queue, output=OutputFactory(project=project),
                               week=current_week(project), overlap=1)  # fmt: skip
    label = Label.objects.create(item=item, expert=expert, rubric=rubric_v1, answers={"correct": True, "tone": "curt"})
    questions = (
        "- key: correct\n  kind: binary\n  prompt: Is it right?\n"
        "- {key: helpful, kind: rating, prompt: Helpful, scale: [1, 5]}\n"
    )

    response = lead_client.post(urls(project, 0)["rubric"], {"questions": questions, "guidelines": "New **rules**"})

    assert response.status_code == 302
    assert list(Rubric.objects.filter(project=project).values_list("version", flat=True)) == [2, 1]
    v2 = Rubric.objects.get(project=project, version=2)
    assert v2.created_by == lead and v2.guidelines == "New **rules**"
    assert [question["key"] for question in v2.questions] == ["correct", "helpful"]
    label.refresh_from_db()
    assert label.rubric == rubric_v1
    page = lead_client.get(response.headers["Location"])
    assert [(r.version, r.label_count) for r in page.context["versions"]] == [(2, 0), (1, 1)]
    assert "Rubric v2 published" in page.content.decode()


def label_answering(project, expert, rubric, answers: dict) -> Label:
    item = Item.objects.create(project=project, queue=make_queue(project), output=OutputFactory(project=project),
                               week=current_week(project), overlap=1)  # fmt: skip
    return Label.objects.create(item=item, expert=expert, rubric=rubric, answers=answers)


def test_publishing_a_question_asked_differently_under_the_same_key_says_its_earlier_answers_stop_counting(
    lead_client, project, rubric_v1, expert
):
    """`helpful` goes from 1-5 to 1-3 and `tone` loses an option under the same keys: the lead is told, on the page
    after publishing, that earlier answers to them no longer count and how to keep them (a new key). A changed prompt
    (`correct`) is not a change of what is asked."""
    label_answering(project, expert, rubric_v1, {"correct": True, "helpful": 4, "tone": "friendly"})
    questions = (
        "- {key: correct, kind: binary, prompt: Is it right}\n"
        "- {key: helpful, kind: rating, prompt: Helpful, scale: [1, 3], required: false}\n"
        "- {key: tone, kind: choice, prompt: Tone, options: [friendly, curt], required: false}\n"
    )

    response = lead_client.post(urls(project, 0)["rubric"], {"questions": questions, "replaces": "1"})

    assert response.status_code == 302
    page = lead_client.get(response.headers["Location"]).content.decode()
    assert "Rubric v2 published" in page
    assert (
        "v2 asks helpful, tone on another scale, options or kind than v1: their earlier answers no longer count "
        "toward them in gold answers and figures. To keep comparing them, ask the new version under a new key."
    ) in unescape(page)


def test_publishing_a_yes_no_question_ahead_of_the_verdict_question_says_the_pass_rate_changes_question(
    lead_client, project, rubric_v1
):
    """The pass rate is the first yes/no question's: a lead who adds `promises` at the top of the list (whose yes is
    the bad answer) is told, after publishing, that the meeting's pass rate and the datasets' verdict now read it;
    the page's help says so before. A yes/no question added below the verdict question changes nothing, and is not
    told."""
    help_text = unescape(lead_client.get(urls(project, 0)["rubric"]).content.decode())
    assert "yes counts as a pass" in help_text and "the first binary question is the verdict" in help_text
    questions = (
        "- {key: promises, kind: binary, prompt: Promises a date}\n- {key: correct, kind: binary, prompt: Right}\n"
    )

    response = lead_client.post(urls(project, 0)["rubric"], {"questions": questions, "replaces": "1"})

    assert response.status_code == 302, re.sub(r"<[^>]+>", "", response.content.decode())[-3000:]
    page = unescape(lead_client.get(response.headers["Location"]).content.decode())
    assert (
        "v2's verdict question (its first yes/no question: the pass rate on the meeting page and the dashboard, and "
        "the datasets' verdict) is promises, no longer correct; a yes to it counts as a pass."
    ) in page
    below = questions + "- {key: polite, kind: binary, prompt: Polite}\n"
    response = lead_client.post(urls(project, 0)["rubric"], {"questions": below, "replaces": "2"})
    assert "v3's verdict question" not in unescape(lead_client.get(response.headers["Location"]).content.decode())


def test_a_lead_reads_an_earlier_rubric_versions_questions_and_guidelines(lead_client, project, rubric_v1):
    """After publishing v2, what v1 asked and said stays readable: each version in the table links to its page
    (`?version=1`), which shows its questions and guidelines and says which is current; an unknown version is a 404
    naming the versions there are."""
    publish_rubric(project=project, questions=[{"key": "ok", "kind": "binary", "prompt": "OK?"}], guidelines="New.")
    page = urls(project, 0)["rubric"]

    current = lead_client.get(page).content.decode()
    older = lead_client.get(page + "?version=1").content.decode()
    unknown = lead_client.get(page + "?version=7")

    assert f'href="{page}?version=1#shown"' in current and "Questions of v2" in current
    shown = older.split('id="shown"')[1].split("</section>")[0]
    assert "Questions of v1 (v2 is current)" in shown and "<em>kind</em>" in shown and "New." not in shown
    assert "key: ok" in lead_client.get(page + "?version=1").context["form"].initial["questions"]  # v3 from v2
    assert unknown.status_code == 404
    assert "No rubric version 7: the versions are 2, 1." in unescape(unknown.content.decode())


def test_json_questions_are_accepted_too(lead_client, project):
    response = lead_client.post(
        urls(project, 0)["rubric"], {"questions": '[{"key": "ok", "kind": "binary", "prompt": "OK?"}]'}
    )
    assert response.status_code == 302
    assert Rubric.objects.get().version == 1


@pytest.mark.parametrize(
    "questions, message",
    [
        ("- key: ok\n  kind: [binary\n", "not valid YAML"),
        ("- key: ok\n  kind: binary\n", "prompt"),
        ("- {key: a, kind: choice, prompt: Pick, options: [one]}", "needs at least two options"),
        ("- {key: a, kind: text, prompt: A}\n- {key: a, kind: text, prompt: B}", "used twice"),
        ("[]", "at least one question"),
        ("just: a mapping", "The questions must be a list"),
    ],
)
def test_bad_questions_are_refused_with_the_reason(lead_client, project, rubric_v1, questions, message):
    response = lead_client.post(urls(project, 0)["rubric"], {"questions": questions, "guidelines": "x"})

    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors["questions"])
    assert Rubric.objects.filter(project=project).count() == 1


def test_the_rubric_page_runs_a_fixed_number_of_queries(lead_client, project, rubric_v1, django_assert_num_queries):
    for _ in range(4):
        publish_rubric(project=project, questions=QUESTIONS)
    # session, user, project with membership, versions with label counts and authors
    with django_assert_num_queries(4):
        lead_client.get(urls(project, 0)["rubric"])


# Experts' progress ---------------------------------------------------------------------------------------------


def test_experts_progress_counts_each_experts_work(lead_client, project, expert, other_expert, other_project):
    rubric = publish_rubric(project=project, questions=QUESTIONS)
    queue = make_queue(project, overlap=2)
    now = timezone.now()

    def item(week=None):
        made = Item.objects.create(project=project, queue=queue, output=OutputFactory(project=project),
                                   week=week or current_week(project), overlap=2)  # fmt: skip
        for number in (1, 2):
            Slot.objects.create(item=made, queue=queue, number=number)
        return made

    for seconds in (30, 50, 400):
        Label.objects.create(item=item(), expert=expert, rubric=rubric, answers={}, seconds_spent=seconds)
    # A label of a month ago is on an item of that month's week (labels this week are those on this week's items).
    month_ago = current_week(project) - timedelta(weeks=4)
    old = Label.objects.create(item=item(month_ago), expert=expert, rubric=rubric, answers={}, seconds_spent=10)
    Label.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=30))
    Skip.objects.create(item=item(), expert=expert)
    Flag.objects.create(item=item(), expert=expert, note="discuss")
    Flag.objects.create(item=item(), expert=expert, note="again")
    # Skips and flags on a month-old week's items sit beside "This week": they count there no more than old labels do.
    Skip.objects.filter(pk=Skip.objects.create(item=item(month_ago), expert=expert).pk).update(
        created_at=now - timedelta(days=30)
    )
    old_flag = Flag.objects.create(item=item(month_ago), expert=expert, note="last month")
    Flag.objects.filter(pk=old_flag.pk).update(created_at=now - timedelta(days=30))
    live, expired = item(), item()
    for leased, expires_at in [(live, now + timedelta(minutes=5)), (expired, now - timedelta(minutes=5))]:
        Slot.objects.filter(item=leased, number=1).update(state="leased", expert=expert, lease_expires_at=expires_at)
    # Work in another project does not count here.
    other_rubric = publish_rubric(project=other_project, questions=QUESTIONS)
    other_queue = make_queue(other_project)
    other_item = Item.objects.create(project=other_project, queue=other_queue, week=current_week(other_project),
                                     overlap=1, output=OutputFactory(project=other_project))  # fmt: skip
    Label.objects.create(item=other_item, expert=expert, rubric=other_rubric, answers={}, seconds_spent=999)

    response = lead_client.get(urls(project, 0)["experts"])

    assert response.status_code == 200
    rows = {row["progress"].user.username: row for row in response.context["rows"]}
    erin = rows["erin"]["progress"]
    assert (erin.labels_this_week, erin.labels_all_time, erin.skips, erin.flags, erin.live_leases) == (3, 4, 1, 2, 1)
    assert erin.median_seconds == 40
    assert rows["erin"]["median"] == "40 s"
    ezra = rows["ezra"]["progress"]
    assert (ezra.labels_all_time, ezra.median_seconds, ezra.live_leases) == (0, None, 0)
    assert set(rows) == {"erin", "ezra", "lena"}  # experts, and the lead, who may label too


def test_experts_progress_counts_skips_and_flags_on_the_weeks_items(lead_client, project, expert):
    """A skip or flag counts in the week of its item, as labels and the stored weekly rows count them: one made this
    week on last week's leftover item is last week's."""
    queue = make_queue(project, overlap=1)
    week = current_week(project)
    last_week = week - timedelta(weeks=1)

    def item(of_week):
        return Item.objects.create(project=project, queue=queue, output=OutputFactory(project=project),
                                   week=of_week, overlap=1)  # fmt: skip

    Skip.objects.create(item=item(last_week), expert=expert)
    Flag.objects.create(item=item(last_week), expert=expert, note="made today, on last week's item")
    Skip.objects.create(item=item(week), expert=expert)
    Flag.objects.create(item=item(week), expert=expert, note="a")
    Flag.objects.create(item=item(week), expert=expert, note="b")

    response = lead_client.get(urls(project, 0)["experts"])

    erin = {row["progress"].user.username: row["progress"] for row in response.context["rows"]}["erin"]
    assert (erin.skips, erin.flags) == (1, 2)
    refresh_week_metrics(project=project, week=last_week)
    stored = ExpertWeek.objects.get(project=project, week=last_week, expert=expert)
    assert (stored.skips, stored.flags) == (1, 1)  # the same item counts in the same week on both


def test_experts_progress_runs_a_fixed_number_of_queries(lead_client, project, expert, django_assert_num_queries):
    rubric = publish_rubric(project=project, questions=QUESTIONS)
    queue = make_queue(project)

    def add_expert(index):
        user = MembershipFactory(project=project, role="expert").user
        output = OutputFactory(project=project)
        item = Item.objects.create(project=project, queue=queue, output=output, week=current_week(project), overlap=1)
        Label.objects.create(item=item, expert=user, rubric=rubric, answers={}, seconds_spent=index)

    add_expert(1)
    # session, user, project with membership, members with their counts, seconds of their labels
    with django_assert_num_queries(5):
        lead_client.get(urls(project, 0)["experts"])
    for index in range(2, 8):
        add_expert(index)
    with django_assert_num_queries(5):
        response = lead_client.get(urls(project, 0)["experts"])
    assert len(response.context["rows"]) == 9


@pytest.mark.postgres
def test_the_preview_runs_a_fixed_number_of_bounded_queries(
    lead_client, project, week_outputs, django_assert_num_queries
):
    from labeling.services.routing import PREVIEW_SCAN_LIMIT

    # session, user, project, the lead's membership, the counts and the examples (both LIMITed)
    with django_assert_num_queries(5) as captured:
        response = lead_client.get(urls(project, 0)["preview"], preview_params())
    assert response.status_code == 200
    counts_sql, examples_sql = (query["sql"] for query in captured.captured_queries[-2:])
    assert f"LIMIT {PREVIEW_SCAN_LIMIT}) subquery" in counts_sql and "LIMIT 5" in examples_sql
    examples = response.context["preview"]["examples"]
    assert len(examples) == 5 and all(example["external_id"] for example in examples)
    assert response.content.decode().count("<li data-output=") == 5


def shown_version(page) -> str:
    """The version the rubric page's form says it edits (posted back with the new one)."""
    return re.search(r'name="replaces" value="(\d+)"', page.content.decode()).group(1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_double_click_on_publish_makes_one_version(project, lead, rubric_v1):
    """Two identical posts at once publish one version (both answer as the first did), not v2 and an identical v3."""
    url = urls(project, 0)["rubric"]
    viewer = Client()
    viewer.force_login(lead)
    form = {
        "questions": "- {key: a, kind: text, prompt: A}",
        "guidelines": "",
        "replaces": shown_version(viewer.get(url)),
    }

    def publish():
        tab = Client()
        tab.force_login(lead)
        return tab.post(url, form)

    results, errors = run_at_once(publish, [(), ()])

    assert errors == []
    assert [response.status_code for response in results] == [302, 302]
    assert list(Rubric.objects.filter(project=project).values_list("version", flat=True)) == [2, 1]
    assert AuditEvent.objects.filter(action="rubric.published").count() == 2  # v1's and v2's


def test_publishing_from_a_page_older_than_the_newest_version_is_refused(lead_client, project, lead, rubric_v1):
    """Another lead published v2 while this page showed v1: publishing it as v3 would drop v2 unseen."""
    url = urls(project, 0)["rubric"]
    replaces = shown_version(lead_client.get(url))
    publish_rubric(project=project, questions=[{"key": "b", "kind": "text", "prompt": "B"}], published_by=lead)

    response = lead_client.post(url, {"questions": "- {key: a, kind: text, prompt: A}", "replaces": replaces})

    assert response.status_code == 400
    assert "v2 was published while you edited v1" in response.content.decode()
    assert list(Rubric.objects.filter(project=project).values_list("version", flat=True)) == [2, 1]


def test_saving_a_queue_keeps_its_removed_expert_unless_the_lead_unticks_them(lead_client, project, lead, expert):
    """Escalations names only Dana, who was removed. A lead raising its quota used to save it naming nobody, which is
    "every expert": the queue opened to all without anyone choosing it. Dana's box is shown, ticked and marked, and
    stays unless the lead unticks it."""
    queue = make_queue(project, eligible_expert_ids=(expert.pk,))
    Membership.objects.filter(project=project, user=expert).delete()
    edit = urls(project, queue.pk)["edit"]
    html = lead_client.get(edit).content.decode()
    assert f"{expert.username} (no longer an expert)" in html

    assert lead_client.post(edit, {**form_as_shown(html, "queue-form"), "weekly_quota": "40"}).status_code == 302
    assert list(queue.eligible_experts.values_list("pk", flat=True)) == [expert.pk]
    assert AuditEvent.objects.filter(action="queue.updated").get().details["changed"] == ["weekly_quota"]

    unticked = {**form_as_shown(lead_client.get(edit).content.decode(), "queue-form")}
    unticked.pop("eligible_experts")
    assert lead_client.post(edit, unticked).status_code == 302
    assert not queue.eligible_experts.exists()  # every expert now, as the lead chose


def test_the_answer_text_placeholder_fits_any_product(lead_client, project):
    html = lead_client.get(f"/p/{project.slug}/manage/queues/new").content.decode()

    assert "refund will arrive" not in html and "guaranteed by" not in html
    assert 'placeholder="as an AI' in html


def test_the_metadata_placeholder_fits_any_template_and_typed_as_shown_is_a_valid_rule(lead_client, project):
    """It read "topic=returns|billing", a support bot's, on every project (a summarizer's, a SQL assistant's...). Its
    example names no product, and copied into the field as shown it saves as the rule it shows."""
    html = lead_client.get(urls(project, 0)["create"]).content.decode()
    placeholder = unescape(re.search(r'<textarea name="metadata"[^>]*placeholder="([^"]*)"', html)[1])

    assert not re.search(r"return|refund|billing|order|ticket|customer", placeholder, re.I)
    response = lead_client.post(urls(project, 0)["create"], form_data(metadata=placeholder))

    assert response.status_code == 302
    assert Queue.objects.get(slug="refund-complaints").rule["metadata"] == {
        "environment": "production",
        "locale": ["en-GB", "fr-FR"],
    }


def test_the_rubric_versions_show_when_they_were_published_in_the_projects_zone(lead_client, project):
    project.time_zone = "Asia/Tokyo"
    project.save(update_fields=["time_zone"])
    rubric = publish_rubric(project=project, questions=QUESTIONS)
    published = timezone.localtime(rubric.created_at, project.tzinfo)

    html = lead_client.get(f"/p/{project.slug}/manage/rubric/").content.decode()

    assert f"{published:%Y-%m-%d %H:%M} JST" in html
    assert "Times in the project's time zone, Asia/Tokyo." in html


def test_publishing_an_option_added_to_a_multi_choice_question_keeps_its_earlier_answers_counting(
    lead_client, project, rubric_v1, expert
):
    """`issues` gains an option: every answer ticked among the options there were still answers it, so the lead is
    not told they stop counting; dropping an option an answer ticked is still a change that loses answers."""
    label_answering(project, expert, rubric_v1, {"correct": True, "issues": ["wrong"]})
    questions = (
        "- {key: correct, kind: binary, prompt: Is it right}\n"
        "- {key: issues, kind: multi_choice, prompt: Problems, options: [wrong, evasive, long, outdated],"
        " required: false}\n"
    )
    response = lead_client.post(urls(project, 0)["rubric"], {"questions": questions, "replaces": "1"})
    page = unescape(lead_client.get(response.headers["Location"]).content.decode())
    assert "Rubric v2 published" in page and "no longer count" not in page

    response = lead_client.post(
        urls(project, 0)["rubric"], {"questions": questions.replace("wrong, ", ""), "replaces": "2"}
    )
    page = unescape(lead_client.get(response.headers["Location"]).content.decode())
    # Only the answers that ticked the dropped option stop counting: the sentence says so, not "their earlier answers".
    assert (
        "v3 no longer offers “wrong” for issues: earlier answers to it that ticked that option no longer count toward "
        "it in gold answers and figures; those that did not still do. To keep comparing them, ask the new version "
        "under a new key."
    ) in page
    assert "their earlier answers no longer count" not in page


def test_publishing_a_version_that_rescales_one_question_and_drops_an_option_of_another_words_each_case(
    lead_client, project, rubric_v1, expert
):
    """`helpful` rescaled loses every earlier answer; `issues` losing two options loses only the answers ticking one."""
    label_answering(project, expert, rubric_v1, {"correct": True, "helpful": 4, "issues": ["wrong"]})
    questions = (
        "- {key: correct, kind: binary, prompt: Is it right}\n"
        "- {key: helpful, kind: rating, prompt: Helpful, scale: [1, 3], required: false}\n"
        "- {key: issues, kind: multi_choice, prompt: Problems, options: [evasive, outdated], required: false}\n"
    )

    response = lead_client.post(urls(project, 0)["rubric"], {"questions": questions, "replaces": "1"})

    page = unescape(lead_client.get(response.headers["Location"]).content.decode())
    assert "v2 asks helpful on another scale, options or kind than v1: their earlier answers no longer count" in page
    assert (
        "v2 no longer offers “wrong”, “long” for issues: earlier answers to it that ticked one of those options no "
        "longer count toward it in gold answers and figures; those that did not still do."
    ) in page


def test_publishing_a_question_asked_differently_warns_only_of_answers_that_exist(
    lead_client, project, rubric_v1, expert
):
    """No label answered `tone`; one answered `helpful`: only `helpful` is named. With no labels at all, no warning."""
    questions = (
        "- {key: correct, kind: binary, prompt: Is it right}\n"
        "- {key: helpful, kind: rating, prompt: Helpful, scale: [1, 3], required: false}\n"
        "- {key: tone, kind: choice, prompt: Tone, options: [friendly, curt], required: false}\n"
    )
    response = lead_client.post(urls(project, 0)["rubric"], {"questions": questions, "replaces": "1"})
    page = unescape(lead_client.get(response.headers["Location"]).content.decode())
    assert "Rubric v2 published" in page and "no longer count" not in page

    label_answering(project, expert, Rubric.objects.get(version=2), {"correct": True, "helpful": 2})
    questions = questions.replace("scale: [1, 3]", "scale: [1, 5]").replace("[friendly, curt]", "[friendly, rude]")
    response = lead_client.post(urls(project, 0)["rubric"], {"questions": questions, "replaces": "2"})
    page = unescape(lead_client.get(response.headers["Location"]).content.decode())
    assert "v3 asks helpful on another scale, options or kind than v2: their earlier answers no longer count" in page


def test_the_second_click_of_a_double_click_still_warns_of_the_answers_its_version_stops_counting(
    lead_client, project, rubric_v1, expert
):
    """The page showed v1; the first click published v2 (rescaling `helpful`), and the browser shows the answer to the
    second click, which gets that v2 back: it warns against v1, the version the lead's form replaced, not against the
    v2 it read as current."""
    label_answering(project, expert, rubric_v1, {"correct": True, "helpful": 4})
    questions = (
        "- {key: correct, kind: binary, prompt: Is it right}\n"
        "- {key: helpful, kind: rating, prompt: Helpful, scale: [1, 3], required: false}\n"
    )
    url = urls(project, 0)["rubric"]
    form = {"questions": questions, "guidelines": "", "replaces": shown_version(lead_client.get(url))}
    lead_client.post(url, form)
    lead_client.get(url)  # the first click's notices, which the browser never shows

    response = lead_client.post(url, form)

    assert response.status_code == 302
    assert list(Rubric.objects.filter(project=project).values_list("version", flat=True)) == [2, 1]
    page = unescape(lead_client.get(response.headers["Location"]).content.decode())
    assert "v2 asks helpful on another scale, options or kind than v1: their earlier answers no longer count" in page


def test_publishing_a_version_without_a_yes_no_question_says_the_pass_rate_has_nothing_to_read(
    lead_client, project, rubric_v1
):
    """v1 asks `correct` (yes/no); v2 only a rating: the pass rate and the datasets' verdict lose their question."""
    questions = "- {key: helpful, kind: rating, prompt: Helpful, scale: [1, 5]}\n"

    response = lead_client.post(urls(project, 0)["rubric"], {"questions": questions, "replaces": "1"})

    assert response.status_code == 302, re.sub(r"<[^>]+>", "", response.content.decode())[-3000:]
    page = unescape(lead_client.get(response.headers["Location"]).content.decode())
    # Worded as the meeting page and the report word a week's version without one (`notices.no_verdict_question`).
    assert "v2 has no pass/fail question any more (a yes/no question): the pass rate on the meeting page" in page
    assert "read correct until now" in page
