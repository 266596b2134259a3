"""The labeling screen says which week an item belongs to ("from week 2026-W47", "(closed)" once that week's cycle is
closed), so an expert handed an old item knows why "Labels by you on this week's items" did not move; and an item held
in a paused queue says it is the last one the expert gets there."""

from datetime import timedelta

import pytest

from labeling.models import CycleStatus, Item, Queue, ReviewCycle, week_label
from labeling.services.rubrics import publish_rubric
from tests.helpers.labeling import make_items, take
from tests.helpers.rubrics import QUESTIONS

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def held(client, expert, project):
    publish_rubric(project=project, questions=QUESTIONS)
    queue = Queue.objects.create(project=project, slug="all", name="All answers", weekly_quota=10)
    make_items(project, 1)
    client.force_login(expert)
    return take(client, queue)


def page_of(client, item) -> str:
    return client.get(f"/p/{item.project.slug}/items/{item.pk}/").content.decode()


def test_the_item_screen_names_the_items_week_and_whether_it_is_closed(client, held):
    three_weeks_ago = held.week - timedelta(days=21)
    Item.objects.filter(pk=held.pk).update(week=three_weeks_ago)
    label = week_label(three_weeks_ago)

    open_page = page_of(client, held)
    ReviewCycle.objects.create(project=held.project, week=three_weeks_ago, status=CycleStatus.CLOSED)
    closed_page = page_of(client, held)

    assert f"from week {label}<" in open_page and "(closed)" not in open_page
    assert f"from week {label} (closed)" in closed_page
    assert "This queue is paused" not in open_page


def test_an_item_held_in_a_paused_queue_says_it_is_the_last_one_there(client, held):
    Queue.objects.filter(pk=held.queue_id).update(is_active=False)

    assert "This queue is paused: this is the last item you hold in it." in page_of(client, held)
