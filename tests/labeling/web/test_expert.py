"""The expert's web screens: queues and progress, next item, the labeling screen and its actions."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from labeling.models import (
    Comment,
    Flag,
    Item,
    Label,
    LabelRevision,
    Membership,
    QualityMetric,
    Queue,
    Skip,
    Slot,
    SlotState,
)
from labeling.rules.calendar import week_start
from labeling.selectors import work
from labeling.services import assignment, labels, metrics, resolution
from labeling.services.rubrics import publish_rubric
from labeling.templatetags.expertloop import counted, counted_in_full
from labeling.web.answer_forms import answers_from_post
from tests.factories import MembershipFactory, OutputFactory, ProjectFactory, UserFactory
from tests.helpers.concurrency import waits_for_uncommitted
from tests.helpers.labeling import handed_token, make_items, take
from tests.helpers.rubrics import questions

QUESTIONS = questions(required=("helpful", "tone"))
VALID = {
    "q-correct": "yes",
    "q-helpful": "4",
    "q-tone": "friendly",
    "q-issues": ["evasive", "long"],
    "q-critique": "  Could name the carrier.  ",
    "q-fix": "",
}
STORED = {
    "correct": True,
    "helpful": 4,
    "tone": "friendly",
    "issues": ["evasive", "long"],
    "critique": "Could name the carrier.",
}


@pytest.fixture
def rubric(project):
    """The shared rubric with the rating and the choice required, so a missing answer can be refused."""
    return publish_rubric(project=project, questions=QUESTIONS, guidelines="# How to judge\nBe **fair**.")


@pytest.fixture
def queue(project):
    return Queue.objects.create(project=project, slug="all", name="All answers", weekly_quota=10)


def item_url(item, suffix=""):
    return f"/p/{item.project.slug}/items/{item.pk}/{suffix}"


def next_url(queue):
    return f"/p/{queue.project.slug}/q/{queue.slug}/next"


SWAP = {"HTTP_X_SWAP_SCREEN": "1"}  # what label.js sends with a label or a skip


def snapshot():
    """Everything an expert's actions can change."""
    return (
        sorted(Slot.objects.values_list("pk", "state", "expert_id")),
        sorted(Label.objects.values_list("pk", "answers")),
        Skip.objects.count(),
        Flag.objects.count(),
        Comment.objects.count(),
        LabelRevision.objects.count(),
    )


# --- overview ---------------------------------------------------------------------------------


def test_the_overview_shows_this_weeks_progress_per_eligible_queue(
    client, expert, other_expert, project, clear_of_week_start, other_project, rubric, queue
):
    unlimited = Queue.objects.create(project=project, slug="vip", name="VIP", rule={"tags_any": ["vip"]})
    closed = Queue.objects.create(project=project, slug="closed", name="Closed", rule={"tags_any": ["x"]})
    closed.eligible_experts.add(other_expert)
    Queue.objects.create(project=project, slug="off", name="Switched off", is_active=False)
    Queue.objects.create(project=other_project, slug="theirs", name="Another project's queue")
    make_items(project, 5)  # into `all` only: the other rules need tags
    for _ in range(2):
        item = assignment.next_item(expert=expert, queue=queue)
        labels.submit_label(expert=expert, item=item, rubric=rubric, answers=STORED)
    assignment.next_item(expert=other_expert, queue=queue)  # leased to someone else: not waiting for me
    client.force_login(expert)

    response = client.get(f"/p/{project.slug}/")

    assert response.status_code == 200
    shown = {q.slug: (q.done_this_week, q.my_labels_this_week, q.waiting_for_me) for q in response.context["queues"]}
    assert shown == {"all": (2, 2, 2), "vip": (0, 0, 0)}
    html = response.content.decode()
    assert "All answers" in html and "VIP" in html
    assert "Closed" not in html and "Switched off" not in html and "Another project" not in html
    assert "no quota" in html  # the VIP queue has none
    assert f'<form method="post" action="/p/{project.slug}/q/all/next">' in html  # a POST: it leases
    assert unlimited.weekly_quota is None


def test_the_overview_shows_a_json_output_as_json_like_every_other_page(client, expert, project):
    OutputFactory(project=project, output={"n": [1, 2, 3], "json": 'say "hi"'})  # in jsonb's order of keys
    client.force_login(expert)

    html = client.get(f"/p/{project.slug}/").content.decode()

    shown = '{"n": [1, 2, 3], "json": "say \\"hi\\""}'  # compact JSON, as explore shows it
    assert f'">{escape(shown)}</a></td>' in html  # the row's text, linked to where explore opens the output
    assert "&#x27;json&#x27;" not in html  # not a Python repr


def test_a_queue_open_to_named_experts_is_listed_for_them(client, expert, project, queue):
    queue.eligible_experts.add(expert)
    client.force_login(expert)

    assert [q.slug for q in client.get(f"/p/{project.slug}/").context["queues"]] == ["all"]


def test_staff_without_the_operator_permission_cannot_read_an_overview(client, project):
    client.force_login(UserFactory(username="sam", is_staff=True))
    assert client.get(f"/p/{project.slug}/").status_code == 404


def test_operators_read_an_overview_without_queues_or_items(client, expert, project, rubric, queue):
    operator = UserFactory(username="sam")
    operator.user_permissions.add(Permission.objects.get(codename="operate_all_projects"))
    item = make_items(project, 1)[0]
    assignment.next_item(expert=expert, queue=queue)
    client.force_login(operator)

    response = client.get(f"/p/{project.slug}/")

    assert response.status_code == 200 and list(response.context["queues"]) == []
    assert "You read this project as an operator" in response.content.decode()  # not "your role", they have none
    assert client.get(next_url(queue)).status_code == 404
    assert client.get(item_url(item)).status_code == 404


def test_the_overview_runs_a_fixed_number_of_queries(
    client, expert, other_expert, project, rubric, queue, django_assert_num_queries
):
    make_items(project, 2)
    client.force_login(expert)
    # session, user, project with membership, queues with their counts, latest outputs, saved explore views
    with django_assert_num_queries(6):
        client.get(f"/p/{project.slug}/")

    for index in range(4):
        extra = Queue.objects.create(project=project, slug=f"extra-{index}", name=f"Extra {index}", weekly_quota=3)
        extra.eligible_experts.add(expert, other_expert)
    make_items(project, 12, all_placed=False)  # the weekly quotas leave some of the 12 in no queue
    item = assignment.next_item(expert=expert, queue=queue)
    labels.submit_label(expert=expert, item=item, rubric=rubric, answers=STORED)
    with django_assert_num_queries(6):
        response = client.get(f"/p/{project.slug}/")
    assert len(response.context["queues"]) == 5


# --- next item --------------------------------------------------------------------------------


def test_next_item_leases_an_item_and_redirects_to_it(client, expert, project, rubric, queue):
    items = make_items(project, 2)
    client.force_login(expert)

    item = take(client, queue)

    assert item == items[0]
    assert Slot.objects.get(item=item).state == SlotState.LEASED
    assert Slot.objects.get(item=item).expert == expert
    assert take(client, queue) == item  # asking again resumes the same lease


def test_get_next_leases_nothing_and_offers_a_button_that_posts(client, expert, project, rubric, queue):
    make_items(project, 2)
    client.force_login(expert)

    response = client.get(next_url(queue))

    assert response.status_code == 200
    assert not Slot.objects.exclude(state=SlotState.FREE).exists()  # a prefetch or a crawler takes nothing
    html = response.content.decode()
    assert f'<form method="post" action="{next_url(queue)}">' in html
    assert "Take the next item" in html


def test_get_next_goes_back_to_the_item_the_expert_holds(client, expert, project, rubric, queue):
    make_items(project, 2)
    client.force_login(expert)
    item = take(client, queue)
    lease = Slot.objects.get(item=item, expert=expert)

    response = client.get(next_url(queue))

    assert response.status_code == 302 and response.headers["Location"] == item_url(item)
    assert Slot.objects.get(pk=lease.pk).lease_expires_at == lease.lease_expires_at  # not even extended
    assert Slot.objects.filter(state=SlotState.LEASED).count() == 1


def test_an_empty_queue_says_all_done_with_a_link_back(client, expert, project, queue):
    client.force_login(expert)

    response = client.get(next_url(queue))

    assert response.status_code == 200
    assert b"All done in this queue" in response.content
    assert f'href="/p/{project.slug}/"'.encode() in response.content


PAUSED = "“All answers” is paused: its lead stopped handing out items."


