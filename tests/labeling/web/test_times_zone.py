"""A lead in America/Los_Angeles reads every time on a page in the project's zone, and the page says so once ("Times
in the project's time zone, …", as the keys and audit pages do); in the hour the clocks go back, when one local time
is two moments, the time carries its UTC offset so the two never read alike (Django test client)."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from labeling.models import Output, Queue
from labeling.services.rubrics import publish_rubric
from tests.factories import created_weeks_ago
from tests.helpers.labeling import TIE, label_outputs, make_items, take
from tests.helpers.rubrics import QUESTIONS

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

NOTE = "Times in the project's time zone, America/Los_Angeles."
# 01:30 on the night Los Angeles goes back from PDT to PST: once at UTC−07:00, an hour later at UTC−08:00.
FIRST_0130, SECOND_0130 = datetime(2026, 11, 1, 8, 30, tzinfo=UTC), datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def url(name, project, *args):
    return reverse(f"labeling:{name}", args=[project.slug, *args])


@pytest.fixture
def in_los_angeles(project):
    project.__class__.objects.filter(pk=project.pk).update(time_zone="America/Los_Angeles")
    project.refresh_from_db()
    created_weeks_ago(project, 52)
    return project


def test_the_lead_pages_listing_times_say_their_zone_and_tell_the_two_0130s_of_the_fall_back_apart(
    client, in_los_angeles, lead, expert, other_expert
):
    project = in_los_angeles
    first, second = label_outputs(project, 2, answers=TIE, experts=[expert, other_expert])
    Output.objects.filter(pk=first.output_id).update(occurred_at=FIRST_0130)
    Output.objects.filter(pk=second.output_id).update(occurred_at=SECOND_0130)
    client.force_login(lead)

    explore = client.get(url("explore", project)).content.decode()
    assert "2026-11-01 01:30 UTC−07:00" in explore and "2026-11-01 01:30 UTC−08:00" in explore
    home = client.get(url("project", project)).content.decode()
    assert "2026-11-01 01:30 UTC−07:00" in home and "2026-11-01 01:30 UTC−08:00" in home
    pages = {
        "home": home,
        "explore": explore,
        "adjudication list": client.get(url("adjudication", project)).content.decode(),
        "adjudication item": client.get(url("adjudicate", project, first.pk)).content.decode(),
        "meeting": client.get(url("meeting", project), follow=True).content.decode(),
    }
    assert [page for page, html in pages.items() if NOTE not in html] == []


def test_the_labeling_screen_says_the_zone_of_its_times(client, in_los_angeles, expert):
    project = in_los_angeles
    publish_rubric(project=project, questions=QUESTIONS)
    queue = Queue.objects.create(project=project, slug="all", name="All", weekly_quota=10)
    make_items(project, 1)
    client.force_login(expert)
    item = take(client, queue)
    Output.objects.filter(pk=item.output_id).update(occurred_at=SECOND_0130)

    html = client.get(url("item", project, item.pk)).content.decode()

    assert "<dt>When</dt><dd>2026-11-01 01:30 UTC−08:00</dd>" in html and NOTE in html
