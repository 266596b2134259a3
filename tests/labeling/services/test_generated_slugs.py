"""A project or queue named without Latin letters gets `project-<n>` / `queue-<n>`: two created at the same instant
get a number each, and the same form posted twice at the same instant is one project or queue."""

import pytest

from labeling.models import Project, Queue
from labeling.services.projects import create_project, slug_for_new_project
from labeling.services.queues import QueueValues, create_queue, slug_for_new_queue
from tests.factories import UserFactory
from tests.helpers.concurrency import waits_for_uncommitted

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def new_project(name: str, created_by, **spec) -> Project:
    """What the new-project page does with a slug left blank: the slug suggested now, generated."""
    spec = {"slug": slug_for_new_project(name), "name": name, **spec}
    return create_project(spec=spec, created_by=created_by, slug_generated=True)


def new_queue(project: Project, name: str, actor, **values) -> Queue:
    values = QueueValues(slug=slug_for_new_queue(project, name), name=name, **values)
    return create_queue(project=project, values=values, actor=actor, slug_generated=True)


def test_two_teams_creating_a_project_of_one_name_at_once_get_a_slug_each():
    """Both saw `project-1` free: the second was refused, "A project with slug 'project-1' exists already"."""
    alice, bob = UserFactory(username="alice", is_staff=True), UserFactory(username="bob", is_staff=True)
    made = []

    errors = waits_for_uncommitted(
        lambda: made.append(new_project("Отзывы", alice, description="Support")),
        lambda: made.append(new_project("Отзывы", bob, description="Sales")),
    )

    assert errors == []
    assert sorted(Project.objects.values_list("slug", "description")) == [
        ("project-1", "Support"), ("project-2", "Sales"),
    ]  # fmt: skip


def test_the_same_project_form_posted_twice_at_once_is_one_project():
    alice = UserFactory(username="alice", is_staff=True)
    made = []

    errors = waits_for_uncommitted(
        lambda: made.append(new_project("評価", alice)), lambda: made.append(new_project("評価", alice))
    )

    assert errors == [] and made[0] == made[1]
    assert list(Project.objects.values_list("slug", flat=True)) == ["project-1"]


def test_two_leads_creating_a_queue_of_one_name_at_once_get_a_slug_each(project, lead):
    other_lead = UserFactory(username="lars")
    made = []

    errors = waits_for_uncommitted(
        lambda: made.append(new_queue(project, "返品", lead, sample_rate=0.5)),
        lambda: made.append(new_queue(project, "返品", other_lead, sample_rate=0.2)),
    )

    assert errors == []
    assert sorted(Queue.objects.values_list("slug", "sample_rate")) == [("queue-1", 0.5), ("queue-2", 0.2)]


def test_the_same_queue_form_posted_twice_at_once_is_one_queue(project, lead):
    made = []

    errors = waits_for_uncommitted(
        lambda: made.append(new_queue(project, "返品", lead)), lambda: made.append(new_queue(project, "返品", lead))
    )

    assert errors == [] and made[0] == made[1]
    assert list(Queue.objects.values_list("slug", flat=True)) == ["queue-1"]