def pause(queue):
    """What a lead's unticking the queue's *Active* box stores."""
    Queue.objects.filter(pk=queue.pk).update(is_active=False)


@pytest.mark.parametrize("method", ["get", "post"])
def test_next_on_a_paused_queue_goes_home_with_a_message_and_leases_nothing(
    client, expert, project, rubric, queue, method
):
    make_items(project, 2)
    pause(queue)
    client.force_login(expert)

    response = getattr(client, method)(next_url(queue), follow=True)

    assert response.redirect_chain[0] == ("/", 302)
    assert response.status_code == 200 and PAUSED in response.content.decode()
    assert not Slot.objects.exclude(state=SlotState.FREE).exists()


def test_next_on_a_paused_queue_goes_back_to_the_item_the_expert_holds(client, expert, project, rubric, queue):
    make_items(project, 2)
    client.force_login(expert)
    item = take(client, queue)
    pause(queue)

    assert client.get(next_url(queue)).headers["Location"] == item_url(item)
    assert take(client, queue) == item
    assert Slot.objects.exclude(state=SlotState.FREE).count() == 1


@pytest.mark.parametrize("swap", [{}, SWAP], ids=["form", "script"])
def test_a_label_on_a_paused_queue_is_saved_and_hands_out_no_other_item(client, expert, project, rubric, queue, swap):
    first, second = make_items(project, 2)
    client.force_login(expert)
    item = take(client, queue)
    pause(queue)
    shown = client.get(item_url(item))
    assert 'id="label-form"' in shown.content.decode()  # the item the expert holds can still be finished

    response = client.post(item_url(item), {**VALID, "rubric_id": rubric.pk}, follow=True, **swap)

    if swap:  # label.js loads home as a page (it does not load the script): the messages wait for that load
        assert (response.status_code, response.headers["X-Screen-Navigate"], response.content) == (204, "/", b"")
        response = client.get("/", follow=True)
    else:
        assert response.redirect_chain[0] == ("/", 302)
    html = response.content.decode()
    assert f"Label saved for item {first.pk}" in html and PAUSED in html
    assert Label.objects.get(item=first, expert=expert).answers == STORED
    assert list(Slot.objects.exclude(state=SlotState.FREE).values_list("item", "state")) == [(first.pk, "done")]


def test_a_skip_on_a_paused_queue_hands_out_no_other_item_nor_hands_it_back(client, expert, project, rubric, queue):
    first, second = make_items(project, 2)
    client.force_login(expert)
    take(client, queue)
    pause(queue)

    skipped = client.post(item_url(first, "skip"), follow=True)
    undone = client.post(item_url(first, "unskip"), follow=True)

    assert skipped.redirect_chain[0] == ("/", 302) and PAUSED in skipped.content.decode()
    assert undone.redirect_chain[0] == ("/", 302) and PAUSED in undone.content.decode()
    assert Skip.objects.filter(item=first, expert=expert).exists()
    assert not Slot.objects.exclude(state=SlotState.FREE).exists()
    assert 'id="undo-skip-form"' not in client.get(item_url(first)).content.decode()


def held_line(html: str) -> str | None:
    """The line that offers the expert an item they still hold in a paused queue, or None."""
    found = re.search(r'<p class="notice held-paused"[^>]*>(.*?)</p>', html, re.S)
    return re.sub(r"\s+", " ", found.group(1)).strip() if found else None


def test_an_item_held_in_a_paused_queue_is_offered_on_the_experts_pages_until_it_is_labeled(
    client, expert, other_expert, project, rubric, queue
):
    """Paused queues are hidden from the expert's pages, but the item they still hold there is theirs to finish: the
    project page and the home page link to it, and once it is labeled the line is gone. Nobody else sees it."""
    make_items(project, 2)
    client.force_login(expert)
    item = take(client, queue)
    pause(queue)
    line = f'You still hold an item in “<bdi>All answers</bdi>” (paused): <a href="{item_url(item)}">finish it</a>'

    assert held_line(client.get(f"/p/{project.slug}/").content.decode()) == line
    MembershipFactory(project=ProjectFactory(slug="faq-bot"), user=expert, role="expert")  # two projects: the home page
    assert held_line(client.get("/").content.decode()) == line
    other = Client()
    other.force_login(other_expert)
    assert held_line(other.get(f"/p/{project.slug}/").content.decode()) is None

    assert client.post(item_url(item), {**VALID, "rubric_id": rubric.pk}).status_code == 302
    assert held_line(client.get(f"/p/{project.slug}/").content.decode()) is None
    assert held_line(client.get("/").content.decode()) is None


# --- the labeling screen ----------------------------------------------------------------------


def test_the_labeling_screen_shows_the_item_and_the_current_rubric(client, expert, project, rubric, queue):
    conversation = [
        {"role": "user", "content": "Where is my order #1042?"},
        {"role": "assistant", "content": "Which email did you order with?"},
        {"role": "user", "content": "ana@example.com"},
    ]
    make_items(
        project, 1, input=conversation, output="It **ships** on Friday.", model="gpt-4o-mini",
        context={"tool": "order_lookup", "status": "packed"}, metadata={"topic": "shipping", "latency_ms": 812},
        feedback_score=-1, feedback_comment="wrong day",
    )  # fmt: skip
    client.force_login(expert)
    item = take(client, queue)

    response = client.get(item_url(item))

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('class="bubble role-user"') == 2 and html.count('class="bubble role-assistant"') == 1
    assert "<strong>ships</strong>" in html
    assert "order_lookup" in html and "latency_ms" in html and "gpt-4o-mini" in html
    assert "thumbs down" in html and "wrong day" in html
    assert '<h3 dir="auto">How to judge</h3>' in html  # guidelines as Markdown, nested under their panel's <h2>
    assert f'name="rubric_id" value="{rubric.pk}"' in html
    for name in ["q-correct", "q-helpful", "q-tone", "q-issues", "q-critique", "q-fix"]:
        assert f'name="{name}"' in html
    assert html.count('type="radio" name="q-helpful"') == 5
    assert html.count('type="checkbox" name="q-issues"') == 3
    # The correction starts from the AI answer.
    assert re.search(r'<textarea name="q-fix"[^>]*>It \*\*ships\*\* on Friday\.</textarea>', html)
    assert 'src="/static/labeling/label.js"' in html


def test_a_second_label_of_the_same_item_says_it_replaced_the_first(client, expert, project, rubric, queue):
    first, _ = make_items(project, 2)
    client.force_login(expert)
    item = take(client, queue)
    client.post(item_url(item), {**VALID, "rubric_id": rubric.pk}, follow=True)  # from one tab

    # From a second tab still showing the item: the expert's label changes, and the message says so.
    response = client.post(item_url(item), {**VALID, "q-correct": "no", "rubric_id": rubric.pk}, follow=True)

    html = response.content.decode()
    assert f"Label changed for item {item.pk}: it replaces the one you gave before." in html
    assert f"Label saved for item {item.pk}" not in html
    assert Label.objects.get(item=item, expert=expert).answers["correct"] is False


def test_a_label_is_stored_and_the_expert_moves_to_the_next_item(client, expert, project, rubric, queue):
    first, second = make_items(project, 2)
    client.force_login(expert)
    item = take(client, queue)

    response = client.post(item_url(item), {**VALID, "rubric_id": rubric.pk})

    # Straight to the next item's page, leased in the same request.
    assert response.status_code == 302
    assert (item, response.headers["Location"]) == (first, item_url(second))
    label = Label.objects.get(item=item, expert=expert)
    assert label.answers == STORED and label.rubric == rubric
    assert Item.objects.get(pk=item.pk).status == "complete"
    assert Slot.objects.get(item=second).expert == expert and Slot.objects.get(item=second).state == SlotState.LEASED
    following = client.get(response.headers["Location"])
    assert f"Label saved for item {item.pk}" in following.content.decode()


def test_asked_by_the_script_a_label_answers_with_the_next_items_screen_itself(client, expert, project, rubric, queue):
    first, second = make_items(project, 2)
    client.force_login(expert)
    item = take(client, queue)

    response = client.post(item_url(item), {**VALID, "rubric_id": rubric.pk}, **SWAP)

    assert response.status_code == 200
    assert response.headers["X-Screen-Location"] == item_url(second)
    assert "no-store" in response.headers["Cache-Control"]
    html = response.content.decode()
    assert f'data-item-id="{second.pk}"' in html and f"Label saved for item {first.pk}" in html
    assert Label.objects.get(item=first, expert=expert).answers == STORED
    assert Slot.objects.get(item=second).expert == expert and Slot.objects.get(item=second).state == SlotState.LEASED
    # The message was shown on the swapped screen: a later page does not repeat it.
    assert "Label saved" not in client.get(item_url(second)).content.decode()


