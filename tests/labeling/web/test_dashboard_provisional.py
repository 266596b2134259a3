"""On the dashboard, the running week's provisional figures are drawn apart from the weeks a close froze: a dotted line
to them and a legend that says why. A week-old project's first hours read 25% beside last week's 62% otherwise, a fall
the lead would bring to the meeting though four items may still change it."""

from datetime import timedelta

import pytest
from django.urls import reverse

from labeling.models import CycleStatus, Queue, ReviewCycle, week_label
from labeling.rules import calendar
from tests.factories import created_weeks_ago
from tests.helpers.metrics import store_week

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def chart(html: str, name: str) -> str:
    return html.split(f'data-chart="{name}"')[1].split("</figure>")[0]


@pytest.fixture
def weeks(project, rubric) -> tuple:
    """(last week, the running week): last week closed with 13 of 21 passed, the running one at 2 of 6 so far."""
    created_weeks_ago(project, 3)
    running = calendar.current_week(project)
    last = running - timedelta(days=7)
    queue = Queue.objects.create(project=project, slug="sample", name="Sample", overlap=2)
    store_week(project, queue, last, passes=13, n=21)
    store_week(project, queue, running, passes=2, n=6, labels=12)
    ReviewCycle.objects.create(project=project, week=last, status=CycleStatus.CLOSED)
    return last, running


def test_the_running_weeks_points_are_dotted_and_said_to_be_provisional(client, project, lead, weeks):
    last, running = weeks
    client.force_login(lead)

    html = client.get(reverse("labeling:dashboard", args=[project.slug]), {"question": "correct"}).content.decode()

    for name in ("pass-rate", "alpha-trend"):
        drawn = chart(html, name)
        assert 'class="point series-0" cx' in drawn and f'data-x="{week_label(last)}"' in drawn, name
        provisional = drawn.split('class="point series-0 provisional"')
        assert len(provisional) == 2 and f'data-x="{week_label(running)}"' in provisional[1], name
        assert 'class="line series-0 provisional"' in drawn, name
        assert "Dotted: a week not closed yet, whose figure may still change" in drawn, name


def test_an_open_weeks_meeting_page_draws_its_own_point_dotted_and_a_closed_weeks_solid(client, project, lead, weeks):
    last, running = weeks
    client.force_login(lead)

    html = client.get(reverse("labeling:meeting-week", args=[project.slug, week_label(running)])).content.decode()

    drawn = chart(html, "pass-rate")
    solid, provisional = drawn.split('class="point series-0 provisional"')
    assert f'data-x="{week_label(last)}"' in solid and f'data-x="{week_label(running)}"' in provisional
    assert "Dotted: a week not closed yet, whose figure may still change" in drawn
