"""The explore page, its counts and charts, a session's conversation and saved views (Django test client)."""

import importlib
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import timezone

from labeling.models import Item, Queue, SavedView
from labeling.selectors.explore import Total
from labeling.selectors.explore import facets as explore_facets
from labeling.services import hand_picked
from labeling.services.assignment import next_item
from labeling.services.labels import submit_label
from labeling.services.resolution import resolve_item
from labeling.services.search_index import index_outputs
from labeling.web.explore_views import _total_text
from tests.factories import OutputFactory
from tests.helpers.labeling import label_outputs

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

SCRIPT = "<script>alert(1)</script>"


def url(name, project, *args, query: str = "") -> str:
    return reverse(f"labeling:{name}", args=[project.slug, *args]) + (f"?{query}" if query else "")


def make(project, count: int = 1, **fields) -> list:
    """Outputs made as ingest and routing leave them: indexed for search, their length counted."""
    outputs = OutputFactory.create_batch(count, project=project, **fields)
    index_outputs(project_id=project.pk, output_ids=[output.pk for output in outputs])
    return outputs


def shown(response) -> list[str]:
    """The external ids of the result rows, in page order."""
    return re.findall(r'<li class="result" data-output="([^"]+)"', response.content.decode())


@pytest.fixture
def outputs(project):
    """Three kinds of output, one hour apart, newest last."""
    now = timezone.now()
    return {
        "billing": make(project, external_id="billing-1", tags=["billing"], model="bot-2.4", occurred_at=now,
                        output="Your refund will arrive by 14 March.", metadata={"locale": "en-GB", "tokens": 120},
                        feedback_score=-1, feedback_comment="No refund yet", session_id="s-1")[0],
        "shipping": make(project, external_id="shipping-1", tags=["shipping"], model="bot-2.3",
                         occurred_at=now - timedelta(hours=1), output="The parcel ships Friday.",
                         metadata={"locale": "de-DE", "tokens": 80}, session_id="s-1")[0],
        "both": make(project, external_id="both-1", tags=["billing", "shipping"], model="bot-2.4",
                     occurred_at=now - timedelta(hours=2), output="Refunds take five days; shipping is free.",
                     metadata={"locale": "en-GB"}, session_id="s-2")[0],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("persona", "experts_can_explore", "status"),
    [
        ("lead", True, 200),
        ("engineer", True, 200),
        ("expert", True, 200),
        ("expert", False, 404),  # told why: the 404 page of a role's refusal
        ("lead", False, 200),
        ("outsider", True, 404),
        (None, True, 302),  # to the sign-in page
    ],
)
def test_it_validates_access(client, request, project, outputs, persona, experts_can_explore, status):
    project.experts_can_explore = experts_can_explore
    project.save(update_fields=["experts_can_explore"])
    if persona:
        client.force_login(request.getfixturevalue(persona))
    session = url("explore-session", project, query=urlencode({"id": "s-1"}))
    for page in (url("explore", project), url("explore-summary", project), session):
        assert client.get(page).status_code == status, page
    if persona == "expert" and not experts_can_explore:
        assert "not opened the explore page to experts" in client.get(url("explore", project)).content.decode()


def test_an_operator_explores_without_a_membership(client, project, outputs, django_user_model):
    operator = django_user_model.objects.create_superuser("olga", "olga@example.com", "pw")
    client.force_login(operator)
    response = client.get(url("explore", project))
    assert response.status_code == 200
    assert set(shown(response)) == {"billing-1", "shipping-1", "both-1"}
    assert "add-form" not in response.content.decode()  # adding to queues is for the project's leads


def test_the_project_page_links_to_explore_and_lists_saved_views(client, project, expert, outputs):
    SavedView.objects.create(project=project, name="Refund promises", query="q=refund&model=bot-2.4")
    client.force_login(expert)
    page = client.get(url("project", project)).content.decode()
    assert 'id="explore-link"' in page
    assert f'href="{url("explore", project, query="q=refund&amp;model=bot-2.4")}"' in page
    project.experts_can_explore = False
    project.save(update_fields=["experts_can_explore"])
    page = client.get(url("project", project)).content.decode()
    assert 'id="explore-link"' not in page and "Refund promises" not in page


def test_an_expert_kept_out_of_explore_gets_no_outputs_on_the_project_page(client, project, expert, lead, outputs):
    """The project page's latest outputs are the explore page's newest rows (texts, end users, feedback comments):
    shown only to whoever may explore."""
    project.experts_can_explore = False
    project.save(update_fields=["experts_can_explore"])
    client.force_login(expert)

    page = client.get(url("project", project)).content.decode()

    assert "Latest outputs" not in page and "refund will arrive" not in page and "No refund yet" not in page
    client.force_login(lead)
    assert "refund will arrive" in client.get(url("project", project)).content.decode()


@pytest.mark.parametrize("persona", ["lead", "engineer", "expert"])
def test_each_latest_output_on_the_project_page_links_to_where_explore_opens_it(client, request, project, persona):
    """A row opens the output itself: at its turn of its conversation when it has a session, else alone."""
    make(project, external_id="ord-1", output="Your refund is on its way.", session_id="s #1")
    make(project, external_id="ord-2", output="The parcel ships Friday.")
    client.force_login(request.getfixturevalue(persona))

    page = client.get(url("project", project)).content.decode()

    links = dict(re.findall(r'<a class="output-link" href="([^"]+)">([^<]*)</a>', page))
    assert set(links.values()) == {"Your refund is on its way.", "The parcel ships Friday."}
    by_text = {text: href.replace("&amp;", "&") for href, text in links.items()}
    explore_page = client.get(url("explore", project)).content.decode()
    conversation = by_text["Your refund is on its way."]
    assert conversation.replace("&", "&amp;") in explore_page  # the very link explore's row has
    opened = client.get(conversation, follow=True)  # to its conversation, at its turn
    assert opened.redirect_chain[0][0].startswith(url("explore-session", project, query=urlencode({"id": "s #1"})))
    assert opened.status_code == 200 and "Your refund is on its way." in opened.content.decode()
    alone = client.get(by_text["The parcel ships Friday."])
    assert alone.status_code == 200 and "<h1>Output <code>ord-2</code></h1>" in alone.content.decode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["billing-1", "shipping-1", "both-1"]),  # newest first
        ("tag=billing", ["billing-1", "both-1"]),
        ("tag=billing&tag=shipping&tags=all", ["both-1"]),
        ("model=bot-2.4&meta=locale%3Aen-GB", ["billing-1", "both-1"]),
        ("q=refunds", ["billing-1", "both-1"]),
        ("feedback=down&comment=yes", ["billing-1"]),
        ("session=s-1", ["billing-1", "shipping-1"]),
        ("has_meta=tokens&max_chars=30", ["shipping-1"]),
    ],
)
def test_filters_choose_the_rows(client, lead, project, outputs, query, expected):
    client.force_login(lead)
    response = client.get(url("explore", project, query=query))
    assert response.status_code == 200
    assert shown(response) == expected
    assert f"{len(expected)} output" in response.content.decode()