def test_asked_by_the_script_the_last_label_or_a_skip_answers_with_all_done(client, expert, project, rubric, queue):
    make_items(project, 2)
    client.force_login(expert)
    first = take(client, queue)
    labeled = client.post(item_url(first), {**VALID, "rubric_id": rubric.pk}, **SWAP)
    second = Slot.objects.get(expert=expert, state=SlotState.LEASED).item

    response = client.post(item_url(second, "skip"), {"handed": handed_token(labeled.content.decode())}, **SWAP)

    assert labeled.headers["X-Screen-Location"] == item_url(second)
    assert response.status_code == 200
    assert response.headers["X-Screen-Location"] == next_url(queue)
    assert b"All done in this queue" in response.content
    assert Skip.objects.filter(item=second, expert=expert).exists()


def test_asked_by_the_script_bad_answers_answer_the_same_screen_with_errors(client, expert, project, rubric, queue):
    make_items(project, 2)
    client.force_login(expert)
    item = take(client, queue)
    before = snapshot()

    response = client.post(item_url(item), {"rubric_id": rubric.pk, "q-helpful": "4"}, **SWAP)

    assert response.status_code == 400
    assert response.headers["X-Screen-Location"] == item_url(item)
    assert "nothing was saved" in response.content.decode()
    assert snapshot() == before


def test_a_swapped_label_runs_the_queries_of_a_label_and_of_the_next_screen_in_one_request(
    client, expert, project, rubric, queue, django_assert_num_queries
):
    first, second, _ = make_items(project, 3)
    client.force_login(expert)
    take(client, queue)
    url, following = item_url(first), item_url(second)
    # The label and the lease of test_next_item_and_submit_run_a_fixed_number_of_queries (4 + 7 + 4), then the
    # next item's screen without a request of its own: the item with access and the current rubric version's id,
    # its comments, the queue's week. The version itself is the one the label's rubric_id named: read once per process.
    with django_assert_num_queries(4 + 7 + 4 + 3):
        response = client.post(url, {**VALID, "rubric_id": rubric.pk}, **SWAP)
    assert response.headers["X-Screen-Location"] == following


def test_the_week_line_counts_the_item_shown_among_those_waiting_only_while_the_expert_holds_it(
    client, expert, project, clear_of_week_start, rubric, queue
):
    first, _ = make_items(project, 2)
    client.force_login(expert)
    take(client, queue)
    client.post(item_url(first), {**VALID, "rubric_id": rubric.pk})  # and the second is leased

    held = client.get(next_url(queue), follow=True).content.decode()
    back = client.get(item_url(first)).content.decode()  # labeled, no longer waiting

    line = re.compile(r'<p class="item-progress" id="item-progress"( data-last-waiting)?>(.*?)</p>', re.S)
    assert [re.sub(r"<[^>]+>", "", part).strip() for part in line.search(held).groups("")] == [
        "data-last-waiting",
        "This week you gave 1 label here · 1 waiting for you, this one included · items complete: 1 of 2 placed · "
        "quota 10",
    ]
    assert re.sub(r"<[^>]+>", "", line.search(back).group(2)).startswith("This week you gave 1 label here · 1 waiting")
    assert "this one included" not in line.search(back).group(2) and line.search(back).group(1) is None


def test_the_week_line_counts_waiting_items_up_to_a_hundred(client, expert, project, clear_of_week_start, queue):
    """The line is on every item screen (every label): counting every waiting item grew with the queue (283 ms at
    100,000). Past a hundred it says "100+", on the item screen and the project page alike."""
    queue.weekly_quota = None
    queue.save(update_fields=["weekly_quota"])
    make_items(project, 102)
    client.force_login(expert)
    take(client, queue)

    item_html = client.get(next_url(queue), follow=True).content.decode()
    project_html = client.get(f"/p/{project.slug}/").content.decode()

    assert "<strong>100+</strong> waiting for you, this one included · items complete: <strong>0</strong> of 102" in (
        item_html
    )
    assert re.search(r'<dd class="stat-waiting"><strong>100\+</strong>\s*</dd>', project_html)


def test_a_label_saved_before_the_week_began_on_an_item_dated_in_it_counts_this_week(
    expert, project, clear_of_week_start, rubric, queue, this_week
):
    """Ingest takes outputs dated up to a day ahead, so an item of this week can be labeled on the last evening of
    the one before: the count of the expert's labels, bounded by when they were saved, still finds it."""
    [item] = make_items(project, 1)
    Item.objects.filter(pk=item.pk).update(week=this_week)
    Label.objects.create(item=item, expert=expert, rubric=rubric, answers={})
    saved = week_start(project, this_week) - timedelta(seconds=settings.INGEST_MAX_FUTURE_SECONDS) + timedelta(hours=1)
    Label.objects.filter(item=item).update(created_at=saved)

    assert work.queue_week_for_labeler(expert, queue).my_labels_this_week == 1


def test_the_last_label_of_a_queue_leads_to_all_done(client, expert, project, rubric, queue):
    make_items(project, 1)
    client.force_login(expert)
    item = take(client, queue)

    response = client.post(item_url(item), {**VALID, "rubric_id": rubric.pk}, follow=True)

    assert response.redirect_chain == [(next_url(queue), 302)]
    assert b"All done in this queue" in response.content
    assert f"Label saved for item {item.pk}" in response.content.decode()


def test_a_submit_resumes_the_experts_other_lease_in_the_queue(client, expert, project, rubric, queue):
    first, second, _ = make_items(project, 3)
    client.force_login(expert)
    assert take(client, queue) == first
    assignment.release_lease(expert=expert, item=first)
    assert take(client, queue) == first  # taken again: the lease is the expert's
    assignment.next_item(expert=expert, queue=queue)  # nothing new: resumes `first`
    Slot.objects.filter(item=second).update(state=SlotState.LEASED, expert=expert, leased_at=timezone.now(),
                                            lease_expires_at=timezone.now() + timedelta(minutes=5))  # fmt: skip

    response = client.post(item_url(first), {**VALID, "rubric_id": rubric.pk})

    assert response.headers["Location"] == item_url(second)  # their other lease, not a third item


def test_editing_a_label_shows_its_answers_and_keeps_the_old_ones(client, expert, project, rubric, queue):
    make_items(project, 1)
    client.force_login(expert)
    item = take(client, queue)
    client.post(item_url(item), {**VALID, "rubric_id": rubric.pk})

    html = client.get(item_url(item)).content.decode()
    assert 'value="4" checked' in html and 'value="friendly" checked' in html and 'value="yes" checked' in html
    response = client.post(item_url(item), {**VALID, "q-correct": "no", "rubric_id": rubric.pk})

    assert response.status_code == 302
    assert Label.objects.get(item=item).answers["correct"] is False
    assert LabelRevision.objects.get().answers["correct"] is True


def test_a_label_sent_from_a_screen_of_the_version_before_a_publish_is_saved_against_that_version(
    client, expert, project, rubric, queue
):
    """A lead publishes while the expert holds an item: the item stays theirs, and the label sent from the screen
    they were shown is validated against and saved with the version that screen asked; the next screen asks the new
    one."""
    make_items(project, 2)
    client.force_login(expert)
    item = take(client, queue)
    v2 = publish_rubric(project=project, questions=[{"key": "ok", "kind": "binary", "prompt": "OK?"}])

    response = client.post(item_url(item), {**VALID, "rubric_id": rubric.pk})

    assert response.status_code == 302
    label = Label.objects.get(item=item)
    assert (label.rubric, label.answers) == (rubric, STORED)
    following = client.get(response.headers["Location"]).content.decode()
    assert f'name="rubric_id" value="{v2.pk}"' in following and 'name="q-ok"' in following


def test_editing_a_label_after_its_rating_got_another_scale_does_not_show_the_old_rating_as_an_answer(
    client, expert, project, rubric, queue
):
    """The expert gave `helpful` 3 of five; then a lead asked it out of three under the same key. Back on the item,
    the form must not show 3 of three checked (sent again, it would become that answer unseen); answers whose
    question did not change stay checked."""
    make_items(project, 1)
    client.force_login(expert)
    item = take(client, queue)
    client.post(item_url(item), {**VALID, "q-helpful": "3", "rubric_id": rubric.pk})
    rescaled = [{**question, "scale": [1, 3]} if question["key"] == "helpful" else question for question in QUESTIONS]
    publish_rubric(project=project, questions=rescaled)

    html = client.get(item_url(item)).content.decode()

    helpful = re.search(r'id="question-helpful".*?</fieldset>', html, re.S).group(0)
    assert "checked" not in helpful
    assert 'value="friendly" checked' in html and 'value="yes" checked' in html


