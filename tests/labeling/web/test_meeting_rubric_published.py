"""A rubric version published during a week: the week's meeting page tells the lead reading its figures that the
week's labels answer two versions and what the new one changed, as the labeling screen tells an expert
(`rules.rubric_questions.rubric_news`); the weeks around it say nothing (Django test client)."""

from datetime import timedelta

import pytest
from django.urls import reverse

from labeling.models import Rubric, week_label
from labeling.rules import calendar
from labeling.services.rubrics import publish_rubric
from tests.factories import created_weeks_ago
from tests.helpers.rubrics import QUESTIONS

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def meeting(client, project, week):
    return client.get(reverse("labeling:meeting-week", args=[project.slug, week_label(week)])).content.decode()


def notice(html: str) -> str:
    return html.split('id="rubric-published"')[1].split("</section>")[0] if 'id="rubric-published"' in html else ""


@pytest.fixture
def v2_on_wednesday(project, rubric, lead, last_week):
    """v2, published on the Wednesday of last week at 10:00: `helpful` asked out of three, `critique` dropped, a
    new `polite` question, the guidelines rewritten."""
    created_weeks_ago(project, 52)
    Rubric.objects.filter(pk=rubric.pk).update(created_at=calendar.week_start(project, last_week) - timedelta(days=30))
    questions = [
        {**question, "scale": [1, 3]} if question["key"] == "helpful" else question
        for question in QUESTIONS
        if question["key"] != "critique"
    ] + [{"key": "polite", "kind": "binary", "prompt": "Is it polite?", "required": False}]
    v2 = publish_rubric(project=project, questions=questions, guidelines="# New rules", published_by=lead)
    Rubric.objects.filter(pk=v2.pk).update(
        created_at=calendar.week_start(project, last_week) + timedelta(days=2, hours=10)
    )
    return v2


def test_the_week_a_rubric_version_was_published_in_says_so_with_what_it_changed(
    client, project, lead, v2_on_wednesday, last_week
):
    client.force_login(lead)

    shown = notice(meeting(client, project, last_week))

    wednesday = last_week + timedelta(days=2)
    assert f"Rubric v2 published {wednesday:%a} {wednesday.day} {wednesday:%b}, 10:00" in shown
    assert "by <bdi>lena</bdi>" in shown and "answer v1 before it and v2 after it" in shown
    assert "read different questions" in shown
    assert "New question: “<bdi>Is it polite?</bdi>”" in shown
    assert "Asked on another scale or options: “<bdi>How helpful is it?</bdi>”" in shown
    assert "No longer asked: “<bdi>What is wrong?</bdi>”" in shown
    assert "The guidelines changed." in shown
    assert "The pass rate's question, “<bdi>Is the answer correct?</bdi>”, is asked as before" in shown
    assert "The pass rate's question changed" not in shown
    assert reverse("labeling:rubric", args=[project.slug]) in shown


def test_a_version_that_changes_the_pass_rates_question_says_the_pass_rate_reads_another(
    client, project, rubric, lead, last_week
):
    """v2 drops `correct`: its first pass/fail question, the verdict, is now `polite`."""
    created_weeks_ago(project, 52)
    Rubric.objects.filter(pk=rubric.pk).update(created_at=calendar.week_start(project, last_week) - timedelta(days=30))
    questions = [{"key": "polite", "kind": "binary", "prompt": "Is it polite?"}, *QUESTIONS[1:]]
    v2 = publish_rubric(project=project, questions=questions, guidelines=rubric.guidelines, published_by=lead)
    Rubric.objects.filter(pk=v2.pk).update(created_at=calendar.week_start(project, last_week) + timedelta(days=3))
    client.force_login(lead)

    shown = notice(meeting(client, project, last_week))

    assert "The pass rate's question changed (now “<bdi>Is it polite?</bdi>”)" in shown
    assert "the pass rate before and after it reads different questions" in shown and "is asked as before" not in shown


def test_the_open_week_and_the_week_before_say_nothing_of_a_version_published_in_another(
    client, project, lead, v2_on_wednesday, last_week, this_week
):
    client.force_login(lead)
    assert notice(meeting(client, project, this_week)) == ""
    assert notice(meeting(client, project, last_week - timedelta(days=7))) == ""


def test_the_open_week_tells_an_expert_too_and_a_reworded_version_is_said_to_ask_alike(
    client, project, rubric, lead, expert, this_week
):
    """Published at the running week's start: its page says so mid-week. Only a prompt reworded: nothing to read
    differently, and no link to the rubric editor for an expert."""
    created_weeks_ago(project, 52)
    Rubric.objects.filter(pk=rubric.pk).update(created_at=calendar.week_start(project, this_week) - timedelta(days=30))
    reworded = [{**q, "prompt": "Is it right?"} if q["key"] == "correct" else q for q in QUESTIONS]
    v2 = publish_rubric(project=project, questions=reworded, guidelines=rubric.guidelines, published_by=lead)
    Rubric.objects.filter(pk=v2.pk).update(created_at=calendar.week_start(project, this_week))
    client.force_login(expert)

    shown = notice(meeting(client, project, this_week))

    assert "Rubric v2 published" in shown and "its questions are asked as before" in shown
    assert "The pass rate's question, “<bdi>Is it right?</bdi>”, is asked as before" in shown
    assert "read different questions" not in shown and "<ul>" not in shown
    assert reverse("labeling:rubric", args=[project.slug]) not in shown


def test_the_project_page_a_one_project_lead_lands_on_names_a_version_of_the_running_week(
    client, project, rubric, lead, expert, this_week
):
    """A lead of one project lands on its page, not on the home page's card: it says so there, linking to the running
    week's account; an expert's page does not (their labeling screen tells them)."""
    Rubric.objects.filter(pk=rubric.pk).update(created_at=calendar.week_start(project, this_week) - timedelta(days=30))
    questions = [{"key": "polite", "kind": "binary", "prompt": "Is it polite?"}, *QUESTIONS[1:]]
    v2 = publish_rubric(project=project, questions=questions, guidelines=rubric.guidelines, published_by=lead)
    Rubric.objects.filter(pk=v2.pk).update(created_at=calendar.week_start(project, this_week) + timedelta(minutes=5))
    page = reverse("labeling:project", args=[project.slug])
    client.force_login(lead)

    html = client.get(page).content.decode()

    shown = html.split('id="rubric-this-week">')[1].split("</p>")[0]
    assert "Rubric v2 was published" in shown and "by <bdi>lena</bdi>" in shown
    assert "the pass rate's question changed" in shown
    assert f'href="/p/{project.slug}/meeting/{week_label(this_week)}/#rubric-published"' in shown
    client.force_login(expert)
    assert 'id="rubric-this-week"' not in client.get(page).content.decode()
    Rubric.objects.filter(pk=v2.pk).update(created_at=calendar.week_start(project, this_week) - timedelta(minutes=5))
    client.force_login(lead)
    assert 'id="rubric-this-week"' not in client.get(page).content.decode()
