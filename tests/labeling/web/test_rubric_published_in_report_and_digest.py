"""A rubric version published during a week is told wherever the week's figures are read, not only on its meeting
page: the report's Markdown (the page's export and the API's), the API's JSON report and the experts' digest e-mail
say it as the page does, from one read (`selectors.rubrics.rubrics_published_data`). The clock is pinned to the
Monday of the meeting; the week before it is closed."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.urls import reverse

from labeling.models import Rubric, week_label
from labeling.notices import answers_lost_text, rubric_published_text
from labeling.reports import md_strong, md_text
from labeling.rules import calendar
from labeling.rules.text import isolated
from labeling.services import cycles
from labeling.services.rubrics import publish_rubric
from tests.factories import created_weeks_ago
from tests.helpers.rubrics import QUESTIONS, publish_v2_on_wednesday

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 11, 23, 9, tzinfo=UTC)
TOLD = (
    "the week's labels answer v1 before it and v2 after it, so figures from before and after it read different "
    "questions. The pass rate's question, “Is the answer correct?”, is asked as before: its figure reads alike across "
    "the change."
)
CHANGES = [
    "New question: “Is it polite?”",
    "Asked on another scale or options: “How helpful is it?”",
    "No longer asked: “What is wrong?”",
    "The guidelines changed.",
]


@pytest.fixture
def week(project, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: MONDAY)
    created_weeks_ago(project, 52)
    return calendar.current_week(project, MONDAY) - timedelta(days=7)


@pytest.fixture
def v2_on_wednesday(project, rubric, lead, week):
    """As the meeting page's test has it: `helpful` out of three, `critique` dropped, `polite` new, new guidelines."""
    return publish_v2_on_wednesday(project, rubric, lead, week)


def test_the_reports_markdown_and_json_say_a_version_was_published_during_the_week(
    client, api, project, lead, week, v2_on_wednesday
):
    cycles.close_week(project_id=project.pk, week=week)
    label = week_label(week)
    client.force_login(lead)

    markdown = client.get(reverse("labeling:meeting-markdown", args=[project.slug, label])).text
    from_api = api.get(f"/api/v1/cycles/{label}/report?format=markdown").content.decode()
    report = api.get(f"/api/v1/cycles/{label}/report").json()

    assert from_api == markdown
    assert (
        "## Rubric changed during the week\n\n**Rubric v2 published Wed 18 Nov, 10:00 UTC by lena, during this week:** "
        f"{TOLD}\n\n" + "".join(f"- {change}\n" for change in CHANGES)
    ) in markdown
    assert markdown.index("## Rubric changed") < markdown.index("## Headline")
    assert report["rubrics_published"] == [
        {
            "version": 2,
            "published_at": "2026-11-18T10:00:00Z",
            "by": "lena",
            "since": 1,
            "added": ["Is it polite?"],
            "changed": ["How helpful is it?"],
            "dropped": ["What is wrong?"],
            "guidelines_changed": True,
            "verdict": "Is the answer correct?",
            "verdict_change": "same",
        }
    ]


def test_the_weeks_around_it_say_nothing_of_it(client, api, project, lead, week, v2_on_wednesday):
    before = week_label(week - timedelta(days=7))
    client.force_login(lead)

    assert "Rubric" not in client.get(reverse("labeling:meeting-markdown", args=[project.slug, before])).text
    assert api.get(f"/api/v1/cycles/{before}/report").json()["rubrics_published"] == []


def test_the_digest_of_the_week_tells_its_experts_as_the_meeting_page_does(project, expert, week, v2_on_wednesday):
    cycle = cycles.close_week(project_id=project.pk, week=week)
    mail.outbox.clear()

    cycles.send_digests(cycle_id=cycle.pk)

    body = mail.outbox[0].body
    told = f"Rubric v2 published Wed 18 Nov, 10:00 UTC by lena, during {week_label(week)}: {TOLD}\n"
    assert told + "".join(f"- {change}\n" for change in CHANGES) in body
    assert body.index("You labeled no items") < body.index("Rubric v2") < body.index("This week (")


