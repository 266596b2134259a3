"""`make_items` (tests/helpers/labeling.py) makes the items a test goes on with, or says why it cannot."""

import pytest

from labeling.models import Output, Queue
from tests.helpers.labeling import make_items

pytestmark = pytest.mark.django_db


def test_it_refuses_a_project_without_a_queue_instead_of_making_nothing(project):
    with pytest.raises(LookupError, match="project 'support-bot' has no queue"):
        make_items(project, 2)

    assert not Output.objects.filter(project=project).exists()


def test_it_returns_the_items_routed_into_the_projects_queue(project):
    queue = Queue.objects.create(project=project, slug="all", name="All answers")

    items = make_items(project, 2)

    assert [item.queue for item in items] == [queue, queue]


def test_it_refuses_outputs_that_became_no_item_naming_how_many(project):
    """A paused queue takes nothing: a test asking for two items would otherwise go on with none."""
    Queue.objects.create(project=project, slug="paused", name="Paused", is_active=False)

    with pytest.raises(LookupError, match="2 of the 2 outputs became no item"):
        make_items(project, 2)


def test_it_refuses_outputs_no_queues_rule_takes(project):
    Queue.objects.create(project=project, slug="gpt", name="GPT answers", rule={"models": ["gpt-4o"]})

    make_items(project, 1, model="gpt-4o")
    with pytest.raises(LookupError, match="1 of the 1 outputs became no item"):
        make_items(project, 1, model="claude")