def test_a_correction_left_as_prefilled_is_no_correction(client, expert, project, rubric, queue):
    make_items(project, 2, output="Line one.\nLine two.")
    client.force_login(expert)
    first = take(client, queue)
    client.post(item_url(first), {**VALID, "q-fix": "Line one.\r\nLine two.\r\n", "rubric_id": rubric.pk})
    second = take(client, queue)
    client.post(item_url(second), {**VALID, "q-fix": "Line one.\r\nLine 2.", "rubric_id": rubric.pk})

    assert "fix" not in Label.objects.get(item=first).answers
    assert Label.objects.get(item=second).answers["fix"] == "Line one.\nLine 2."


def test_an_optional_multi_choice_left_unticked_answers_none_of_its_options(
    client, expert, other_expert, project, rubric
):
    """`issues` is optional: an expert who ticks none of its options says none applies, which is an answer. So an
    option one of two experts ticked is chosen by exactly half (a tie, as the gold rule says), and the week's share
    of items with an option counts the items whose experts ticked none."""
    queue = Queue.objects.create(project=project, slug="pairs", name="Pairs", overlap=2)
    items = make_items(project, 3)
    ticked = {expert: [["evasive"], [], ["evasive"]], other_expert: [["evasive"], [], []]}
    for person, choices in ticked.items():
        client.force_login(person)
        for item, issues in zip(items, choices, strict=True):
            assert take(client, queue) == item
            data = {**VALID, "q-issues": issues, "rubric_id": rubric.pk}
            assert client.post(item_url(item), {k: v for k, v in data.items() if v != []}).status_code == 302

    assert Label.objects.get(item=items[1], expert=expert).answers["issues"] == []
    gold = [resolution.resolve_item(item_id=item.pk).automatic["issues"] for item in items]
    assert [(entry["value"], entry["method"]) for entry in gold] == [
        (["evasive"], "unanimous"),
        ([], "unanimous"),
        (None, "tie"),
    ]
    metrics.refresh_week_metrics(project=project, week=items[0].week)
    issues = QualityMetric.objects.get(project=project, queue=queue, question="issues")
    assert (issues.n, issues.shares["evasive"]) == (2, {"count": 1, "share": 0.5})


@pytest.mark.parametrize(
    "change, key, message",
    [
        ({"q-helpful": "abc"}, "helpful", "Give a whole number from 1 to 5."),
        ({"q-helpful": "3.5"}, "helpful", "Give a whole number from 1 to 5."),
        ({"q-helpful": "9"}, "helpful", "Give a rating from 1 to 5."),
        ({"q-helpful": "0"}, "helpful", "Give a rating from 1 to 5."),
        ({"q-correct": "maybe"}, "correct", "Answer yes or no."),
        ({"q-tone": "sarcastic"}, "tone", "Pick one of the listed options."),
        ({"q-issues": ["evasive", "made_up"]}, "issues", "Unknown option: made_up."),
        ({"q-issues": ["evasive", "evasive"]}, "issues", "An option is picked twice."),
        ({"q-critique": "nul\x00byte"}, "critique", "Text may not contain NUL characters."),
        ({"q-correct": ""}, "correct", "This question needs an answer."),
        ({"q-tone": None}, "tone", "This question needs an answer."),
    ],
    ids=[
        "rating-abc",
        "rating-fraction",
        "rating-high",
        "rating-low",
        "binary-maybe",
        "unknown-choice",
        "unknown-multi",
        "multi-twice",
        "nul-text",
        "binary-empty",
        "choice-missing",
    ],  # fmt: skip
)
def test_bad_answers_rerender_the_form_with_errors_and_store_nothing(
    client, expert, project, rubric, queue, change, key, message
):
    make_items(project, 1)
    client.force_login(expert)
    item = take(client, queue)
    before = snapshot()
    data = {**VALID, **change, "rubric_id": rubric.pk}
    data = {name: value for name, value in data.items() if value is not None}

    response = client.post(item_url(item), data)

    assert response.status_code == 400
    html = response.content.decode()
    fieldset = re.search(rf'<fieldset class="question has-error" id="question-{key}".*?</fieldset>', html, re.S)
    assert fieldset, f"no error shown on {key}"
    assert message in fieldset.group(0).replace("&#x27;", "'")
    assert "nothing was saved" in html
    assert snapshot() == before
    if key != "tone":
        assert 'value="friendly" checked' in html  # what the expert did answer is kept


def test_answers_from_post_converts_without_judging():
    from django.http import QueryDict

    data = QueryDict(mutable=True)
    data.update({"q-correct": "no", "q-helpful": " 3 ", "q-tone": "rude", "q-critique": "a\r\nb"})
    data.setlist("q-issues", ["long", ""])

    assert answers_from_post(QUESTIONS, data) == {
        "correct": False, "helpful": 3, "tone": "rude", "issues": ["long"], "critique": "a\nb",
    }  # fmt: skip
    data["q-helpful"] = "lots"
    assert answers_from_post(QUESTIONS, data)["helpful"] == "lots"  # left for the validator to refuse


# --- ownership and blind labeling -------------------------------------------------------------


@pytest.fixture
def foreign(outsider, other_project):
    """An item of another project, with its queue and rubric, leased to that project's expert."""
    other_queue = Queue.objects.create(project=other_project, slug="theirs", name="Theirs")
    other_rubric = publish_rubric(project=other_project, questions=QUESTIONS)
    make_items(other_project, 1)
    item = assignment.next_item(expert=outsider, queue=other_queue)
    return item, other_queue, other_rubric


@pytest.mark.parametrize(
    "method, suffix, data",
    [
        ("get", "", {}),
        ("post", "", {**VALID}),
        ("post", "skip", {"reason": "x"}),
        ("post", "flag", {"note": "look"}),
        ("post", "comment", {"body": "hi"}),
    ],
)
def test_another_projects_item_is_not_found_and_unchanged(
    client, expert, project, rubric, foreign, method, suffix, data
):
    item, _, other_rubric = foreign
    client.force_login(expert)
    before = snapshot()

    for slug in [project.slug, item.project.slug]:
        url = f"/p/{slug}/items/{item.pk}/{suffix}"
        response = getattr(client, method)(url, {**data, "rubric_id": other_rubric.pk} if method == "post" else {})
        assert response.status_code == 404, url

    assert snapshot() == before


def test_another_projects_queue_is_not_found(client, expert, project, rubric, foreign):
    _, other_queue, _ = foreign
    client.force_login(expert)
    before = snapshot()

    assert client.get(f"/p/{project.slug}/q/{other_queue.slug}/next").status_code == 404
    assert client.get(f"/p/{other_queue.project.slug}/q/{other_queue.slug}/next").status_code == 404
    assert snapshot() == before


def test_another_projects_rubric_version_is_not_found(client, expert, project, rubric, queue, foreign):
    _, _, other_rubric = foreign
    make_items(project, 1)
    client.force_login(expert)
    item = take(client, queue)
    before = snapshot()

    for rubric_id in [other_rubric.pk, "nope", "", "99999999"]:
        assert client.post(item_url(item), {**VALID, "rubric_id": rubric_id}).status_code == 404

    assert snapshot() == before


def test_a_removed_member_is_refused_on_the_next_request(client, expert, project, rubric, queue):
    make_items(project, 2)
    client.force_login(expert)
    item = take(client, queue)
    token = handed_token(client.get(item_url(item)).content.decode())

    Membership.objects.filter(user=expert, project=project).delete()
    before = snapshot()

    assert client.get(f"/p/{project.slug}/").status_code == 404
    assert client.get(next_url(queue)).status_code == 404
    assert client.get(item_url(item)).status_code == 404
    assert client.post(item_url(item), {**VALID, "rubric_id": rubric.pk, "handed": token}).status_code == 404
    for suffix, data in [("skip", {}), ("flag", {"note": "x"}), ("comment", {"body": "x"})]:
        assert client.post(item_url(item, suffix), {**data, "handed": token}).status_code == 404
    assert snapshot() == before