def test_the_bar_shows_the_filter_and_chips_remove_one_condition(client, lead, project, outputs):
    client.force_login(lead)
    page = client.get(url("explore", project, query="q=refund&tag=billing&tag=shipping&model=bot-2.4")).content.decode()
    assert 'name="q" value="refund"' in page
    assert re.search(r'name="model" value="bot-2.4" checked', page)
    assert re.search(r'name="model" value="bot-2.3">', page)  # offered from the newest outputs, not chosen
    assert 'name="tag" value="shipping"' in page
    chips = dict(re.findall(r'<li class="chip filter-chip">(.*?) <a class="chip-remove" href="[^"?]*\??([^"]*)"', page))
    assert chips["Tag: shipping"] == "q=refund&amp;model=bot-2.4&amp;tag=billing"
    assert chips["Search: refund"] == "model=bot-2.4&amp;tag=billing&amp;tag=shipping"


def test_the_bar_keeps_the_usage_events_and_their_chips_remove_one(client, lead, project, outputs):
    client.force_login(lead)
    query = "event=return_started&event=refund_asked&has_event=yes"
    page = client.get(url("explore", project, query=query)).content.decode()
    assert 'name="event" value="return_started"' in page and 'name="event" value="refund_asked"' in page
    assert '<option value="yes" selected>' in page.split('name="has_event"')[1].split("</select>")[0]
    chips = dict(re.findall(r'<li class="chip filter-chip">(.*?) <a class="chip-remove" href="[^"?]*\??([^"]*)"', page))
    assert chips["Usage event: return_started"] == "event=refund_asked&amp;has_event=yes"
    assert chips["Its end user had a usage event"] == "event=return_started&amp;event=refund_asked"


def test_the_bars_empty_fields_redirect_to_the_canonical_filter(client, lead, project, outputs):
    client.force_login(lead)
    response = client.get(url("explore", project, query="q=&tag=billing&tags=any&comment=&min_chars=&model=bot-2.4"))
    assert response.status_code == 302
    assert response["Location"] == url("explore", project, query="model=bot-2.4&tag=billing")


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("from=2026-13-01", "from", "is not a date like"),
        ("from=2026-11-30&to=2026-11-01", "to", "The last day is before the first day."),
        ("min_chars=abc", "min_chars", "Use a whole number"),
        ("feedback=great", "feedback", "is not one of: up, neutral, down, none"),
        ("meta=locale", "meta", "is not `key:value`"),
        ("queue=nope", "queue", "This project has no queue"),
        ("gold=mood:happy", "gold", "No pass/fail, choice or rating question"),
        ("q=the", "q", "Nothing to search for"),
        ("colour=red", "colour", "Unknown filter."),
        ("cursor=not-a-cursor", "cursor", "not handed out by this endpoint"),
    ],
)
def test_a_bad_filter_renders_the_page_with_the_message_and_400(client, lead, project, outputs, query, field, message):
    client.force_login(lead)
    response = client.get(url("explore", project, query=query))
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page.replace("&#x27;", "'").replace("&quot;", '"')
    assert 'id="filter-errors"' in page and shown(response) == []
    summary = client.get(url("explore-summary", project, query=query), headers={"X-Requested-With": "fetch"})
    assert summary.status_code == 400


def test_a_nul_in_the_query_string_is_a_400_before_the_page(client, lead, project):
    client.force_login(lead)
    response = client.get(url("explore", project, query="q=refund%00"))
    assert response.status_code == 400 and "NUL character" in response.content.decode()


def test_untrusted_text_is_escaped_everywhere(client, lead, project):
    make(project, external_id="x-1", output=f"Hello {SCRIPT} world", tags=["<b>bold</b>"], session_id=SCRIPT,
         metadata={"note": "<img src=x onerror=alert(1)>"}, input=[{"role": "user", "content": SCRIPT}])  # fmt: skip
    client.force_login(lead)
    pages = [
        client.get(url("explore", project, query="q=world")),
        client.get(url("explore", project)),
        client.get(url("explore-summary", project)),
        client.get(url("explore-session", project, query=urlencode({"id": SCRIPT}))),
        client.get(url("project", project)),  # its latest outputs link the session's conversation
    ]
    for response in pages:
        assert response.status_code == 200
        page = response.content.decode()
        assert SCRIPT not in page and "<b>bold" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in pages[1].content.decode()
    # The search's match is marked, as escaped text inside <mark>.
    assert re.search(r"<mark>world</mark>", pages[0].content.decode())


def test_markdown_outputs_are_previewed_as_plain_text_on_the_project_page_and_in_explore(client, lead, project):
    """The demo's answers are Markdown: the previews show their text, not the asterisks, backticks and fences."""
    make(project, external_id="order-1", output="Your order **KP-6526738** ships on **Friday, 11 December**.\n\n"
         "Tracking number: `87584817291062`")  # fmt: skip
    make(project, external_id="sql-1", output="```sql\nSELECT id FROM orders;\n```")
    client.force_login(lead)
    for page in (client.get(url("project", project)), client.get(url("explore", project))):
        text = page.content.decode()
        assert "Your order KP-6526738 ships on Friday, 11 December. Tracking number: 87584817291062" in text
        assert "SELECT id FROM orders;" in text
        assert "**KP" not in text and "`87584817291062`" not in text and "```" not in text
    # A search still marks its match, in the plain text of the passage quoted around it.
    found = client.get(url("explore", project, query="q=tracking")).content.decode()
    assert "Friday, 11 December. <mark>Tracking</mark> number" in found and "**" not in found


def test_next_pages_with_a_cursor_until_the_last(client, lead, project):
    start = timezone.now()
    make(project, 55)  # same moment: the keyset's tie-break on the id keeps the order
    make(project, 1, external_id="newest", occurred_at=start + timedelta(minutes=5))
    client.force_login(lead)
    first = client.get(url("explore", project))
    rows = shown(first)
    assert len(rows) == 50 and rows[0] == "newest"
    assert "56 outputs" in first.content.decode()
    next_link = re.search(r'rel="next" id="next-page" href="([^"]+)"', first.content.decode()).group(1)
    second = client.get(next_link.replace("&amp;", "&"))
    assert second.status_code == 200
    assert len(shown(second)) == 6 and not set(shown(second)) & set(rows)
    assert 'id="next-page"' not in second.content.decode()


def test_the_summary_counts_facets_that_add_a_filter_and_draws_charts(client, lead, project, outputs):
    client.force_login(lead)
    fragment = client.get(url("explore-summary", project, query="tag=billing"), headers={"X-Requested-With": "fetch"})
    page = fragment.content.decode()
    assert fragment.status_code == 200 and "<html" not in page
    models = re.findall(r'href="/p/support-bot/explore/\?([^"]+)">bot-2.4</a>\s*<span class="count">(\d+)</span>', page)
    assert models == [("model=bot-2.4&amp;tag=billing", "2")]
    assert re.search(r'explore/\?tag=billing&amp;meta=locale%3Aen-GB">en-GB</a>\s*<span class="count">2<', page)
    assert re.search(r'<span class="selected" title="In the filter">billing ✓</span>\s*<span class="count">2<', page)
    for title in ("Outputs per day", "Thumbs-down share per day", "Output length (characters)"):
        assert f'<figcaption class="chart-title">{title}</figcaption>' in page
    assert page.count("<svg") >= 3
    as_page = client.get(url("explore-summary", project, query="tag=billing"))
    assert "<html" in as_page.content.decode() and "bot-2.4" in as_page.content.decode()