def test_a_prompt_is_inert_markdown_and_a_changed_pass_rate_question_is_said_in_bold():
    published = {"version": 3, "published_at": "2026-11-18T10:00:00Z", "by": None, "since": 2, "added": ["*Polite*?"],
                 "changed": [], "dropped": [], "guidelines_changed": False, "verdict": "*Polite*?",
                 "verdict_change": "changed"}  # fmt: skip

    said, meaning, changes = rubric_published_text(published, text=md_text, strong=md_strong)

    assert said == "Rubric v3 published Wed 18 Nov, 10:00 UTC"
    assert meaning.endswith(
        " **The pass rate's question changed (now “\\*Polite\\*?”): the pass rate before and after it reads different "
        "questions.**"
    )
    assert changes == ["New question: “\\*Polite\\*?”"]


@pytest.fixture
def v2_without_pass_fail_question(project, rubric, lead, week):
    """A v2 published on the week's Wednesday that drops the pass/fail question (`correct`): its verdict is None."""
    Rubric.objects.filter(pk=rubric.pk).update(created_at=calendar.week_start(project, week) - timedelta(days=30))
    questions = [question for question in QUESTIONS if question["kind"] != "binary"]
    v2 = publish_rubric(project=project, questions=questions, guidelines="", published_by=lead)
    Rubric.objects.filter(pk=v2.pk).update(created_at=calendar.week_start(project, week) + timedelta(days=2, hours=10))
    return v2


def test_the_digest_of_a_week_whose_new_version_has_no_pass_fail_question_is_sent_and_says_so(
    project, expert, week, v2_without_pass_fail_question
):
    cycle = cycles.close_week(project_id=project.pk, week=week)
    mail.outbox.clear()

    assert cycles.send_digests(cycle_id=cycle.pk) == 1

    assert (
        "v2 has no pass/fail question any more (a yes/no question): the pass rate has nothing to read after it."
        in mail.outbox[0].body
    )


def test_a_digest_that_fails_to_build_stays_unsent_for_the_next_delivery(project, expert, week, monkeypatch):
    cycle = cycles.close_week(project_id=project.pk, week=week)
    mail.outbox.clear()

    def broken(cycle):
        raise RuntimeError("a bug in a line of the digest")

    monkeypatch.setattr(cycles, "rubric_published_lines", broken)
    with pytest.raises(RuntimeError):
        cycles.send_digests(cycle_id=cycle.pk)
    cycle.refresh_from_db()
    assert cycle.digests_sent_at is None and mail.outbox == []

    monkeypatch.undo()
    monkeypatch.setattr("django.utils.timezone.now", lambda: MONDAY)
    assert cycles.send_digests(cycle_id=cycle.pk) == 1


@pytest.mark.parametrize("verdict_change", ["none", "dropped"])
def test_a_version_without_a_pass_fail_question_is_told_in_plain_text(verdict_change):
    published = {"version": 2, "published_at": "2026-11-18T10:00:00Z", "by": "lena", "since": 1, "added": [],
                 "changed": [], "dropped": ["Is it right?"], "guidelines_changed": False, "verdict": None,
                 "verdict_change": verdict_change}  # fmt: skip

    said, meaning, changes = rubric_published_text(published, text=isolated, strong=md_strong)

    assert said == f"Rubric v2 published Wed 18 Nov, 10:00 UTC by {isolated('lena')}"
    assert ("v2 has no pass/fail question any more" in meaning) is (verdict_change == "dropped")
    assert "None" not in meaning
    assert changes == [f"No longer asked: “{isolated('Is it right?')}”"]


