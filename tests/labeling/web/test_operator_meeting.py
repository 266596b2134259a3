"""An operator who is also one of a project's experts reads its meeting page, the page's Markdown export and the cycle
report API as an operator (`rules.access.reader_membership`), as they explore it: not blind (others' flag notes and
comments, who flagged), and with the page's links into explore when the project keeps its experts out. The same expert
without the permission reads them blind, without those links."""

from datetime import date

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from labeling.models import CycleStatus, ReviewCycle, week_label
from tests.factories import created_weeks_ago
from tests.helpers.reports import sample_report

pytestmark = pytest.mark.django_db

WEEK = date(2026, 11, 16)  # 2026-W47, long over
LABEL = week_label(WEEK)
NOTE = "Promises a refund we do not offer"  # erin's flag note in the sample report; lena commented on it
COMMENT = "Agreed, see policy 4.2"


@pytest.fixture
def closed(project, expert):
    """Experts kept out of explore; W47 closed with a report whose agenda holds erin's flag (the `expert` fixture)."""
    created_weeks_ago(project, 52)
    project.experts_can_explore = False
    project.save(update_fields=["experts_can_explore"])
    change = {
        "rank": 1, "kind": "feedback", "dimension": "feedback", "key": "down", "direction": "up", "q_value": 0.01,
        "p_value": 0.001, "test": "chi2", "sentence": "More thumbs down.", "explore_query": "feedback=down",
    }  # fmt: skip
    report = sample_report(week=LABEL, week_start=WEEK.isoformat(), changes=[change])
    ReviewCycle.objects.create(project=project, week=WEEK, status=CycleStatus.CLOSED, report=report)
    return project


def make_operator(user):
    user.user_permissions.add(Permission.objects.get(codename="operate_all_projects"))
    return user


def tile(html: str, name: str) -> str:
    return html.split(f'data-tile="{name}"')[1].split('<div class="tile"')[0]


def read_page(client, project) -> tuple[str, str]:
    """The meeting page and its Markdown export."""
    page = client.get(reverse("labeling:meeting-week", args=[project.slug, LABEL]))
    markdown = client.get(reverse("labeling:meeting-markdown", args=[project.slug, LABEL]))
    assert (page.status_code, markdown.status_code) == (200, 200)
    return page.content.decode(), markdown.content.decode()


def read_api(client, project) -> tuple[dict, str]:
    """The cycle report API's JSON and its Markdown."""
    api = client.get(f"/api/v1/cycles/{LABEL}/report", {"project": project.slug})
    markdown = client.get(f"/api/v1/cycles/{LABEL}/report", {"project": project.slug, "format": "markdown"})
    assert (api.status_code, markdown.status_code) == (200, 200)
    return api.json(), markdown.content.decode()


def changes(html: str) -> str:
    return html.split('id="what-changed"')[1].split("</section>")[0]


def test_an_operator_who_is_also_an_expert_reads_the_meeting_page_as_an_operator(client, closed, other_expert):
    client.force_login(make_operator(other_expert))

    html, markdown = read_page(client, closed)

    assert "Labeled outputs" in tile(html, "labels") and "Failed outputs" in tile(html, "pass-rate")
    assert "See these outputs" in changes(html)
    assert NOTE in html and COMMENT in html
    assert NOTE in markdown and COMMENT in markdown


def test_an_operator_who_is_also_an_expert_reads_the_report_api_as_an_operator(client, closed, other_expert):
    client.force_login(make_operator(other_expert))

    api, markdown = read_api(client, closed)

    [flag] = api["agenda"]["flags"]
    assert (flag["expert"], flag["note"], flag.get("note_hidden", False)) == ("erin", NOTE, False)
    assert flag["comments"][0]["body"] == COMMENT
    assert NOTE in markdown and COMMENT in markdown


def test_the_same_expert_without_the_permission_reads_them_blind(client, closed, other_expert):
    client.force_login(other_expert)

    html, markdown = read_page(client, closed)
    api, api_markdown = read_api(client, closed)

    assert "Labeled outputs" not in tile(html, "labels") and "Failed outputs" not in tile(html, "pass-rate")
    assert "See these outputs" not in changes(html)
    for text in (html, markdown, api_markdown):
        assert NOTE not in text and COMMENT not in text
    [flag] = api["agenda"]["flags"]
    assert (flag["expert"], flag["note"], flag["note_hidden"], flag["comments"]) == (None, None, True, [])