def test_an_item_the_expert_does_not_hold_is_not_found(client, expert, other_expert, project, rubric, queue):
    make_items(project, 2)
    theirs = assignment.next_item(expert=other_expert, queue=queue)
    free = Item.objects.exclude(pk=theirs.pk).get()
    client.force_login(expert)
    before = snapshot()

    for item in [theirs, free]:
        assert client.get(item_url(item)).status_code == 404
        assert client.post(item_url(item), {**VALID, "rubric_id": rubric.pk}).status_code == 404
        assert client.post(item_url(item, "skip")).status_code == 404
        assert client.post(item_url(item, "flag"), {"note": "x"}).status_code == 404
        assert client.post(item_url(item, "comment"), {"body": "x"}).status_code == 404
    assert snapshot() == before


def test_an_expert_never_sees_another_experts_label(client, expert, other_expert, project, rubric, queue):
    queue.overlap = 2
    queue.save()
    make_items(project, 1)
    item = assignment.next_item(expert=other_expert, queue=queue)
    secret = {**STORED, "tone": "rude", "critique": "OTHER-EXPERTS-CRITIQUE", "fix": "OTHER-EXPERTS-FIX"}
    labels.submit_label(expert=other_expert, item=item, rubric=rubric, answers=secret)
    client.force_login(expert)

    assert take(client, queue) == item
    html = client.get(item_url(item)).content.decode()

    assert "OTHER-EXPERTS" not in html
    assert " checked" not in html  # nothing of theirs prefilled
    assert 'class="badge good">labeled' not in html


def test_a_lost_lease_says_so_and_stores_nothing(client, settings, expert, other_expert, project, rubric, queue):
    """The expert reads why in plain words, with the real lease length: no "lease", no "label slot(s)"."""
    settings.LEASE_SECONDS = 120
    make_items(project, 1)
    client.force_login(expert)
    item = take(client, queue)
    token = handed_token(client.get(item_url(item)).content.decode())
    Slot.objects.filter(item=item).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert assignment.next_item(expert=other_expert, queue=queue) == item  # the ran-out lease went to them
    before = snapshot()

    response = client.post(item_url(item), {**VALID, "rubric_id": rubric.pk, "handed": token})

    assert response.status_code == 409
    assert (
        "You had this item open longer than 2 minutes without saving, so it went to another expert. "
        "Your answers were not saved."
    ) in response.content.decode()
    assert "label slot" not in response.content.decode()
    assert snapshot() == before
    # Without the page's token the item is simply not the expert's.
    assert client.post(item_url(item), {**VALID, "rubric_id": rubric.pk}).status_code == 404


def test_a_lost_lease_falls_back_to_a_spare_slot(client, expert, other_expert, project, rubric, queue):
    queue.overlap = 2
    queue.save()
    make_items(project, 1)
    client.force_login(expert)
    item = take(client, queue)
    token = handed_token(client.get(item_url(item)).content.decode())
    Slot.objects.filter(item=item, expert=expert).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assignment.next_item(expert=other_expert, queue=queue)  # takes the ran-out slot, the other stays free

    response = client.post(item_url(item), {**VALID, "rubric_id": rubric.pk, "handed": token})

    assert response.status_code == 302
    assert Label.objects.filter(item=item, expert=expert).exists()


def test_a_label_saved_in_a_spare_slot_counts_the_time_since_the_item_was_shown(
    client, monkeypatch, expert, other_expert, project, rubric, queue
):
    """Twenty minutes on an item, the lease ran out and went to another expert: the label still took twenty
    minutes, not 0 s, in every median time per label."""
    queue.overlap = 2
    queue.save()
    make_items(project, 1)
    client.force_login(expert)
    item = take(client, queue)
    twenty_minutes_ago = timezone.now() - timedelta(minutes=20)
    with monkeypatch.context() as frozen:
        frozen.setattr("django.utils.timezone.now", lambda: twenty_minutes_ago)  # the screen is shown then
        token = handed_token(client.get(item_url(item)).content.decode())
    Slot.objects.filter(item=item, expert=expert).update(lease_expires_at=timezone.now() - timedelta(minutes=5))
    assignment.next_item(expert=other_expert, queue=queue)

    client.post(item_url(item), {**VALID, "rubric_id": rubric.pk, "handed": token})

    assert 20 * 60 <= Label.objects.get(item=item, expert=expert).seconds_spent < 21 * 60


