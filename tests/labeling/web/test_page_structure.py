"""What a screen reader finds on the pages (accessibility walkthrough T #5-#7): a skip link to the main landmark,
messages and breadcrumbs in landmarks, a named scrollable context box, headings in order, and repeated buttons and
links named with what they act on (Django test client)."""

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.template.loader import render_to_string

from labeling.models import CycleStatus, ReviewCycle, week_label
from labeling.rules import calendar
from labeling.services import cycles
from labeling.templatetags.expertloop import structured_context
from tests.factories import OutputFactory, created_weeks_ago
from tests.helpers.reports import sample_report

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


class _Elements(HTMLParser):
    """Each element's tag, attributes, enclosing tags and text, by id; and the first elements in document order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.by_id: dict[str, dict] = {}
        self.order: list[tuple[str, dict, list[str]]] = []
        self._stack: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.order.append((tag, attrs, [t for t, _ in self._stack]))
        element = {"tag": tag, "attrs": attrs, "text": "", "inside": [(t, a) for t, a in self._stack]}
        if attrs.get("id"):
            self.by_id[attrs["id"]] = element
        if tag not in {"input", "br", "img", "meta", "link", "hr"}:
            self._stack.append((tag, element))

    def handle_endtag(self, tag):
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index][0] == tag:
                del self._stack[index:]
                break

    def handle_data(self, data):
        for _, element in self._stack:
            element["text"] += data


def elements(html: str) -> _Elements:
    reader = _Elements()
    reader.feed(html)
    return reader


def name_from(page: _Elements, element_id: str) -> str:
    """The accessible name aria-labelledby gives an element: the text of each element it names, in order."""
    ids = page.by_id[element_id]["attrs"]["aria-labelledby"].split()
    return " ".join(" ".join(page.by_id[i]["text"].split()) for i in ids)


@pytest.fixture
def lead_client(client, lead):
    client.force_login(lead)
    return client


def test_the_first_link_of_a_page_skips_to_its_main_landmark(lead_client, project):
    html = lead_client.get(f"/p/{project.slug}/").content.decode()
    page = elements(html)

    first_link = next(element for element in page.order if element[0] == "a")[1]
    assert first_link.get("class") == "skip-link" and first_link["href"] == "#main"
    assert '<a class="skip-link" href="#main">Skip to main content</a>' in html
    assert page.by_id["main"]["tag"] == "main" and page.by_id["main"]["attrs"].get("tabindex") == "-1"


def test_flash_messages_sit_in_a_named_region(lead_client, project):
    response = lead_client.post(
        f"/p/{project.slug}/manage/members/invite", {"email": "new@example.com", "role": "expert"}
    )
    page = elements(lead_client.get(response["Location"]).content.decode())

    message = next(element for element in page.order if "message" in (element[1].get("class") or "").split())
    inside = message[2]
    box = next(element for element in page.order if element[1].get("class") == "messages")
    assert box[0] == "section" and box[1].get("aria-label") == "Messages"
    assert "section" in inside


def test_flash_messages_open_the_main_landmark_so_the_skip_link_does_not_pass_them(lead_client, project):
    """As GOV.UK's notification banners: a message is the first thing in <main>, where "Skip to main content" lands,
    not between the top bar and <main>, where a keyboard or screen reader user who skips the top bar never hears it."""
    response = lead_client.post(
        f"/p/{project.slug}/manage/members/invite", {"email": "new@example.com", "role": "expert"}
    )
    page = elements(lead_client.get(response["Location"]).content.decode())

    main_at = next(at for at, element in enumerate(page.order) if element[0] == "main")
    tag, attributes, inside = page.order[main_at + 1]
    assert (tag, attributes.get("class"), inside[-1]) == ("section", "messages", "main")


@pytest.mark.parametrize(
    "path",
    ["/p/{slug}/explore/", "/p/{slug}/datasets/new", "/p/{slug}/manage/queues/new", "/me/password"],
)
def test_breadcrumbs_are_a_named_navigation_landmark(lead_client, project, path):
    html = lead_client.get(path.format(slug=project.slug)).content.decode()
    assert '<p class="crumbs">' not in html
    assert re.search(r'<nav class="crumbs" aria-label="Breadcrumb">', html)


def test_the_scrollable_context_box_is_a_named_region():
    rendered = render_to_string("labeling/_context.html", structured_context({"order": {"id": "A-1"}}))
    box = next(
        attrs for tag, attrs, _ in elements(rendered).order if "structured-context" in (attrs.get("class") or "")
    )
    assert box.get("role") == "region" and box.get("aria-label") == "Context"


def test_explores_counts_have_an_h2_above_their_h3s(lead_client, project):
    OutputFactory(project=project, external_id="one", tags=["refunds"], model="gpt-x")
    html = lead_client.get(f"/p/{project.slug}/explore/summary").content.decode()
    levels = [int(tag[1]) for tag, _, _ in elements(html).order if re.fullmatch(r"h[1-6]", tag)]
    assert levels and levels[0] == 1
    assert all(later <= earlier + 1 for earlier, later in zip(levels, levels[1:], strict=False)), levels


def test_the_meetings_repeated_buttons_and_links_say_what_they_act_on(lead_client, project, lead):
    created_weeks_ago(project, 4)
    this_week = calendar.current_week(project)
    last_week = this_week - timedelta(days=7)
    earlier = cycles.decide_in_week(user=lead, project=project, week=last_week, text="Ask **legal**", owner="lead")
    mine = cycles.decide_in_week(user=lead, project=project, week=this_week, text="Retrain the router", owner="eng")
    changes = [
        {"rank": rank, "kind": "share", "dimension": "model", "key": key, "value": key, "direction": "up",
         "sentence": f"More outputs from {key}", "q_value": 0.01, "p_value": 0.001, "test": "z",
         "explore_query": f"model={key}", "baseline_weeks": 4, "tests": 9, "partial": False}
        for rank, key in ((1, "gpt-x"), (2, "gpt-y"))
    ]  # fmt: skip
    closed = last_week - timedelta(days=7)
    report = sample_report(week=week_label(closed), week_start=closed.isoformat(), changes=changes)
    ReviewCycle.objects.create(project=project, week=closed, status=CycleStatus.CLOSED, report=report)

    page = elements(lead_client.get(f"/p/{project.slug}/meeting/{week_label(this_week)}/").content.decode())
    assert name_from(page, f"open-decision-{earlier.pk}-done") == "Mark done Ask legal"
    assert name_from(page, f"decision-{mine.pk}-done") == "Mark done Retrain the router"
    assert name_from(page, f"decision-{mine.pk}-delete") == "Delete Retrain the router"

    page = elements(lead_client.get(f"/p/{project.slug}/meeting/{week_label(closed)}/").content.decode())
    assert name_from(page, "change-1-outputs") == "See these outputs More outputs from gpt-x"
    assert name_from(page, "change-2-outputs") == "See these outputs More outputs from gpt-y"


def test_a_week_named_reads_as_its_label_and_first_day_and_no_week_as_nothing():
    """`week_named`, as Django's `date` filter: a catch-all branch (platform/_close.html) may pass no week."""
    from datetime import date

    from django.template import Context, Template

    page = Template("{% load expertloop %}[{{ week|week_named }}]")

    assert page.render(Context({"week": date(2026, 11, 30)})) == "[2026-W49 (week of 30 Nov)]"
    assert page.render(Context({"week": None})) == "[]"
    assert page.render(Context({"week": ""})) == "[]"
    assert page.render(Context({})) == "[]"