@pytest.mark.parametrize(
    ("total", "text"),
    [
        (Total(1), "1 output"),
        (Total(9_999), "9,999 outputs"),
        (Total(120_000, estimated=True), "≈ 120,000 outputs (estimate)"),
    ],
)
def test_the_total_says_when_it_is_an_estimate(total, text):
    assert _total_text(total) == text


def test_the_message_isolates_a_saved_view_name_holding_a_right_to_left_override(client, lead, project):
    """A name "abc\u202edef" (U+202E) is wrapped in U+2068…U+2069 in the message: without it, the words after the
    name ("it is listed here…") showed reversed."""
    client.force_login(lead)

    page = client.post(url("explore-view-save", project), {"name": "abc\u202edef", "query": ""}, follow=True)

    assert "Saved the view “\u2068abc\u202edef\u2069”: it is listed here" in page.content.decode()


def test_a_saved_view_round_trip(client, lead, expert, project, outputs):
    client.force_login(lead)
    response = client.post(
        url("explore-view-save", project), {"name": "Refund promises", "query": "tag=billing&q=refund"}
    )
    saved = SavedView.objects.get(project=project)
    assert (saved.name, saved.query, saved.created_by) == ("Refund promises", "q=refund&tag=billing", lead)
    assert response.status_code == 302 and response["Location"] == url("explore", project, query=saved.query)
    page = client.get(response["Location"]).content.decode()
    assert "Saved the view “Refund promises”" in page
    assert f'href="{url("explore", project, query="q=refund&amp;tag=billing")}"><bdi>Refund promises</bdi></a>' in page

    again = client.post(url("explore-view-save", project), {"name": "Refund promises", "query": ""}, follow=True)
    assert SavedView.objects.count() == 1 and "already" in again.content.decode()

    client.force_login(expert)  # experts open saved views; they do not save or delete them
    assert "Refund promises" in client.get(url("explore", project)).content.decode()
    assert client.post(url("explore-view-save", project), {"name": "Mine", "query": ""}).status_code == 404
    assert client.post(url("explore-view-delete", project, saved.pk)).status_code == 404

    client.force_login(lead)
    assert client.post(url("explore-view-delete", project, saved.pk)).status_code == 302
    assert not SavedView.objects.exists()


