"""A rubric version published during a week: the week's meeting page tells the lead reading its figures that the
week's labels answer two versions and what the new one changed, as the labeling screen tells an expert
(`rules.rubric_questions.rubric_news`); the weeks around it say nothing (Django test client)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from labeling.models import CycleStatus, ReviewCycle, Rubric, week_label
from labeling.rules import calendar
from labeling.services.rubrics import publish_rubric
from tests.factories import MembershipFactory, created_weeks_ago
from tests.helpers.rubrics import QUESTIONS, publish_v2_on_wednesday

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def meeting(client, project, week):
    return client.get(reverse("labeling:meeting-week", args=[project.slug, week_label(week)])).content.decode()


def notice(html: str) -> str:
    return html.split('id="rubric-published"')[1].split("</section>")[0] if 'id="rubric-published"' in html else ""


@pytest.fixture
def v2_on_wednesday(clear_of_week_start, project, rubric, lead, last_week):
    """v2, published on the Wednesday of last week at 10:00: `helpful` asked out of three, `critique` dropped, a
    new `polite` question, the guidelines rewritten."""
    created_weeks_ago(project, 52)
    return publish_v2_on_wednesday(project, rubric, lead, last_week)


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
    clear_of_week_start, client, project, rubric, lead, last_week
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
    clear_of_week_start, client, project, rubric, lead, expert, this_week
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
    clear_of_week_start, client, project, rubric, lead, expert, this_week
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


WEDNESDAY_NOON = datetime(2026, 11, 18, 12, tzinfo=UTC)


@pytest.fixture
def pinned(project, other_project, lead, monkeypatch):
    """The clock at a Wednesday noon: the running week is the one it falls in, whatever the wall clock says. The lead
    leads a second project too, so the home page lists both rather than sending them to this one's page."""
    MembershipFactory(project=other_project, user=lead, role="lead")
    monkeypatch.setattr("django.utils.timezone.now", lambda: WEDNESDAY_NOON)
    created_weeks_ago(project, 52)
    return calendar.current_week(project, WEDNESDAY_NOON)


def _two_versions(project, lead, week, v1: list[dict], v2: list[dict]) -> None:
    """v1 a month before the week, v2 on its Tuesday."""
    first = publish_rubric(project=project, questions=v1)
    Rubric.objects.filter(pk=first.pk).update(created_at=calendar.week_start(project, week) - timedelta(days=30))
    second = publish_rubric(project=project, questions=v2, published_by=lead)
    Rubric.objects.filter(pk=second.pk).update(created_at=calendar.week_start(project, week) + timedelta(days=1))


def _pages(client, project, week) -> tuple[str, str, str]:
    """The running week's rubric notice on the meeting page, the project page and the home page's card."""
    shown = notice(meeting(client, project, week))
    page = client.get(reverse("labeling:project", args=[project.slug])).content.decode()
    home = client.get("/").content.decode()
    return (
        shown,
        page.split('id="rubric-this-week">')[1].split("</p>")[0],
        home.split('class="home-rubric">')[1].split("</dd>")[0],
    )


def test_a_rubric_without_a_pass_fail_question_says_nothing_of_the_pass_rate(client, project, lead, pinned):
    """Neither version has a yes/no question: there is no pass rate, so nothing tells it "changed"."""
    _two_versions(project, lead, pinned, [QUESTIONS[1]], [QUESTIONS[1], QUESTIONS[2]])
    client.force_login(lead)

    for shown in _pages(client, project, pinned):
        assert "v2" in shown and "pass rate" not in shown and "pass/fail" not in shown


def test_a_version_that_drops_the_pass_fail_question_says_there_is_none_any_more(client, project, lead, pinned):
    _two_versions(project, lead, pinned, QUESTIONS, QUESTIONS[1:])
    client.force_login(lead)

    shown, page, home = _pages(client, project, pinned)

    assert "v2 has no pass/fail question any more" in shown and "question changed" not in shown
    for told in (page, home):
        # The rubric page's and the meeting page's wording (`notices.no_verdict_question`), going on from "...pool
        # labels of two versions".
        assert ", and v2 has no pass/fail question any more (a yes/no question): the pass rate has nothing" in told
        assert "question changed" not in told


def test_the_home_card_says_the_pass_rates_question_changed_as_the_project_page_does(client, project, lead, pinned):
    _two_versions(project, lead, pinned, QUESTIONS, [{"key": "polite", "kind": "binary", "prompt": "Polite?"}])
    client.force_login(lead)

    shown, page, home = _pages(client, project, pinned)

    assert "The pass rate's question changed (now “<bdi>Polite?</bdi>”)" in shown
    assert "and the pass rate's question changed" in page and "and the pass rate's question changed" in home


def test_a_prompt_and_a_name_are_inert_on_the_page(client, project, rubric, lead, last_week):
    """The notice is written as HTML by `notices.rubric_published_text`: a person's words escaped, never markup."""
    created_weeks_ago(project, 52)
    Rubric.objects.filter(pk=rubric.pk).update(created_at=calendar.week_start(project, last_week) - timedelta(days=30))
    lead.username = "<i>lena</i>"
    lead.save(update_fields=["username"])
    questions = [{"key": "correct", "kind": "binary", "prompt": "<script>alert(1)</script>"}, *QUESTIONS[1:]]
    v2 = publish_rubric(project=project, questions=questions, guidelines=rubric.guidelines, published_by=lead)
    Rubric.objects.filter(pk=v2.pk).update(created_at=calendar.week_start(project, last_week) + timedelta(days=3))
    client.force_login(lead)

    shown = notice(meeting(client, project, last_week))

    assert "<script>" not in shown and "<i>" not in shown
    assert "“<bdi>&lt;script&gt;alert(1)&lt;/script&gt;</bdi>”" in shown
    assert "by <bdi>&lt;i&gt;lena&lt;/i&gt;</bdi>" in shown


def test_after_a_zone_move_the_home_and_project_pages_read_the_running_week_as_its_meeting_page(
    client, project, lead, pinned
):
    """The week before closed in UTC; the project then moved to New York (five hours behind). The running week starts
    where the closed one ended, midnight UTC (`calendar.week_span`), not at New York's midnight: v2, published at 02:00
    UTC on its Monday, is told on the project page and the home page as on the running week's meeting page."""
    project.time_zone = "UTC"
    project.save(update_fields=["time_zone"])
    week = calendar.current_week(project, WEDNESDAY_NOON)
    ReviewCycle.objects.create(
        project=project, week=week - timedelta(days=7), status=CycleStatus.CLOSED, report={}, closed_in_time_zone="UTC"
    )
    project.time_zone = "America/New_York"
    project.save(update_fields=["time_zone"])
    assert calendar.current_week(project, WEDNESDAY_NOON) == week
    first = publish_rubric(project=project, questions=QUESTIONS)
    Rubric.objects.filter(pk=first.pk).update(created_at=WEDNESDAY_NOON - timedelta(days=40))
    second = publish_rubric(project=project, questions=QUESTIONS[1:], published_by=lead)
    monday_two_utc = datetime.combine(week, datetime.min.time(), tzinfo=UTC) + timedelta(hours=2)
    Rubric.objects.filter(pk=second.pk).update(created_at=monday_two_utc)
    client.force_login(lead)

    shown, page, home = _pages(client, project, week)

    assert "Rubric v2 published" in shown
    assert "v2" in page and "v2" in home