def test_the_meeting_page_and_the_markdown_word_it_alike(client, project, lead, week, v2_without_pass_fail_question):
    """One wording (`notices.rubric_published_text`): the page's notice reads as the Markdown's, bold where it is."""
    cycles.close_week(project_id=project.pk, week=week)
    client.force_login(lead)
    args = [project.slug, week_label(week)]

    html = client.get(reverse("labeling:meeting-week", args=args)).content.decode()
    markdown = client.get(reverse("labeling:meeting-markdown", args=args)).text

    notice = html.split('id="rubric-published"')[1].split("</div>")[0].split(">", 1)[1]
    told = markdown.split("## Rubric changed during the week\n\n")[1].split("\n\n## ")[0]
    dropped = "v2 has no pass/fail question any more (a yes/no question): the pass rate has nothing to read after it."
    assert f"<strong>{dropped}</strong>" in notice and f"**{dropped}**" in told
    page_words = " ".join(re.sub(r"<[^>]+>", " ", re.sub(r"</?(bdi|strong)>", "", notice)).split())
    markdown_words = " ".join(told.replace("**", "").replace("\n- ", " ").split())
    assert page_words == markdown_words
    assert page_words.startswith("Rubric v2 published Wed 18 Nov, 10:00 UTC by lena, during this week:")


def test_the_answers_a_new_version_loses_are_worded_beside_the_notice():
    """The rubric page's warnings (`notices.answers_lost_text`): a question asked otherwise loses its earlier answers,
    a multi-choice question that dropped an option only those that ticked it; an option is isolated plain text."""
    before = Rubric(version=1, questions=QUESTIONS)
    after = Rubric(
        version=2,
        questions=[
            {**q, "scale": [1, 3]} if q["key"] == "helpful" else {**q, "options": ["wrong", "long"]}
            if q["key"] == "issues" else q
            for q in QUESTIONS
        ],
    )  # fmt: skip

    assert answers_lost_text(before, after, ["helpful", "issues"]) == [
        "v2 asks helpful on another scale, options or kind than v1: their earlier answers no longer count toward them "
        "in gold answers and figures. To keep comparing them, ask the new version under a new key.",
        f"v2 no longer offers “{isolated('evasive')}” for issues: earlier answers to it that ticked that option no "
        "longer count toward it in gold answers and figures; those that did not still do. To keep comparing them, ask "
        "the new version under a new key.",
    ]


def test_a_closed_week_is_bounded_in_the_zone_it_was_closed_in(client, api, project, rubric, lead, expert, week):
    """Closed in UTC, then the project moves to New York: a version published an hour into the week as it closed (Monday
    01:00 UTC, still Sunday in New York) is told by its report, its Markdown and its digest, as its dates are read."""
    Rubric.objects.filter(pk=rubric.pk).update(created_at=calendar.week_start(project, week) - timedelta(days=30))
    cycle = cycles.close_week(project_id=project.pk, week=week)
    type(project).objects.filter(pk=project.pk).update(time_zone="America/New_York")
    questions = [*QUESTIONS, {"key": "polite", "kind": "binary", "prompt": "Is it polite?", "required": False}]
    v2 = publish_rubric(project=project, questions=questions, published_by=lead)
    Rubric.objects.filter(pk=v2.pk).update(created_at=datetime(2026, 11, 16, 1, tzinfo=UTC))
    label = week_label(week)
    client.force_login(lead)
    mail.outbox.clear()

    report = api.get(f"/api/v1/cycles/{label}/report").json()
    markdown = client.get(reverse("labeling:meeting-markdown", args=[project.slug, label])).text
    cycles.send_digests(cycle_id=cycle.pk)

    assert calendar.week_start(project, week) == datetime(2026, 11, 16, tzinfo=UTC) and week.isoformat() == "2026-11-16"
    assert [published["version"] for published in report["rubrics_published"]] == [2]
    assert "**Rubric v2 published Mon 16 Nov, 01:00 UTC by lena, during this week:**" in markdown
    assert f"Rubric v2 published Mon 16 Nov, 01:00 UTC by lena, during {label}:" in mail.outbox[0].body