def test_a_saved_view_is_deleted_after_a_confirmation_and_the_page_keeps_its_filter(client, lead, project, outputs):
    """The "×" deleted at once and went back to /explore/ without the filter on screen. It now opens the view's page,
    which asks before deleting (no script needed) and goes back to the filter the person was looking at."""
    saved = SavedView.objects.create(project=project, name="Refund promises", query="q=refund")
    client.force_login(lead)
    page = client.get(url("explore", project, query="tag=billing")).content.decode()
    assert url("explore-view-delete", project, saved.pk) not in page  # no delete in one click
    manage = re.search(r'class="manage-view[^"]*" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert manage == url("explore-view", project, saved.pk, query="back=tag%3Dbilling")

    confirm = client.get(manage).content.decode()
    assert "Delete the view “<bdi>Refund promises</bdi>”?" in confirm and SavedView.objects.filter(pk=saved.pk).exists()
    form = confirm.split('id="delete-view-form"')[1].split("</form>")[0]
    assert url("explore-view-delete", project, saved.pk) in form and 'name="back" value="tag=billing"' in form

    deleted = client.post(url("explore-view-delete", project, saved.pk), {"back": "tag=billing"})
    assert deleted.status_code == 302 and deleted["Location"] == url("explore", project, query="tag=billing")
    assert not SavedView.objects.exists()


def test_a_saved_view_is_renamed_from_its_page(client, lead, expert, project, outputs):
    saved = SavedView.objects.create(project=project, name="Refund promises", query="q=refund")
    SavedView.objects.create(project=project, name="Thumbs down", query="feedback=down")
    client.force_login(lead)
    rename = url("explore-view-rename", project, saved.pk)
    assert rename in client.get(url("explore-view", project, saved.pk)).content.decode()

    taken = client.post(rename, {"name": "Thumbs down", "back": "tag=billing"}, follow=True)
    assert "already" in taken.content.decode() and SavedView.objects.get(pk=saved.pk).name == "Refund promises"
    renamed = client.post(rename, {"name": "Refund date promises", "back": "tag=billing"})
    assert renamed.status_code == 302 and renamed["Location"] == url("explore", project, query="tag=billing")
    assert SavedView.objects.get(pk=saved.pk).name == "Refund date promises"
    assert "Renamed the view to “Refund date promises”" in client.get(renamed["Location"]).content.decode()

    client.force_login(expert)  # experts open saved views; they do not rename or delete them
    assert client.get(url("explore-view", project, saved.pk)).status_code == 404
    assert client.post(rename, {"name": "Mine"}).status_code == 404


def saved_view_link(client, project, name: str) -> str:
    """The href of the saved view `name` as the project page lists it."""
    page = client.get(url("project", project)).content.decode()
    return re.search(rf'<a href="([^"]+)"><bdi>{re.escape(name)}</bdi></a>', page)[1].replace("&amp;", "&")


def test_a_saved_view_on_a_queue_opens_the_same_outputs_after_the_lead_renames_the_queue(client, lead, project):
    """The view stores the queue by its slug; renaming the slug in the queue form carries the view along."""
    label_outputs(project, 1, queue="billing")  # routed before "refunds" exists: not in it
    refunds = label_outputs(project, 2, queue="refunds", texts=["Refund one.", "Refund two."])
    index_outputs(project_id=project.pk, output_ids=[item.output_id for item in Item.objects.all()])
    client.force_login(lead)
    client.post(url("explore-view-save", project), {"name": "Refunds down", "query": "queue=refunds"})
    before = shown(client.get(saved_view_link(client, project, "Refunds down")))
    assert sorted(before) == sorted(item.output.external_id for item in refunds)

    queue = refunds[0].queue
    form = {"name": "Refund requests", "slug": "refund-requests", "has_comment": "any", "sample_rate": "1",
            "overlap": "1", "priority": "0", "is_active": "on"}  # fmt: skip
    assert client.post(url("queue-edit", project, queue.pk), form).status_code == 302
    queue.refresh_from_db()
    assert queue.slug == "refund-requests"

    link = saved_view_link(client, project, "Refunds down")
    response = client.get(link)
    assert response.status_code == 200
    assert shown(response) == before
    assert link == url("explore", project, query="queue=refund-requests")


def test_a_saved_view_on_a_deleted_queue_opens_with_the_message_beside_the_queue_field(client, lead, project):
    """An operator may delete a queue in the admin (no service rewrites the views then): the view still opens, as a
    400 naming the queue, with the queue ticked in the bar so the lead can untick it."""
    label_outputs(project, 1, queue="refunds")
    view = SavedView.objects.create(project=project, name="Refunds", query="queue=refunds&feedback=down")
    Queue.objects.get(project=project, slug="refunds").delete()
    client.force_login(lead)

    response = client.get(saved_view_link(client, project, view.name))

    page = response.content.decode()
    assert response.status_code == 400
    assert '<p class="error field-error" id="e-queue">This project has no queue &#x27;refunds&#x27;.</p>' in page
    assert '<input type="checkbox" name="queue" value="refunds" checked aria-invalid="true">' in page


def test_another_projects_saved_view_cannot_be_deleted(client, lead, project, other_project):
    theirs = SavedView.objects.create(project=other_project, name="Theirs", query="")
    client.force_login(lead)
    assert client.post(url("explore-view-delete", project, theirs.pk)).status_code == 404
    assert SavedView.objects.filter(pk=theirs.pk).exists()


def test_the_conversation_shows_the_session_in_order_with_labels_and_gold(client, lead, expert, project, rubric):
    start = timezone.now() - timedelta(hours=3)
    first, second = label_outputs(project, 2, session_id="chat/42", experts=[expert, lead], queue="refunds")
    first.output.occurred_at, second.output.occurred_at = start, start + timedelta(minutes=5)
    for item in (first, second):
        item.output.save(update_fields=["occurred_at"])
    make(project, external_id="unlabeled", session_id="chat/42", occurred_at=start + timedelta(minutes=9))
    make(project, external_id="elsewhere", session_id="chat/43")
    client.force_login(lead)
    response = client.get(url("explore-session", project, query=urlencode({"id": "chat/42"})))
    page = response.content.decode()
    assert response.status_code == 200
    assert re.findall(r'<li class="turn" data-output="([^"]+)"', page) == [
        first.output.external_id, second.output.external_id, "unlabeled"
    ]  # fmt: skip
    assert page.count('data-queue="refunds"') == 2
    assert page.count("<strong><bdi>erin</bdi></strong>") == 2 and page.count("<strong><bdi>lena</bdi></strong>") == 2
    assert "Gold: " in page

    client.force_login(expert)  # blind labeling: an expert sees their own labels only, and no gold
    page = client.get(url("explore-session", project, query=urlencode({"id": "chat/42"}))).content.decode()
    assert page.count("<strong><bdi>erin</bdi></strong>") == 2 and "<bdi>lena</bdi>" not in page
    assert "Gold: " not in page
    assert client.get(url("explore-session", project, query=urlencode({"id": "chat/none"}))).status_code == 404


def test_the_conversation_links_each_reviewed_output_to_where_a_lead_acts_on_it(
    client, lead, engineer, expert, project, rubric
):
    (done,) = label_outputs(project, 1, session_id="chat/7", experts=[expert, lead])
    make(project, external_id="waiting", session_id="chat/7")
    waiting = Item.objects.create(
        project=project, queue=done.queue, output=project.outputs.get(external_id="waiting"), week=done.week, overlap=2
    )
    case = reverse("labeling:adjudicate", args=[project.slug, done.pk])
    conversation = url("explore-session", project, query=urlencode({"id": "chat/7"}))
    client.force_login(lead)
    page = client.get(conversation).content.decode()
    assert f'href="{case}"' in page and client.get(case).status_code == 200
    assert reverse("labeling:adjudicate", args=[project.slug, waiting.pk]) not in page  # not complete: no case yet
    assert "2 of 2 labels" in page and "0 of 2 labels" in page

    client.force_login(engineer)  # may see labels and gold, but adjudication is the leads'
    page = client.get(conversation).content.decode()
    assert "2 of 2 labels" in page and "Gold: " in page and case not in page

    client.force_login(expert)  # blind: neither colleagues' label count nor the lead's case
    page = client.get(conversation).content.decode()
    assert "of 2 labels" not in page and case not in page


def test_a_result_found_only_by_its_input_says_so_instead_of_passing_off_its_answer_as_the_match(client, lead, project):
    make(project, external_id="in-answer", input="Hello", output="Your refund is on its way.")
    make(project, external_id="in-input", input="Where is my refund?", output="The parcel ships Friday.")
    client.force_login(lead)

    page = client.get(url("explore", project, query="q=refund")).content.decode()

    answer, asked = (page.split(f'data-output="{name}"')[1].split("</li>")[0] for name in ("in-answer", "in-input"))
    assert "<mark>refund</mark>" in answer and 'class="matched-elsewhere' not in answer
    assert "<mark>" not in asked and 'class="matched-elsewhere' in asked
    assert "matched in its input" in asked
    assert 'class="matched-elsewhere' not in client.get(url("explore", project)).content.decode()  # no search
    # A search that only leaves words out marks none, and says nothing of where it matched.
    make(project, external_id="no-refund", input="Hi", output="Thanks for writing.")
    assert 'class="matched-elsewhere' not in client.get(url("explore", project, query="q=-refund")).content.decode()


def test_the_verdict_reads_pass_or_fail_in_the_chip_the_facet_and_the_badges_alike(client, lead, project, rubric):
    """The filter menu and the badges said pass/fail; the chip said "Gold: correct = false" and the facet "false 1"."""
    label_outputs(project, 1, experts=[lead], answers=({"correct": False, "helpful": 2},))
    label_outputs(project, 2, experts=[lead], answers=({"correct": True, "helpful": 4},))
    client.force_login(lead)

    page = client.get(url("explore", project, query="gold=correct:false")).content.decode()
    facets = client.get(url("explore-summary", project), headers={"X-Requested-With": "fetch"}).content.decode()

    chip = page.split('class="chip filter-chip">')[1].split("<a")[0].strip()
    assert chip == "Gold: fail" and "gold: fail" in page
    verdicts = facets.split('data-facet="Gold: ')[1].split("</ul>")[0]
    assert re.findall(r'">(\w+)</a>\s*<span class="count">(\d+)', verdicts) == [("pass", "2"), ("fail", "1")]
    assert ">true<" not in verdicts and ">false<" not in verdicts


def test_a_closed_weeks_verdict_link_reads_pass_or_fail_on_the_question_it_names(
    client, lead, project, rubric, django_assert_num_queries
):
    """v2 put `accurate` above `correct`: a closed week's "Passed outputs" link (`gold=correct:true`) showed the chip
    "Gold: correct = true", rows badged by `accurate` (a fail on one, nothing on the other) and an `accurate` facet.
    The outputs were judged on `correct`: the chip, badges and facet read it, in pass/fail words, naming it."""
    from labeling.services.rubrics import publish_rubric

    label_outputs(project, 1, experts=[lead], answers=({"correct": True},))  # labeled under v1
    accurate = {"key": "accurate", "kind": "binary", "prompt": "Is it accurate?", "required": False}
    v2 = publish_rubric(project=project, questions=[accurate, *rubric.questions], guidelines="", published_by=lead)
    label_outputs(project, 1, experts=[lead], rubric=v2, answers=({"accurate": False, "correct": True},))
    client.force_login(lead)
    client.get(url("explore", project))  # warm the session

    # As the page without a filter (14), plus the earlier verdict questions, read once with the current rubric for the
    # filter, the badges and the chips (they were read three times, the rubric twice: 18): per page, none per row.
    with django_assert_num_queries(15):
        page = client.get(url("explore", project, query="gold=correct:true")).content.decode()
    # The facets fragment: its summary and per-day counts read them once too (the rubric was read six times: 13).
    with django_assert_num_queries(9):
        facets = client.get(
            url("explore-summary", project, query="gold=correct:true"), headers={"X-Requested-With": "fetch"}
        ).content.decode()

    assert len(shown_ids := re.findall(r'<li class="result" data-output="([^"]+)"', page)) == 2, shown_ids
    chip = page.split('class="chip filter-chip">')[1].split("<a")[0].strip()
    assert chip == "Gold: correct: pass"
    badges = re.findall(r'class="badge \w+ verdict">([^<]+)', page.replace("<bdi>", "").replace("</bdi>", ""))
    assert badges == ["gold: correct: pass"] * 2
    assert 'data-facet="Gold: Is the answer correct?"' in facets and "Is it accurate?" not in facets
    verdicts = facets.split('data-facet="Gold: ')[1].split("</ul>")[0]
    assert re.findall(r'>(\w+) ✓</span>\s*<span class="count">(\d+)', verdicts) == [("pass", "2")]  # in the filter

    # The current verdict question reads as it did: unnamed.
    page = client.get(url("explore", project, query="gold=accurate:false")).content.decode()
    assert page.split('class="chip filter-chip">')[1].split("<a")[0].strip() == "Gold: fail"
    assert re.findall(r'class="badge \w+ verdict">([^<]+)', page) == ["gold: fail"]


def test_the_explore_page_query_count_stays_flat(
    client, lead, project, rubric, django_assert_num_queries, django_assert_max_num_queries
):
    label_outputs(project, 3, tags=["billing"], texts=["Your refund is on its way."] * 3)
    make(project, 60, tags=["billing"], output="Refunds take five days.", metadata={"locale": "en-GB"})
    client.force_login(lead)
    client.get(url("explore", project))  # warm the session
    # session, user, membership+project, page+1 rows, verdict question's rubric, gold of the rows, bounded count,
    # filter choices, queues, saved views
    # The total is counted in a savepoint with a time budget: savepoint, budget set, count, reset, release.
    with django_assert_num_queries(14):
        assert len(shown(client.get(url("explore", project)))) == 50
    # and with a search: its check, the marked matches; the queue filter's ids
    with django_assert_num_queries(17):
        response = client.get(url("explore", project, query="q=refund&tag=billing&queue=sample&labeled=yes"))
        assert len(shown(response)) == 3
    with django_assert_max_num_queries(16):
        assert client.get(url("explore-summary", project, query="q=refund")).status_code == 200


def test_the_conversation_query_count_does_not_grow_with_turns(
    client, lead, project, rubric, django_assert_num_queries
):
    label_outputs(project, 4, session_id="s-9", experts=None)
    client.force_login(lead)
    # session, user, membership+project, rubric's questions, outputs, items (+queue, resolution), labels (+expert);
    # then the usage events of its end users, two queries each for at most three (`selectors.explore.usage`)
    with django_assert_num_queries(7 + 2 * 3):
        assert client.get(url("explore-session", project, query=urlencode({"id": "s-9"}))).status_code == 200


def test_a_queue_filter_in_a_link_keeps_its_values(client, lead, project, outputs):
    client.force_login(lead)
    response = client.get(url("explore", project, query="tag=billing"))
    add_form = response.content.decode()
    value = re.search(r'<input type="hidden" name="filter" value="([^"]*)">', add_form).group(1)
    assert parse_qs(value.replace("&amp;", "&")) == {"tag": ["billing"]}
    export = re.search(r'id="export-csv" href="([^"]+)"', add_form).group(1)
    assert urlsplit(export.replace("&amp;", "&")).query == "tag=billing"


@pytest.mark.parametrize("session_id", ["line\nbreak", "..", "a/../b", "#1 & ?x=y"])
def test_any_session_id_links_to_its_conversation(client, lead, project, session_id):
    make(project, output="Where is it?", session_id=session_id)
    client.force_login(lead)
    page = client.get(url("explore", project)).content.decode()
    link = re.search(r'class="session-link" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    conversation = client.get(link)
    assert conversation.status_code == 200 and "Where is it?" in conversation.content.decode()


def test_an_expert_sees_no_gold_on_the_page_or_in_the_facets_and_cannot_filter_by_it(
    client, lead, expert, project, rubric
):
    label_outputs(project, 2, experts=[lead], answers=({"correct": True, "helpful": 4},))  # gold: the lead alone
    for person, shown in ((lead, True), (expert, False)):
        client.force_login(person)
        page = client.get(url("explore", project)).content.decode()
        facets = client.get(url("explore-summary", project), headers={"X-Requested-With": "fetch"}).content.decode()
        assert ("gold: pass" in page) is shown and ("Gold:" in facets) is shown
    refused = client.get(url("explore", project, query="gold=correct:true"))
    assert refused.status_code == 400 and "Experts label blind" in refused.content.decode()
    assert client.get(url("explore-summary", project, query="gold=correct:true")).status_code == 400


def test_an_expert_is_not_listed_the_saved_views_that_filter_by_gold(client, lead, expert, project, rubric):
    """A view of the failing outputs opened for an expert only to say "Experts label blind": it is not listed to them
    (nor its name, which can say what failed), on the explore page or the project page."""
    label_outputs(project, 1, experts=[lead], answers=({"correct": False},))
    SavedView.objects.create(project=project, name="Thumbs down", query="feedback=down")
    SavedView.objects.create(project=project, name="Wrong refund dates", query="q=refund&gold=correct%3Afalse")
    SavedView.objects.create(project=project, name="Theme one", query="theme=2026-W48.1")
    for person, listed in ((lead, True), (expert, False)):
        client.force_login(person)
        for page in (url("explore", project), url("project", project)):
            html = client.get(page).content.decode()
            assert "Thumbs down" in html, page
            assert ("Wrong refund dates" in html) is listed and ("Theme one" in html) is listed, page


def test_a_tag_facet_narrows_to_the_count_it_shows(client, lead, project, outputs):
    """Under tag=billing, the shipping facet counts the billing outputs that are also tagged shipping (one): its
    link must show that one, not every output tagged either (a union of three)."""
    client.force_login(lead)
    page = client.get(url("explore-summary", project, query="tag=billing"), headers={"X-Requested-With": "fetch"})
    link, count = re.search(
        r'href="/p/support-bot/explore/\?([^"]+)">shipping</a>\s*<span class="count">(\d+)<', page.content.decode()
    ).groups()
    followed = client.get(url("explore", project, query=link.replace("&amp;", "&")))
    assert count == "1" and shown(followed) == ["both-1"]


def test_a_tag_facet_under_any_of_several_tags_is_a_count_without_a_link(client, lead, project, outputs):
    """Under "billing or shipping", no filter says "and also urgent": the urgent facet shows its count, no link."""
    make(project, external_id="urgent-1", tags=["billing", "urgent"])
    client.force_login(lead)
    page = client.get(
        url("explore-summary", project, query="tag=billing&tag=shipping"), headers={"X-Requested-With": "fetch"}
    ).content.decode()
    assert re.search(r"<span>urgent</span>\s*<span class=\"count\">1<", page)


def test_a_facet_value_with_spaces_at_its_ends_links_to_exactly_its_outputs_and_the_bar_keeps_it(client, lead, project):
    """Ingest stores tags, models and metadata as sent; a typed value is read without the spaces at its ends, so the
    links for "gpt-4o ", " vip", " billing" (and the key "k:y", which `meta=key:value` would split) carry the value in
    quotes, which the filter reads exactly: they find the output their facet counts, not the one stored without the
    spaces. The bar shows the value in its quotes, so searching again keeps it; typed in quotes, it finds the same."""
    make(project, external_id="odd", model="gpt-4o ", tags=[" vip"], metadata={"topic": " billing", "k:y": "v"})
    make(project, external_id="plain", model="gpt-4o", tags=["vip"], metadata={"topic": "billing"})
    client.force_login(lead)

    page = client.get(url("explore-summary", project), headers={"X-Requested-With": "fetch"})

    links = [link.replace("&amp;", "&") for link in re.findall(r'href="/p/support-bot/explore/\?([^"]+)">', page.text)]
    spaced = ["model=%22gpt-4o+%22", "tag=%22+vip%22", "meta=topic%3A%22+billing%22", "meta=%22k%3Ay%22%3Av"]
    assert set(spaced) <= set(links)
    for link in spaced:
        followed = client.get(url("explore", project, query=link))
        assert followed.status_code == 200 and shown(followed) == ["odd"], link
    for typed in ({"tag": '" vip"'}, {"meta": 'topic:" billing"'}, {"model": ' "gpt-4o " '}, {"meta": '"k:y": v'}):
        followed = client.get(url("explore", project, query=urlencode(typed)), follow=True)
        assert followed.status_code == 200 and shown(followed) == ["odd"], typed
    bar = client.get(url("explore", project, query="tag=%22+vip%22&meta=topic%3A%22+billing%22&session=%22+s%22")).text
    assert 'value="&quot; vip&quot;"' in bar and 'value="topic:&quot; billing&quot;"' in bar
    assert 'value="&quot; s&quot;"' in bar
    assert 'value="&quot;gpt-4o &quot;"' in bar and 'value="gpt-4o"' in bar  # each model's box sends it as typed


def test_a_typed_filter_value_is_read_without_the_spaces_around_it(client, lead, project):
    """A lead types `topic: billing`, or pastes an id with a trailing space: the filter used to look for " billing"
    and "u-7 " as stored, and found nothing. Spaces at a typed value's ends and around the colon are not part of it."""
    make(project, external_id="plain", metadata={"topic": "billing"}, end_user_id="u-7", tags=["vip"])
    make(project, external_id="other", metadata={"topic": "shipping"}, end_user_id="u-8", tags=["new"])
    client.force_login(lead)

    for typed in (
        {"meta": "topic: billing"},
        {"meta": "topic:billing "},
        {"meta": " topic : billing"},
        {"end_user": "u-7 "},
        {"tag": " vip"},
        {"has_meta": "topic ", "tag": "vip "},
    ):
        response = client.get(url("explore", project, query=urlencode(typed)), follow=True)
        assert response.status_code == 200 and shown(response) == ["plain"], typed
    assert (
        client.get(url("explore", project, query="meta=topic%3A+billing"))
        .headers["Location"]
        .endswith("?meta=topic%3Abilling")
    )  # the canonical filter, as a facet link writes it


def test_the_migration_quotes_a_saved_views_values_whose_spaces_count(client, lead, project):
    """A view saved while values were read as stored (`tag=+vip` for the tag " vip") would open "vip" now: the
    migration writes such values in quotes, so the view opens what it was saved for; other views stay as they are."""
    make(project, external_id="odd", tags=[" vip"], metadata={"topic": " billing"})
    make(project, external_id="plain", tags=["vip"], metadata={"topic": "billing"})
    spaced = SavedView.objects.create(project=project, name="Spaced", query="tag=+vip&meta=topic%3A+billing&labeled=no")
    plain = SavedView.objects.create(project=project, name="Plain", query="tag=vip&meta=topic%3Abilling")

    importlib.import_module("labeling.migrations.0046_quote_saved_view_values_with_spaces").quote_values(apps, None)

    spaced.refresh_from_db()
    plain.refresh_from_db()
    assert spaced.query == "tag=%22+vip%22&meta=topic%3A%22+billing%22&labeled=no"
    assert plain.query == "tag=vip&meta=topic%3Abilling"
    client.force_login(lead)
    assert shown(client.get(url("explore", project, query=spaced.query))) == ["odd"]
    assert shown(client.get(url("explore", project, query=plain.query))) == ["plain"]


def test_a_value_with_spaces_at_its_ends_is_shown_in_quotes_beside_the_one_without(client, lead, project):
    """ " vip" and "vip" are two tags: their facets and chips used to read alike ("vip" twice)."""
    make(project, external_id="odd", tags=[" vip"])
    make(project, external_id="plain", tags=["vip"])
    client.force_login(lead)

    facets = client.get(url("explore-summary", project), headers={"X-Requested-With": "fetch"}).text
    chips = client.get(url("explore", project, query="tag=%22+vip%22&tag=vip")).text

    assert re.search(r'tag=%22\+vip%22">“ vip”</a>', facets) and re.search(r'tag=vip">vip</a>', facets)
    assert "Tag: “ vip”" in chips and "Tag: vip " in chips


def test_an_output_that_failed_in_one_queue_shows_and_counts_as_failed(client, lead, expert, project, rubric):
    """Its gold answer passed in one queue and failed in another: the project's one rule (`rules.gold.output_verdict`,
    which failure themes and "what changed" read) makes it a fail. The row used to show the first queue's pass, and
    the verdict facet to count it as one, while the facet's fail link found it (and `gold=correct:true` did too)."""
    (passed,) = label_outputs(project, queue="sample", experts=[lead, expert])  # both say correct
    billing = Queue.objects.create(project=project, slug="billing", name="Billing", overlap=1)
    hand_picked.add_to_queue(project=project, queue=billing, output_ids=[passed.output_id])
    submit_label(expert=expert, item=next_item(expert=expert, queue=billing), rubric=rubric, answers={"correct": False})
    resolve_item(item_id=Item.objects.get(queue=billing).pk)
    client.force_login(lead)

    page = client.get(url("explore", project)).content.decode()
    summary = client.get(url("explore-summary", project)).content.decode()

    assert "gold: fail" in page and "gold: pass" not in page
    verdicts = re.findall(r'explore/\?gold=correct%3A(\w+)">\w+</a>\s*<span class="count">(\d+)<', summary)
    assert verdicts == [("false", "1")]
    assert shown(client.get(url("explore", project, query="gold=correct%3Afalse"))) == [passed.output.external_id]
    assert shown(client.get(url("explore", project, query="gold=correct%3Atrue"))) == []  # it did not pass


def test_a_yes_no_question_never_the_verdict_finds_an_output_by_each_of_its_items_gold_answers(
    client, lead, expert, project, rubric
):
    """Only a verdict question (now or in an earlier version) makes a fail in one queue outweigh a pass in another:
    `polite`, never the verdict question, has no pass or fail ("yes" may be the bad answer), so `gold=polite:true`
    finds an output one queue's gold calls polite, as the README's explore section says and views saved with it
    found."""
    from labeling.services.rubrics import publish_rubric

    polite = {"key": "polite", "kind": "binary", "prompt": "Is it polite?", "required": False}
    v2 = publish_rubric(project=project, questions=[*rubric.questions, polite], guidelines="", published_by=lead)
    answers = ({"correct": True, "polite": True}, {"correct": True, "polite": True})
    (item,) = label_outputs(project, queue="sample", experts=[lead, expert], rubric=v2, answers=answers)
    billing = Queue.objects.create(project=project, slug="billing", name="Billing", overlap=1)
    hand_picked.add_to_queue(project=project, queue=billing, output_ids=[item.output_id])
    answer = {"correct": True, "polite": False}
    submit_label(expert=expert, item=next_item(expert=expert, queue=billing), rubric=v2, answers=answer)
    resolve_item(item_id=Item.objects.get(queue=billing).pk)
    client.force_login(lead)

    for query in ("gold=polite%3Atrue", "gold=polite%3Afalse", "gold=correct%3Atrue"):
        assert shown(client.get(url("explore", project, query=query))) == [item.output.external_id], query


def test_a_histogram_of_a_metadata_key_below_one_labels_its_bins_and_percentiles_with_decimals(client, lead, project):
    """A key such as `confidence` from 0 to 1: its bins and percentiles were written as whole numbers ("0 to 0",
    "p50 = 1"), so the chart said nothing. They get as many decimals as a bin's width needs."""
    for n in range(1, 11):
        make(project, external_id=f"c-{n}", metadata={"confidence": n / 10})
    client.force_login(lead)

    page = client.get(url("explore-summary", project), headers={"X-Requested-With": "fetch"}).text

    (chart,) = re.findall(r"<figcaption class=\"chart-title\">confidence</figcaption>.*?</figure>", page, re.S)
    assert "p50 = 0.60" in chart and "p99 = 1.00" in chart
    assert re.search(r"<td>0\.10 to 0\.1\d</td>", chart) and "0 to 0<" not in chart


def test_an_expert_is_not_offered_the_gold_or_failure_theme_filters(client, lead, expert, project, rubric):
    """Experts are refused a gold answer and a failure theme (blind labeling): the filter bar has no field for them,
    rather than a "Gold verdict" select that offers only "any"; a link that still carries one says why it is refused."""
    label_outputs(project, 1, experts=[lead], answers=({"correct": True},))
    for person, offered in ((lead, True), (expert, False)):
        client.force_login(person)
        page = client.get(url("explore", project)).content.decode()
        assert ('name="gold"' in page) is offered and ("Gold verdict" in page) is offered, person
        assert ('name="theme"' in page) is offered and ("Failure theme" in page) is offered, person
    for query in ("gold=correct:true", "theme=2026-W48.1"):
        refused = client.get(url("explore", project, query=query))
        html = refused.content.decode()
        assert refused.status_code == 400 and "Experts label blind" in html and 'role="alert"' in html, query
        assert 'id="filter-bar"' in html and 'name="gold"' not in html and 'name="theme"' not in html, query


def test_the_day_range_steps_say_one_day_and_never_step_past_the_years_a_filter_takes(client, lead, project):
    """A one-day range offered "‹ 1 days before", and on the first day a filter may name, a link to a day the filter
    refuses (a 400 page). It says "Day before" / "Day after", and offers no step out of the years."""
    client.force_login(lead)

    response = client.get(url("explore", project, query="from=2000-01-01&to=2000-01-01"))

    ranges = response.content.decode().split('class="date-ranges small"')[1].split("</p>")[0]
    labels = re.findall(r">([^<>]+)</a>", ranges)
    assert "Day after ›" in labels and "‹ Day before" not in labels
    assert not any("1 days" in label for label in labels)
    assert "1999-12-31" not in ranges


def test_the_keys_hint_offers_x_only_to_those_with_boxes_to_tick(client, lead, engineer, project, outputs):
    """The hint promised "x tick it" to engineers, who have no boxes to tick (adding to a queue is a lead's)."""
    hints = {}
    for user in (lead, engineer):
        client.force_login(user)
        page = client.get(url("explore", project)).content.decode()
        hints[user.username] = page.split('id="keys-hint"')[1].split("</p>")[0]

    assert ("tick it" in hints[lead.username], "tick it" in hints[engineer.username]) == (True, False)
    assert "open it" in hints[engineer.username]


def test_past_the_limit_the_counts_say_which_outputs_they_are_of(client, lead, project, outputs, monkeypatch):
    """Past the limit the facets count the outputs the list shows first (longest first here), as they are: the
    fragment names them and the total, and no count is "≈" a scaled guess."""
    monkeypatch.setattr(explore_facets, "EXACT_LIMIT", 2)
    client.force_login(lead)

    fragment = client.get(url("explore-summary", project, query="sort=longest"), headers={"X-Requested-With": "fetch"})

    html = fragment.content.decode()
    assert "Counts from the longest 2 of 3 matches, the first in the list's order" in html
    model = html.split('data-facet="Model"')[1].split("</div>")[0]
    assert re.findall(r'<span class="count">([^<]*)</span>', model) == ["2"]  # both longest are bot-2.4's
    assert "≈" not in html and "Output length (characters) (the longest 2)" in html
    newest = client.get(url("explore-summary", project), headers={"X-Requested-With": "fetch"}).content.decode()
    assert "Counts from the newest 2 of 3 matches: narrow" in newest  # the default order goes without saying


@pytest.mark.parametrize(("typed", "option"), [("correct:fail", "correct:false"), ("correct: Pass", "correct:true")])
def test_a_verdict_typed_in_words_sets_the_verdict_menu(client, lead, project, rubric, typed, option):
    """`gold=correct:fail`, words the filter reads, showed the menu at "any" and a text field of its own beside it."""
    client.force_login(lead)

    bar = client.get(url("explore", project, query=urlencode({"gold": typed})), follow=True).context["bar"]

    assert [choice.value for choice in bar.gold_options if choice.checked] == [option] and bar.gold_others == []


def test_a_lead_finds_the_outputs_the_experts_disagreed_on_and_an_expert_is_not_offered_them(
    client, lead, expert, other_expert, project, rubric
):
    """The "Experts disagreed" select beside Labeled and Flagged, its chip, and blind labeling: an expert's bar has no
    such field, a link or a saved view that carries one (yes or no) is refused or not listed to them."""
    experts = [expert, other_expert]
    label_outputs(project, answers=({"correct": True}, {"correct": True}), experts=experts)  # out-00000
    label_outputs(project, answers=({"correct": True}, {"correct": False}), experts=experts)  # out-00001
    SavedView.objects.create(project=project, name="Split calls", query="disagree=no")
    client.force_login(lead)
    response = client.get(url("explore", project, query="disagree=yes"))
    html = response.content.decode()
    assert shown(response) == ["out-00001"]
    assert re.search(r'<select id="f-disagree" name="disagree"[^>]*>.*?<option value="yes" selected>', html, re.S)
    assert "Experts disagreed" in html and "Split calls" in html
    assert '<option value="no">no, they agreed</option>' in html
    agreed = client.get(url("explore", project, query="disagree=no"))
    assert shown(agreed) == ["out-00000"] and "Experts agreed" in [chip.label for chip in agreed.context["chips"]]

    client.force_login(expert)
    page = client.get(url("explore", project)).content.decode()
    assert 'name="disagree"' not in page and 'name="labeled"' in page and "Split calls" not in page
    for query in ("disagree=yes", "disagree=no"):
        refused = client.get(url("explore", project, query=query))
        assert refused.status_code == 400 and "Experts label blind" in refused.content.decode(), query


def test_a_project_without_a_pass_fail_question_offers_no_disagreement_filter(client, lead, project):
    """Nothing to disagree on: no select that could only be refused."""
    make(project, output="Hello")
    client.force_login(lead)
    html = client.get(url("explore", project)).content.decode()
    assert 'name="labeled"' in html and 'name="disagree"' not in html
    refused = client.get(url("explore", project, query="disagree=yes"))
    assert refused.status_code == 400 and "no pass/fail question" in refused.content.decode()


def test_the_filter_bars_tooltips_show_the_help_as_text_without_its_markdown(client, lead, project):
    """A title attribute shows its text as it is: the help's code spans (for the API schema, which renders them)
    lose their backticks, and keep what they quote."""
    label_outputs(
        project, 1, answers=({"correct": True}, {"correct": False})
    )  # a verdict question: the disagree select
    client.force_login(lead)

    page = client.get(url("explore", project)).content.decode()

    titles = dict(re.findall(r'<(?:input|select) id="f-([\w-]+)"[^>]*? title="([^"]*)"', page))
    assert {"q", "sort", "meta", "labeled", "disagree", "has-event"} <= set(titles)
    assert not [name for name, title in titles.items() if "`" in title]
    assert titles["meta"].startswith("key:value: the metadata key holds this value")
    assert "&quot;a&quot;&quot;b:c&quot;:v is the key a&quot;b:c" in titles["meta"]
    assert titles["disagree"].startswith("yes or no (or true/false, 1/0): yes, the experts disagreed")


def test_every_metadata_key_the_bar_suggests_opens_a_page(client, lead, project):
    """The bar's metadata keys (`has_meta`) had no length limit: a key of 201 characters was suggested, and picking it
    was a 400 ("Use at most 200 characters"). A key over the limit is left out; every key offered opens the page."""
    make(project, external_id="long-key", metadata={"k" * 201: "v", "k" * 200: "w", "plan": "pro"})
    client.force_login(lead)

    page = client.get(url("explore", project)).content.decode()

    datalist = page.split('<datalist id="meta-keys">')[1].split("</datalist>")[0]
    offered = re.findall(r'<option value="([^"]*)">', datalist)
    assert offered == ["k" * 200, "plan"]
    for key in offered:
        assert client.get(url("explore", project, query=urlencode({"has_meta": key}))).status_code == 200, key


@pytest.mark.parametrize("typed", ["nope:true", "nope:happy"])
def test_an_unknown_gold_question_is_refused_naming_every_question_the_filter_takes(
    client, lead, project, rubric, typed
):
    """v2 drops `correct` for `accurate`: `gold=correct:fail` (a closed week's link) still works, as an earlier
    version's verdict question, but the refusal of an unknown question listed only the current rubric's keys."""
    from labeling.services.rubrics import publish_rubric

    accurate = {"key": "accurate", "kind": "binary", "prompt": "Is it accurate?", "required": False}
    kept = [question for question in rubric.questions if question["key"] != "correct"]
    publish_rubric(project=project, questions=[accurate, *kept], guidelines="", published_by=lead)
    client.force_login(lead)

    refused = client.get(url("explore", project, query=urlencode({"gold": typed})))

    assert refused.status_code == 400
    assert (
        "No pass/fail, choice or rating question 'nope'; use one of ['accurate', 'helpful', 'tone'], or an earlier "
        "rubric version's verdict question with pass or fail: ['correct']."
    ) in refused.content.decode().replace("&#x27;", "'")
    assert client.get(url("explore", project, query="gold=correct%3Afail")).status_code == 200  # as it says


def test_a_model_or_tag_with_spaces_at_its_ends_is_found_by_its_link_up_to_the_limit_as_read(client, lead, project):
    """A model or tag with spaces at its ends is written in quotes, 2 characters more, and read off again: at 200
    characters as stored its facet link and the bar's suggestion open it; a tag over the limit (a model's column holds
    200) is offered by neither."""
    from labeling.selectors.explore_page import filter_choices

    too_long, fits = " " + "m" * 199 + " ", " " + "m" * 198 + " "
    make(project, external_id="too-long", model="plain", tags=[too_long])
    make(project, external_id="fits", model=fits, tags=[fits])
    client.force_login(lead)

    for parameter in ("model", "tag"):
        refused = client.get(url("explore", project, query=urlencode({parameter: f'"{too_long}"'})))
        assert refused.status_code == 400, parameter
        assert "Use at most 200 characters" in refused.content.decode()
        found = client.get(url("explore", project, query=urlencode({parameter: f'"{fits}"'})))
        assert found.status_code == 200 and shown(found) == ["fits"], parameter
    facets = client.get(url("explore-summary", project), headers={"X-Requested-With": "fetch"}).content.decode()
    links = [link.replace("&amp;", "&") for link in re.findall(r'href="/p/support-bot/explore/\?([^"]+)">', facets)]
    offered = {link for link in links if link.startswith(("model=", "tag="))}
    assert offered == {urlencode({"model": f'"{fits}"'}), "model=plain", urlencode({"tag": f'"{fits}"'})}
    choices = filter_choices(project)
    assert set(choices.models) == {fits, "plain"} and choices.tags == [f'"{fits}"']