def test_posts_need_a_csrf_token(expert, project, rubric, queue):
    make_items(project, 1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(expert)
    assert client.post(next_url(queue)).status_code == 403  # taking a slot is a state change too
    assert not Slot.objects.exclude(state=SlotState.FREE).exists()
    item = assignment.next_item(expert=expert, queue=queue)

    for suffix, data in [("", {**VALID, "rubric_id": rubric.pk}), ("skip", {}), ("flag", {"note": "x"})]:
        assert client.post(item_url(item, suffix), data).status_code == 403
    assert not Label.objects.exists() and not Skip.objects.exists() and not Flag.objects.exists()


def test_a_form_posted_with_a_token_renewed_since_says_the_page_was_out_of_date(expert, project, rubric, queue):
    [item] = make_items(project, 1)
    assignment.next_item(expert=expert, queue=queue)
    client = Client(enforce_csrf_checks=True)
    client.force_login(expert)
    client.get(item_url(item))  # sets the token cookie; a sign-in in another tab since would have renewed it
    stale_token = "a" * 64

    response = client.post(item_url(item), {**VALID, "rubric_id": rubric.pk, "csrfmiddlewaretoken": stale_token})

    assert response.status_code == 403
    assert response["X-Form-Stale"] == "1"  # label.js keeps the screen and its answers on this
    assert "This page was out of date" in response.content.decode() and "nothing was saved" in response.content.decode()
    assert not Label.objects.exists()


def test_a_form_refused_for_another_reason_than_a_renewed_token_says_that_reason(expert, project, rubric, queue):
    """Only a token that no longer matches is "out of date" (label.js keeps the answers for a reload): a browser that
    sends no cookie is told to allow cookies, which no reload would fix."""
    [item] = make_items(project, 1)
    assignment.next_item(expert=expert, queue=queue)
    client = Client(enforce_csrf_checks=True)
    client.force_login(expert)

    response = client.post(item_url(item), {**VALID, "rubric_id": rubric.pk, "csrfmiddlewaretoken": "a" * 64})

    assert response.status_code == 403 and "X-Form-Stale" not in response
    assert "allow cookies for this site" in response.content.decode() and not Label.objects.exists()


# --- skip, flag, comment ----------------------------------------------------------------------


def test_a_skipped_item_is_never_offered_again(client, expert, project, rubric, queue):
    first, second = make_items(project, 2)
    client.force_login(expert)
    assert take(client, queue) == first

    response = client.post(item_url(first, "skip"), {"reason": "  not my area  "})

    # Straight to the next item, leased in the same request.
    assert response.status_code == 302 and response.headers["Location"] == item_url(second)
    assert Skip.objects.get(item=first, expert=expert).reason == "not my area"
    assert Slot.objects.get(item=first).state == SlotState.FREE
    assert take(client, queue) == second
    assert client.post(item_url(second, "skip")).headers["Location"] == next_url(queue)
    assert b"All done in this queue" in client.get(next_url(queue)).content


def test_skipping_an_item_one_labeled_keeps_the_label_and_records_no_skip(
    client, lead, expert, project, clear_of_week_start, rubric, queue
):
    """`s` on the screen of an item labeled a moment ago (Back, or a second tab still showing it) goes on to the next
    item: the label stays and counts, and no skip is added to the expert's figures."""
    first, second = make_items(project, 2)
    client.force_login(expert)
    take(client, queue)
    client.post(item_url(first), {**VALID, "rubric_id": rubric.pk})

    response = client.post(item_url(first, "skip"), {"handed": handed_token(client.get(item_url(first)).text)})

    assert response.status_code == 302 and response.headers["Location"] == item_url(second)
    assert not Skip.objects.exists() and Label.objects.get(item=first, expert=expert).answers == STORED
    assert "keeps your label" in client.get(response.headers["Location"]).text
    client.force_login(lead)
    experts = client.get(f"/p/{project.slug}/manage/experts/").text
    row = experts.split(f'data-expert="{expert.username}"')[1].split("</tr>")[0]
    assert re.findall(r'<td class="num">(\d+)</td>', row)[:4] == ["1", "1", "0", "0"]  # labels, all time, skips, flags


def test_a_label_sent_from_a_second_tab_after_a_skip_replaces_the_skip(
    client, lead, expert, project, clear_of_week_start, rubric, queue
):
    """Skipped in one tab, labeled from the same screen still open in another: the item counts once, as labeled."""
    first, _ = make_items(project, 2)
    client.force_login(expert)
    take(client, queue)
    shown = handed_token(client.get(item_url(first)).text)
    client.post(item_url(first, "skip"), {"handed": shown})

    client.post(item_url(first), {**VALID, "rubric_id": rubric.pk, "handed": shown})

    assert Label.objects.get(item=first, expert=expert).answers == STORED
    assert not Skip.objects.exists()
    client.force_login(lead)
    experts = client.get(f"/p/{project.slug}/manage/experts/").text
    row = experts.split(f'data-expert="{expert.username}"')[1].split("</tr>")[0]
    assert re.findall(r'<td class="num">(\d+)</td>', row)[:4] == ["1", "1", "0", "0"]  # labels, all time, skips, flags


def test_back_after_a_skip_shows_the_item_read_only_with_a_note(client, expert, other_expert, project, rubric, queue):
    """Back (or a reload) after a skip lands on the skipped item's page: read-only, saying so, with the way on."""
    first, _ = make_items(project, 2, output="The parcel ships **Monday**.")
    client.force_login(expert)
    take(client, queue)
    client.post(item_url(first, "skip"), {"reason": "not my area"})

    response = client.get(item_url(first))

    assert response.status_code == 200
    html = response.content.decode()
    assert "You skipped this item" in html and "not my area" in html and "<strong>Monday</strong>" in html
    # Headed as the labeling screen is: one <h1> naming the item, for a screen reader's list of headings.
    assert re.findall(r"<h1\b[^>]*>(.*?)</h1>", html, re.S) == [f"Item {first.pk}"]
    assert f'href="{next_url(queue)}"' in html and 'id="undo-skip-form"' in html
    assert 'id="label-form"' not in html and 'name="handed"' not in html  # nothing to label, flag or comment
    client.force_login(other_expert)  # blind labeling: an item one did not hold nor skip stays out of sight
    assert client.get(item_url(first)).status_code == 404


def test_undo_skip_hands_the_item_back_to_label(client, expert, project, rubric, queue):
    first, second = make_items(project, 2)
    client.force_login(expert)
    take(client, queue)
    client.post(item_url(first, "skip"))

    response = client.post(item_url(first, "unskip"))

    assert response.status_code == 302 and response.headers["Location"] == item_url(first)
    assert not Skip.objects.filter(item=first, expert=expert).exists()
    assert Slot.objects.get(item=first).expert == expert and 'id="label-form"' in client.get(item_url(first)).text
    assert client.post(item_url(first), {**VALID, "rubric_id": rubric.pk}).headers["Location"] == item_url(second)


def test_the_skipped_message_offers_to_undo_the_skip_without_javascript(client, expert, project, rubric, queue):
    """The message on the next item's page holds an "Undo skip" button posting to the undo, as Back's page does."""
    first, second = make_items(project, 2)
    client.force_login(expert)
    take(client, queue)

    page = client.get(client.post(item_url(first, "skip")).headers["Location"]).text

    assert f"Skipped item {first.pk}" in page
    assert f'<form method="post" action="{item_url(first, "unskip")}" id="undo-skip-{first.pk}" hidden>' in page
    assert f'<button type="submit" form="undo-skip-{first.pk}" class="undo-skip">Undo skip</button>' in page
    assert "undo-skip" not in client.get(item_url(second)).text  # said once


def test_undo_skip_changes_nothing_when_others_took_every_slot(client, expert, other_expert, project, rubric, queue):
    first = make_items(project, 1)[0]
    client.force_login(expert)
    take(client, queue)
    client.post(item_url(first, "skip"))
    assignment.next_item(expert=other_expert, queue=queue)

    response = client.post(item_url(first, "unskip"), follow=True)

    assert "cannot be handed back" in response.text and "You skipped this item" in response.text
    assert Skip.objects.filter(item=first, expert=expert).exists()
    assert Slot.objects.get(item=first).expert == other_expert


def test_a_flag_and_a_comment_are_stored_and_shown(client, expert, other_expert, project, rubric, queue):
    make_items(project, 1)
    client.force_login(expert)
    item = take(client, queue)

    flagged = client.post(item_url(item, "flag"), {"note": "Policy changed last week?"})
    commented = client.post(item_url(item, "comment"), {"body": "The <b>carrier</b> is wrong."})

    assert flagged.status_code == 302 and flagged.headers["Location"] == item_url(item)
    assert commented.status_code == 302 and commented.headers["Location"] == item_url(item) + "#comments"
    assert Flag.objects.get(item=item, expert=expert).note == "Policy changed last week?"
    assert Comment.objects.get(item=item, author=expert).body == "The <b>carrier</b> is wrong."
    html = client.get(item_url(item)).content.decode()
    assert "The &lt;b&gt;carrier&lt;/b&gt; is wrong." in html
    assert "Flagged for the weekly review meeting." in html


def test_flagging_an_item_again_changes_the_experts_open_flag_which_their_screen_shows(
    client, expert, lead, project, clear_of_week_start, rubric, queue
):
    """A second flag by the same expert is not a second card on the meeting page: it changes their open flag's note.
    Their item screen says what they flagged; once a lead resolved it, flagging again raises a new one."""
    make_items(project, 1)
    client.force_login(expert)
    item = take(client, queue)
    assert "You flagged this for the meeting" not in client.get(item_url(item)).text

    client.post(item_url(item, "flag"), {"note": "Policy changed last week?"})
    client.post(item_url(item, "flag"), {"note": "And the carrier is wrong."})

    [flag] = Flag.objects.filter(item=item, expert=expert)
    assert flag.note == "And the carrier is wrong."
    box = client.get(item_url(item)).text.split('id="flag-box"')[1].split("</details>")[0]
    assert "You flagged this for the meeting: <q><bdi>And the carrier is wrong.</bdi></q>" in box
    meeting = client.get(f"/p/{project.slug}/meeting/").url
    assert client.get(meeting).text.count(f'data-flag="{flag.pk}"') == 1

    labels.resolve_flag(lead=lead, project=project, flag_id=flag.pk)
    assert "You flagged this for the meeting" not in client.get(item_url(item)).text
    client.post(item_url(item, "flag"), {"note": "Still wrong after the fix"})
    assert Flag.objects.filter(item=item, expert=expert).count() == 2


def test_an_expert_sees_no_one_elses_comment_on_an_item_until_they_have_labeled_it(
    client, expert, other_expert, lead, project, rubric
):
    """Blind labeling: another expert's "clearly wrong" is their judgement, so the labeling screen shows the expert
    only their own comments until they label the item; back on it afterwards (to edit their label), everyone's."""
    queue = Queue.objects.create(project=project, slug="trio", name="Trio", overlap=3)
    item = make_items(project, 1)[0]
    assert assignment.next_item(expert=other_expert, queue=queue) == item
    labels.comment_on_item(author=other_expert, item=item, body="Clearly wrong, says refund in 30 days.")
    assert assignment.next_item(expert=lead, queue=queue) == item
    labels.comment_on_item(author=lead, item=item, body="Looks fine to me.")
    client.force_login(expert)
    assert take(client, queue) == item
    client.post(item_url(item, "comment"), {"body": "Which policy applies here?"})

    before = client.get(item_url(item)).text

    assert "Which policy applies here?" in before
    assert "Clearly wrong" not in before and "Looks fine to me." not in before
    assert before.count('class="comment-body"') == 1
    client.post(item_url(item), {**VALID, "rubric_id": rubric.pk})
    after = client.get(item_url(item)).text
    assert "Clearly wrong, says refund in 30 days." in after and "Looks fine to me." in after
    assert after.count('class="comment-body"') == 3


def test_the_next_screen_swapped_in_after_a_label_shows_no_one_elses_comment(
    client, expert, other_expert, project, rubric
):
    """label.js swaps in the next item's screen answered to the label's POST: it is blind like the page itself."""
    queue = Queue.objects.create(project=project, slug="pairs", name="Pairs", overlap=2)
    first, second = make_items(project, 2)
    for item in (first, second):
        assert assignment.next_item(expert=other_expert, queue=queue) == item
        labels.submit_label(expert=other_expert, item=item, rubric=rubric, answers=STORED)
        labels.comment_on_item(author=other_expert, item=item, body=f"Clearly wrong, item {item.pk}.")
    client.force_login(expert)
    assert take(client, queue) == first

    swapped = client.post(item_url(first), {**VALID, "rubric_id": rubric.pk}, **SWAP)

    assert swapped.status_code == 200 and swapped.headers["X-Screen-Location"] == item_url(second)
    assert "Clearly wrong" not in swapped.text and "comments on this item show once you have labeled it" in swapped.text


@pytest.mark.parametrize("suffix, data", [("flag", {"note": "   "}), ("comment", {"body": ""})])
def test_an_empty_flag_or_comment_is_refused_with_a_message(client, expert, project, rubric, queue, suffix, data):
    make_items(project, 1)
    client.force_login(expert)
    item = take(client, queue)

    response = client.post(item_url(item, suffix), data, follow=True)

    assert response.status_code == 200
    assert 'class="message error"' in response.content.decode()
    assert not Flag.objects.exists() and not Comment.objects.exists()


def test_the_labeling_screen_runs_a_fixed_number_of_queries(
    client, expert, other_expert, lead, project, rubric, queue, django_assert_num_queries
):
    make_items(project, 1, metadata={"topic": "a", "locale": "en"})
    client.force_login(expert)
    item = take(client, queue)
    labels.comment_on_item(author=lead, item=item, body="first")
    # session, user, item (with project, queue, output, membership, own label and the current rubric version's
    # id), the rubric version (the first time in this process: published versions never change), comments with
    # authors, the queue's week (work.queue_week_for_labeler)
    with django_assert_num_queries(6):
        client.get(item_url(item))

    for index in range(6):
        labels.comment_on_item(author=[lead, expert, other_expert][index % 3], item=item, body=f"more {index}")
    with django_assert_num_queries(5):
        response = client.get(item_url(item))
    # Blind until labeled: the expert's own two of the seven (test_an_expert_sees_no_one_elses_comment_…).
    assert response.content.decode().count('class="comment-body"') == 2


# --- untrusted output -------------------------------------------------------------------------

HOSTILE = (
    '<img src=x onerror="window.__xss=1">\n\n<script>window.__xss=2</script>\n\n'
    "[x](javascript:window.__xss=3) and [policy](https://example.com/policy)\n\n"
    "</textarea><script>window.__xss=4</script>"
)


def test_hostile_output_is_rendered_inert(client, expert, project, rubric, queue):
    make_items(
        project, 1, output=HOSTILE,
        input=[{"role": "user", "content": "<script>window.__xss=5</script>"}],
        metadata={"note": "<svg onload=alert(1)>"}, feedback_comment="<img src=y onerror=alert(2)>",
    )  # fmt: skip
    client.force_login(expert)
    item = take(client, queue)

    html = client.get(item_url(item)).content.decode()

    assert "<script>window" not in html
    assert "<img" not in html and "<svg" not in html
    tags = _tags_only(html)
    assert "javascript:" not in tags and not re.search(r"\son\w+\s*=", tags)
    answer = re.search(r'<div class="markdown ai-output" dir="auto">(.*?)</div>', html, re.S).group(1)
    assert "&lt;img src=x onerror=" in answer and "&lt;script&gt;window.__xss=2&lt;/script&gt;" in answer
    assert "[x](javascript:window.__xss=3)" in answer  # not made a link at all
    assert re.findall(r"<a [^>]*>", answer) == ['<a href="https://example.com/policy" rel="noopener noreferrer">']
    assert '<a href="https://example.com/policy" rel="noopener noreferrer">policy</a>' in answer
    assert "&lt;/textarea&gt;&lt;script&gt;window.__xss=4" in html  # in the correction box, as text
    assert "&lt;script&gt;window.__xss=5&lt;/script&gt;" in html  # the user's message, as text


def _tags_only(html: str) -> str:
    """The markup of the page with text between tags removed, so escaped text cannot match."""
    return " ".join(re.findall(r"<[a-zA-Z][^>]*>", html))


def test_next_item_and_submit_run_a_fixed_number_of_queries(
    client, expert, project, rubric, queue, django_assert_num_queries
):
    first, second, _ = make_items(project, 3)
    client.force_login(expert)
    # session, user, queue with project and access; in one transaction: extend an own lease, else claim
    with django_assert_num_queries(3 + 4):
        response = client.post(next_url(queue))
    assert response.headers["Location"] == item_url(first)
    # GET leases nothing: session, user, queue with access, the held lease and whether work waits
    with django_assert_num_queries(3):
        response = client.get(next_url(queue))
    assert response.headers["Location"] == item_url(first)

    # session, user, item with project, queue, output and access, rubric; in one transaction: item
    # locked with the expert's label and lease, slot done, label, item complete, its resolution asked
    # for (one outbox row); then the next item
    with django_assert_num_queries(4 + 7 + 4):
        response = client.post(item_url(first), {**VALID, "rubric_id": rubric.pk})
    assert response.headers["Location"] == item_url(second)


# --- lease renewal (the open labeling screen keeps its item while the expert works on it) ----------


def lease_of(expert, item):
    return Slot.objects.get(item=item, expert=expert, state=SlotState.LEASED).lease_expires_at


def test_the_item_screen_says_how_long_its_lease_has_left_and_where_to_renew_it(client, expert, project, rubric, queue):
    make_items(project, 1)
    client.force_login(expert)
    item = take(client, queue)

    html = client.get(item_url(item)).content.decode()

    assert f'data-renew-url="{item_url(item, "renew")}"' in html
    assert 'data-lease-seconds="900"' in html
    left = int(re.search(r'data-lease-seconds-left="(\d+)"', html).group(1))
    assert 890 <= left <= 900


def test_a_renewal_extends_the_experts_own_lease_by_a_lease_length_from_now(
    client, settings, expert, other_expert, project, rubric, queue
):
    settings.LEASE_SECONDS = 120
    make_items(project, 1)
    client.force_login(expert)
    item = take(client, queue)
    token = handed_token(client.get(item_url(item)).content.decode())
    Slot.objects.filter(item=item).update(lease_expires_at=timezone.now() + timedelta(seconds=5))

    response = client.post(item_url(item, "renew"), {"handed": token})

    assert response.status_code == 200
    assert 115 <= response.json()["seconds_left"] <= 120
    assert lease_of(expert, item) > timezone.now() + timedelta(seconds=110)
    assignment.next_item(expert=other_expert, queue=queue)
    assert lease_of(expert, item)  # still the expert's: nobody else was handed it
    again = client.post(item_url(item, "renew"), {"handed": token})  # idempotent: a lease length from now again
    assert again.status_code == 200 and Slot.objects.filter(item=item, state=SlotState.LEASED).count() == 1


def test_a_renewal_keeps_a_lease_that_ran_out_while_nobody_took_it(client, expert, project, rubric, queue):
    make_items(project, 1)
    client.force_login(expert)
    item = take(client, queue)
    token = handed_token(client.get(item_url(item)).content.decode())
    Slot.objects.filter(item=item).update(lease_expires_at=timezone.now() - timedelta(seconds=30))

    response = client.post(item_url(item, "renew"), {"handed": token})

    assert response.status_code == 200
    assert lease_of(expert, item) > timezone.now() + timedelta(minutes=14)


def test_a_renewal_of_a_lost_item_answers_409_saying_so_and_changes_nothing(
    client, expert, other_expert, project, rubric, queue
):
    make_items(project, 1)
    client.force_login(expert)
    item = take(client, queue)
    token = handed_token(client.get(item_url(item)).content.decode())
    Slot.objects.filter(item=item).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert assignment.next_item(expert=other_expert, queue=queue) == item
    before = snapshot()

    response = client.post(item_url(item, "renew"), {"handed": token})

    assert response.status_code == 409
    assert response.json()["message"] == (
        "You had this item open longer than 15 minutes without saving, so it went to another expert. "
        "Your answers were not saved."
    )
    assert snapshot() == before
    assert lease_of(other_expert, item)


def test_a_renewal_of_a_labeled_item_has_nothing_to_renew(client, expert, project, rubric, queue):
    make_items(project, 2)
    client.force_login(expert)
    item = take(client, queue)
    labels.submit_label(expert=expert, item=item, rubric=rubric, answers=STORED)
    token = handed_token(client.get(item_url(item)).content.decode())  # back on it, to change the label

    response = client.post(item_url(item, "renew"), {"handed": token})

    assert response.status_code == 200 and response.json() == {"seconds_left": None}


def test_a_renewal_validates_ownership(client, expert, other_expert, outsider, project, rubric, queue):
    """Only the expert the item was handed to renews it: another expert, even with the page's token, and an outsider
    get a 404; a GET is refused; nothing changes."""
    make_items(project, 1)
    client.force_login(expert)
    item = take(client, queue)
    token = handed_token(client.get(item_url(item)).content.decode())
    assert client.get(item_url(item, "renew")).status_code == 405
    before = snapshot()
    for someone in (other_expert, outsider):
        client.force_login(someone)
        assert client.post(item_url(item, "renew"), {"handed": token}).status_code == 404
    assert snapshot() == before


def test_a_renewal_needs_a_csrf_token(expert, project, rubric, queue):
    [item] = make_items(project, 1)
    assignment.next_item(expert=expert, queue=queue)
    Slot.objects.filter(item=item).update(lease_expires_at=timezone.now() + timedelta(seconds=5))
    client = Client(enforce_csrf_checks=True)
    client.force_login(expert)

    assert client.post(item_url(item, "renew")).status_code == 403
    assert lease_of(expert, item) < timezone.now() + timedelta(seconds=6)


def test_a_renewal_after_the_lease_went_to_another_expert_keeps_the_item_in_a_spare_slot(
    client, expert, other_expert, project, rubric, queue
):
    """As a late submit would: the item still has a free slot, so the expert keeps working on it, in that slot."""
    queue.overlap = 2
    queue.save()
    make_items(project, 1)
    client.force_login(expert)
    item = take(client, queue)
    token = handed_token(client.get(item_url(item)).content.decode())
    Slot.objects.filter(item=item, expert=expert).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert assignment.next_item(expert=other_expert, queue=queue) == item  # the ran-out slot; the other stays free
    renewed_at = timezone.now()

    response = client.post(item_url(item, "renew"), {"handed": token})

    assert response.status_code == 200
    assert lease_of(expert, item) > timezone.now() + timedelta(minutes=14)
    assert lease_of(other_expert, item)
    mine = Slot.objects.get(item=item, expert=expert)
    assert mine.leased_at < renewed_at  # since the item was shown, not since the renewal: the label's time counts it
    labels.submit_label(expert=expert, item=item, rubric=rubric, answers=STORED)
    assert Label.objects.filter(item=item, expert=expert).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_renewal_taking_a_spare_slot_and_the_same_experts_submit_at_once_give_one_label(
    expert, other_expert, project, rubric, queue
):
    """The Enter that submits also renews when a renewal is due (label.js): both want a free slot for the expert. The
    renewal takes the item's row lock, as the submit does, so the submit waits for it and fills the slot it leased,
    instead of taking a second slot and breaking one-slot-per-expert (a 500, the label lost)."""
    queue.overlap = 3
    queue.save()
    [item] = make_items(project, 1)
    assignment.next_item(expert=expert, queue=queue)
    Slot.objects.filter(item=item, expert=expert).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert assignment.next_item(expert=other_expert, queue=queue) == item  # the ran-out slot; two stay free

    errors = waits_for_uncommitted(
        lambda: assignment.renew_lease(expert=expert, item=item),
        lambda: labels.submit_label(expert=expert, item=item, rubric=rubric, answers=STORED),
    )

    assert errors == []
    assert Label.objects.filter(item=item, expert=expert).count() == 1
    assert list(Slot.objects.filter(item=item, expert=expert).values_list("state", flat=True)) == [SlotState.DONE]


# --- where an expert goes next ----------------------------------------------------------------


def test_all_done_in_a_queue_links_to_the_next_queue_with_work_waiting(client, expert, project, queue):
    vip = Queue.objects.create(project=project, slug="vip", name="VIP answers", rule={"tags_any": ["vip"]})
    make_items(project, 2, tags=["vip"])
    Item.objects.filter(queue=queue).delete()
    client.force_login(expert)

    html = client.get(next_url(queue)).content.decode()

    assert "All done in this queue" in html
    assert f'action="{next_url(vip)}"' in html and "<bdi>VIP answers</bdi>" in html and "has 2 waiting for you" in html


def test_all_done_everywhere_says_every_queue_is_done(client, expert, project, queue):
    Queue.objects.create(project=project, slug="vip", name="VIP answers", rule={"tags_any": ["vip"]})
    client.force_login(expert)

    html = client.get(next_url(queue)).content.decode()

    assert "Nothing is waiting for you in any queue of this project either" in html
    assert "/q/vip/next" not in html


def test_the_overview_offers_start_labeling_only_where_work_waits(client, expert, project, queue):
    Queue.objects.create(project=project, slug="vip", name="VIP answers", rule={"tags_any": ["vip"]})
    make_items(project, 1)  # into `all` only
    client.force_login(expert)

    html = client.get(f"/p/{project.slug}/").content.decode()

    assert f'action="{next_url(queue)}"' in html
    assert f'action="/p/{project.slug}/q/vip/next"' not in html
    assert "Nothing waiting for you" in html


def test_the_queue_card_says_how_much_of_the_waiting_work_is_from_an_earlier_week(
    client, expert, project, clear_of_week_start, other_project, queue, last_week
):
    MembershipFactory(project=other_project, user=expert, role="expert")  # two projects: the home page lists them
    earlier = make_items(project, 1)
    Item.objects.filter(pk__in=[item.pk for item in earlier]).update(week=last_week)
    make_items(project, 2)
    client.force_login(expert)

    project_html = client.get(f"/p/{project.slug}/").content.decode()
    home_html = client.get("/").content.decode()

    assert "<strong>3</strong> waiting, 1 from an earlier week" in project_html
    assert "1 from an earlier week" in home_html


def test_the_item_screens_week_line_says_how_much_of_the_waiting_work_is_from_an_earlier_week(
    client, expert, project, clear_of_week_start, rubric, queue, last_week
):
    """A label on an earlier week's item counts in that week: "waiting" went down and "you gave" did not go up."""
    [earlier] = make_items(project, 1)
    Item.objects.filter(pk=earlier.pk).update(week=last_week)
    make_items(project, 2)
    client.force_login(expert)
    take(client, queue)

    html = client.get(next_url(queue), follow=True).content.decode()

    assert "<strong>3</strong> waiting for you (1 from an earlier week), this one included" in html


@pytest.mark.parametrize(
    ("value", "kind", "shown", "in_full"),
    [(100, "waiting", "100", True), (101, "waiting", "100+", False), (1000, "week", "1,000", True)]
    + [(1001, "week", "1,000+", False), (0, "week", "0", True)],
)
def test_a_count_past_its_limit_says_so(value, kind, shown, in_full):
    """The week's counts stop at a limit (selectors.work): one more than it means "more", never that many; thousands
    grouped as every page writes them ("1,000+", it said "1000+")."""
    assert counted(value, kind) == shown and counted_in_full(value, kind) is in_full


def test_an_expert_who_labeled_on_an_older_rubric_version_is_told_what_the_new_one_changed(
    client, expert, project, rubric, queue
):
    """A lead publishes v2 (a new question, new guidelines) after the expert labeled on v1: the next screen says
    what changed since their last label and opens the guidelines; once they labeled on v2, it says nothing more."""
    make_items(project, 3)
    client.force_login(expert)
    first = take(client, queue)
    client.post(item_url(first), {**VALID, "rubric_id": rubric.pk})
    added = {"key": "promises", "kind": "binary", "prompt": "Does it promise a date it cannot know?"}
    v2 = publish_rubric(project=project, questions=[*QUESTIONS, added], guidelines="# How to judge\nRefund dates.")

    second = take(client, queue)
    html = client.get(item_url(second)).content.decode()

    news = re.sub(r"<[^>]+>", "", re.search(r'<div class="rubric-news.*?</div>', html, re.S).group(0))
    assert "Rubric v2 is new since your last label (v1)" in news
    assert "New question: “Does it promise a date it cannot know?”" in news
    assert "The guidelines changed" in news
    assert '<details class="guidelines" id="guidelines" open>' in html

    client.post(item_url(second), {**VALID, "q-promises": "no", "rubric_id": v2.pk})
    third = take(client, queue)
    html = client.get(item_url(third)).content.decode()
    assert "rubric-news" not in html and '<details class="guidelines" id="guidelines">' in html


def test_an_expert_who_never_labeled_in_the_project_is_told_of_no_rubric_change(client, expert, project, rubric, queue):
    make_items(project, 1)
    publish_rubric(project=project, questions=QUESTIONS, guidelines="Changed.")
    client.force_login(expert)

    html = client.get(item_url(take(client, queue))).content.decode()

    assert "rubric-news" not in html
