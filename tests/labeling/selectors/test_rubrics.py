"""Rubric versions from this process's cache: never another project's, never a stale "current", never shared."""

import pytest

from labeling.exceptions import NotFound
from labeling.models import Queue, Rubric
from labeling.selectors.rubrics import answered_keys, published_version, rubric_version
from labeling.services import assignment
from labeling.services.rubrics import publish_rubric
from tests.helpers.labeling import label_outputs, make_items
from tests.helpers.rubrics import QUESTIONS, questions

V2_QUESTIONS = [{"key": "fine", "kind": "binary", "prompt": "Is it fine?"}]


def test_a_version_read_once_is_served_without_a_query(project, rubric, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert published_version(project, rubric.pk).questions == QUESTIONS
    with django_assert_num_queries(0):
        assert published_version(project, rubric.pk).questions == QUESTIONS
        assert rubric_version(project, str(rubric.pk)).pk == rubric.pk


def test_another_projects_version_is_refused_even_once_cached(project, other_project, rubric):
    foreign = publish_rubric(project=other_project, questions=QUESTIONS)
    assert published_version(other_project, foreign.pk).pk == foreign.pk  # now in the cache

    assert published_version(project, foreign.pk) is None
    with pytest.raises(NotFound):
        rubric_version(project, str(foreign.pk))


def test_a_caller_changing_its_copy_changes_nobody_elses(project, rubric):
    given = published_version(project, rubric.pk)
    given.questions.append({"key": "extra", "kind": "text", "prompt": "?"})
    given.guidelines = "changed"

    again = published_version(project, rubric.pk)

    assert again.questions == QUESTIONS and again.guidelines == rubric.guidelines


def test_an_id_not_found_is_not_remembered_as_missing(project, rubric):
    missing = rubric.pk + 1000
    assert published_version(project, missing) is None

    Rubric.objects.create(pk=missing, project=project, version=2, questions=V2_QUESTIONS)

    assert published_version(project, missing).questions == V2_QUESTIONS


def test_the_screen_shows_a_version_published_after_the_last_one_was_cached(client, expert, project, rubric):
    """Which version is current is read with each item, never cached: a lead's new version shows at once."""
    queue = Queue.objects.create(project=project, slug="all", name="All")
    make_items(project, 1)
    item = assignment.next_item(expert=expert, queue=queue)
    client.force_login(expert)
    url = f"/p/{project.slug}/items/{item.pk}/"
    assert f'name="rubric_id" value="{rubric.pk}"' in client.get(url).content.decode()  # v1 now cached

    newer = publish_rubric(project=project, questions=questions(required=("tone",)), guidelines="Version **two**.")

    html = client.get(url).content.decode()
    assert f'name="rubric_id" value="{newer.pk}"' in html
    assert "Version <strong>two</strong>." in html


def test_the_keys_some_label_answered_are_found_in_one_query(project, other_project, django_assert_num_queries):
    """Publishing a version that asks four questions differently asks once which of them labels answered, not once
    per question; another project's labels answer nothing here."""
    label_outputs(project, answers=({"correct": True, "helpful": 4},), resolve=False)
    label_outputs(other_project, answers=({"correct": True, "tone": "curt"},), resolve=False)

    with django_assert_num_queries(1):
        found = answered_keys(project, ["tone", "helpful", "issues", "correct"])

    assert found == ["helpful", "correct"]
    with django_assert_num_queries(0):
        assert answered_keys(project, []) == []
