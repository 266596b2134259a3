"""Right-to-left text (Arabic, Hebrew) written by end users, the AI or experts reads in its own direction: every block
that shows such text takes its direction from the text (dir="auto"), so an Arabic answer is right-aligned and its
parts (an order number among Arabic words) stay in order, while English text on the same page stays left-aligned."""

import re
from datetime import timedelta

import pytest

from labeling.models import Comment, Queue
from labeling.rules import calendar
from labeling.services import cycles
from labeling.services.rubrics import publish_rubric
from tests.factories import created_weeks_ago
from tests.helpers.direction import directions_of
from tests.helpers.labeling import label_outputs, make_items, take
from tests.helpers.rubrics import QUESTIONS

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

ANSWER = "مرحبًا! رقم الطلب KP-123456 سيتم استرداده."
ASKED = "أين طلبي؟"
FEEDBACK = "الرد غير مفيد"
COMMENT = "הערה בעברית"
FIX = "שלום, ההזמנה תגיע ביום שני."


def assert_all_auto(html: str, marker: str) -> None:
    directions = directions_of(html, marker)
    assert all(direction == "auto" for _, direction in directions), directions


def test_the_labeling_screen_lets_each_untrusted_block_take_its_own_direction(client, expert, project):
    publish_rubric(project=project, questions=QUESTIONS, guidelines="Be fair.")
    queue = Queue.objects.create(project=project, slug="all", name="All answers", weekly_quota=10)
    conversation = [{"role": "user", "content": ASKED}, {"role": "assistant", "content": ANSWER + " (1)"}]
    make_items(project, 1, input=conversation, output=ANSWER, feedback_score=-1, feedback_comment=FEEDBACK)
    client.force_login(expert)
    item = take(client, queue)
    Comment.objects.create(item=item, author=expert, body=COMMENT)

    html = client.get(f"/p/{project.slug}/items/{item.pk}/").content.decode()

    for marker in (ANSWER, ANSWER + " (1)", ASKED, FEEDBACK, COMMENT):
        assert_all_auto(html, marker)
    textareas = re.findall(r"<textarea[^>]*>", html)
    assert len(textareas) >= 4  # the critique, the correction, the comment and the flag note
    assert all('dir="auto"' in textarea for textarea in textareas), textareas


def test_the_lead_pages_let_outputs_and_answers_take_their_own_direction(client, lead, expert, other_expert, project):
    created_weeks_ago(project, 52)
    tie = ({"correct": True, "fix": FIX}, {"correct": False, "fix": FIX + " (2)"})
    (item,) = label_outputs(
        project, 1, answers=tie, experts=[expert, other_expert], texts=[ANSWER], input=ASKED,
        session_id="s-1", feedback_score=-1, feedback_comment=FEEDBACK,
    )  # fmt: skip
    last_week = calendar.current_week(project) - timedelta(days=7)
    item.__class__.objects.filter(pk=item.pk).update(week=last_week)
    cycle = cycles.close_week(project_id=project.pk, week=last_week)
    client.force_login(lead)

    explore = client.get(f"/p/{project.slug}/explore/").content.decode()
    session = client.get(f"/p/{project.slug}/explore/session?id=s-1").content.decode()
    adjudication = client.get(f"/p/{project.slug}/manage/adjudication/{item.pk}/").content.decode()
    meeting = client.get(f"/p/{project.slug}/meeting/{cycle.label}/").content.decode()

    assert_all_auto(explore, "KP-123456")
    for marker in (ANSWER, ASKED, FEEDBACK):
        assert_all_auto(session, marker)
    for marker in (ANSWER, ASKED, FEEDBACK, FIX):
        assert_all_auto(adjudication, marker)
    assert all('dir="auto"' in textarea for textarea in re.findall(r"<textarea[^>]*>", adjudication))
    assert_all_auto(meeting, "KP-123456")


def test_the_explore_sessions_gold_answer_takes_its_own_direction(client, lead, expert, other_expert, project):
    """A gold answer is an option's name or an expert's text: in Hebrew it reads right to left, as the labels beside it
    do, and stays in its own box among the page's English words."""
    tone = "רגוע"
    questions = [{"key": "tone", "kind": "choice", "prompt": "How does it sound?", "options": ["friendly", tone]}]
    rubric = publish_rubric(project=project, questions=questions)
    agreeing = ({"tone": tone}, {"tone": tone})
    label_outputs(project, 1, answers=agreeing, experts=[expert, other_expert], rubric=rubric, session_id="s-1")
    client.force_login(lead)

    session = client.get(f"/p/{project.slug}/explore/session?id=s-1").content.decode()

    assert 'class="gold"' in session
    assert_all_auto(session, tone)
