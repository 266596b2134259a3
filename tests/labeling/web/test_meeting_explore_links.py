"""The meeting page links to explore only for readers the project lets in: an expert follows "Labeled outputs" and a
change's "See these outputs" while the project lets experts explore, and gets no link (rather than a refusal) when it
does not."""

from datetime import date

import pytest
from django.urls import reverse

from labeling.models import CycleStatus, ReviewCycle, week_label
from tests.factories import created_weeks_ago
from tests.helpers.reports import sample_report

pytestmark = [pytest.mark.django_db]

WEEK = date(2026, 11, 16)  # 2026-W47, long over


@pytest.fixture
def meeting(project):
    created_weeks_ago(project, 52)
    change = {
        "rank": 1,
        "kind": "feedback",
        "dimension": "feedback",
        "key": "down",
        "direction": "up",
        "q_value": 0.01,
        "p_value": 0.001,
        "test": "chi2",
        "sentence": "More thumbs down.",
        "explore_query": "feedback=down",
    }
    report = sample_report(week=week_label(WEEK), week_start=WEEK.isoformat(), changes=[change])
    ReviewCycle.objects.create(project=project, week=WEEK, status=CycleStatus.CLOSED, report=report)
    return reverse("labeling:meeting-week", args=[project.slug, week_label(WEEK)])


def labels_tile(html: str) -> str:
    return html.split('data-tile="labels"')[1].split('<div class="tile"')[0]


@pytest.mark.parametrize("experts_can_explore", [True, False])
def test_an_expert_gets_the_labeled_outputs_link_only_while_they_may_explore(
    client, project, expert, meeting, experts_can_explore
):
    project.experts_can_explore = experts_can_explore
    project.save(update_fields=["experts_can_explore"])
    client.force_login(expert)

    html = client.get(meeting).content.decode()
    tile = labels_tile(html)

    assert "120 / 150" in tile  # the figure either way
    assert ("Labeled outputs" in tile) is experts_can_explore
    changed = html.split('id="what-changed"')[1].split("</section>")[0]
    assert "More thumbs down." in changed and ("See these outputs" in changed) is experts_can_explore
    explore = client.get(reverse("labeling:explore", args=[project.slug]))
    assert explore.status_code == (200 if experts_can_explore else 404)  # the link went where it would be refused


def test_a_lead_keeps_every_link_when_experts_may_not_explore(client, project, lead, meeting):
    project.experts_can_explore = False
    project.save(update_fields=["experts_can_explore"])
    client.force_login(lead)

    html = client.get(meeting).content.decode()

    assert "Labeled outputs" in labels_tile(html)
    assert "See these outputs" in html.split('id="what-changed"')[1].split("</section>")[0]
    assert "Failed outputs" in html.split('data-tile="pass-rate"')[1].split('<div class="tile"')[0]
    assert "Outputs the experts disagreed on" in html.split('data-tile="alpha"')[1].split('<div class="tile"')[0]


def pass_rate_tile(html: str) -> str:
    return html.split('data-tile="pass-rate"')[1].split('<div class="tile"')[0]


def alpha_tile(html: str) -> str:
    return html.split('data-tile="alpha"')[1].split('<div class="tile"')[0]


def close_week(project, **report):
    created_weeks_ago(project, 52)
    report = sample_report(week=week_label(WEEK), week_start=WEEK.isoformat(), **report)
    ReviewCycle.objects.create(project=project, week=WEEK, status=CycleStatus.CLOSED, report=report)
    return reverse("labeling:meeting-week", args=[project.slug, week_label(WEEK)])


QUALITY_ROW = {"question": "correct", "kind": "binary", "n": 20, "passes": 15, "value": 0.75, "ci_low": 0.53,
               "ci_high": 0.89, "shares": None}  # fmt: skip


@pytest.mark.parametrize("queues", [["billing"], ["billing", "refunds"]])
def test_the_pass_rate_says_its_links_count_outputs_when_two_queues_answered_its_question(
    client, project, lead, queues
):
    """The figure counts items, explore outputs: they can differ only when an output may be an item of two queues, so
    the tile says it then (and only then), visibly, not only in the link's title."""
    quality = [{**QUALITY_ROW, "queue": slug, "queue_name": slug.title()} for slug in queues]
    quality.append({**QUALITY_ROW, "queue": "sales", "queue_name": "Sales", "question": "helpful", "kind": "rating"})
    client.force_login(lead)

    tile = pass_rate_tile(client.get(close_week(project, quality=quality)).content.decode())

    two = len(queues) > 1
    assert "Failed outputs" in tile
    assert ('<p class="tile-note">' in tile) is two
    assert ("Explore counts outputs, this figure items" in tile) is two
    assert ("2 queues answered" in tile.replace("&ldquo;", "“")) is two


@pytest.fixture
def verdict_now_accurate(project, rubric, lead):
    """v2 puts a yes/no question above `correct`: the pass rate reads `accurate` from now on; `correct` is still
    asked."""
    from labeling.services.rubrics import publish_rubric

    accurate = {"key": "accurate", "kind": "binary", "prompt": "Is it accurate?", "required": False}
    return publish_rubric(project=project, questions=[accurate, *rubric.questions], guidelines="", published_by=lead)


def test_a_frozen_week_links_its_own_verdict_question_and_says_when_explore_reads_another(
    client, project, lead, verdict_now_accurate
):
    """The closed week read `correct`; the rubric's verdict question is now `accurate`. The pass-rate links carry
    `correct` (explore filters by a named question's gold answer); its disagreement filter reads only the current
    verdict question, so the agreement tile says its link reads `accurate`."""
    client.force_login(lead)

    html = client.get(close_week(project)).content.decode()

    assert "gold=correct%3Afalse" in pass_rate_tile(html)
    alpha = alpha_tile(html)
    assert "Outputs the experts disagreed on" in alpha
    assert '<p class="tile-note">' in alpha
    assert "accurate" in alpha and "not “correct”" in alpha.replace("&ldquo;", "“").replace("&rdquo;", "”")


def test_a_frozen_weeks_links_find_its_outputs_after_the_rubric_drops_its_verdict_question(
    client, project, rubric, lead
):
    """v2 drops `correct`: explore refused `gold=correct:…` ("No pass/fail, choice or rating question 'correct'"), so
    the tile gave no link, while the gold help says an earlier version's verdict question works. Explore reads it as
    that version asked it, pass/fail: the tile links the week's passed and failed outputs and they open, found."""
    import html as markup
    import re
    from datetime import UTC, datetime

    from labeling.services.rubrics import publish_rubric
    from tests.helpers.labeling import label_outputs

    during = datetime(2026, 11, 18, 12, tzinfo=UTC)
    (passed,) = label_outputs(project, 1, experts=[lead], occurred_at=during, answers=({"correct": True},))
    (failed,) = label_outputs(project, 1, experts=[lead], occurred_at=during, answers=({"correct": False},))
    questions = [question for question in rubric.questions if question["key"] != "correct"]
    publish_rubric(project=project, questions=questions, guidelines="", published_by=lead)
    client.force_login(lead)

    html = client.get(close_week(project)).content.decode()

    tile = pass_rate_tile(html)
    assert "Failed outputs" in tile and '<p class="tile-note">' not in tile
    links = {key: markup.unescape(href) for href, key in re.findall(r'href="([^"]+)" data-explore="(\w+)"', tile)}
    assert "gold=correct%3Atrue" in links["pass"] and "gold=correct%3Afalse" in links["fail"]
    pages = {key: client.get(link) for key, link in links.items()}
    assert {key: page.status_code for key, page in pages.items()} == {"pass": 200, "fail": 200}
    found = {key: re.findall(r'data-output="([^"]+)"', page.text) for key, page in pages.items()}
    assert found == {"pass": [passed.output.external_id], "fail": [failed.output.external_id]}
    assert "Gold: correct: pass" in pages["pass"].text  # read in pass/fail words, the question named
    assert "Outputs the experts disagreed on" not in alpha_tile(html)  # no verdict question now: explore would refuse


def test_a_frozen_week_whose_verdict_key_is_now_another_kind_of_question_links_nothing_that_explore_refuses(
    client, project, rubric, lead
):
    """v2 asks `correct` as a choice: explore reads the key as the rubric asks it now and refuses `gold=correct:false`,
    so the tile gives no such link and says why, and the tag movers lose theirs."""
    from labeling.services.rubrics import publish_rubric

    choice = {"key": "correct", "kind": "choice", "prompt": "How correct?", "options": ["all", "some"]}
    questions = [choice if question["key"] == "correct" else question for question in rubric.questions]
    publish_rubric(project=project, questions=questions, guidelines="", published_by=lead)
    client.force_login(lead)
    url = close_week(project)
    refused = client.get(reverse("labeling:explore", args=[project.slug]) + "?gold=correct%3Afalse")

    html = client.get(url).content.decode()

    assert refused.status_code == 400  # what the link would have opened
    tile = pass_rate_tile(html)
    assert "gold=correct" not in html
    assert "Failed outputs" not in tile and '<p class="tile-note">' in tile
    assert "another kind of question" in tile


@pytest.mark.parametrize(
    ("asked_now", "filterable"),
    [
        ({"key": "correct", "kind": "binary", "prompt": "Correct?", "required": False}, True),
        (None, True),
        ({"key": "correct", "kind": "text", "prompt": "What is wrong?", "required": False}, False),
        ({"key": "correct", "kind": "choice", "prompt": "How correct?", "options": ["all", "some"]}, False),
    ],
    ids=["yes-no", "dropped", "text", "choice"],
)
def test_the_meeting_pages_verdict_links_and_explores_gold_filter_agree_on_a_former_verdict_key(
    client, project, rubric, lead, asked_now, filterable
):
    """The closed week's verdict question is `correct`; v2 makes `accurate` the verdict and asks `correct` as yes/no,
    not at all, as a text or as a choice. The tile links its failed outputs exactly when explore reads
    `gold=correct:fail` as a fail (`rules.explore.reads_as_verdict`), and explore's refusal of another key offers
    `correct` as an earlier verdict question only when it would read it so and the rubric no longer lists it."""
    import html as markup

    from labeling.services.rubrics import publish_rubric

    accurate = {"key": "accurate", "kind": "binary", "prompt": "Is it accurate?", "required": False}
    kept = [question for question in rubric.questions if question["key"] != "correct"]
    questions = [accurate, *kept, *([asked_now] if asked_now else [])]
    publish_rubric(project=project, questions=questions, guidelines="", published_by=lead)
    client.force_login(lead)
    explore = reverse("labeling:explore", args=[project.slug])

    tile = pass_rate_tile(client.get(close_week(project)).content.decode())
    followed = client.get(explore + "?gold=correct%3Afail")
    refusal = markup.unescape(client.get(explore + "?gold=nosuch%3Afail").text)

    assert ("gold=correct%3Afalse" in tile) is filterable
    assert followed.status_code == (200 if filterable else 400)
    assert ("Gold: correct: fail" in followed.text) is filterable  # read in pass/fail words
    earlier = refusal.split("an earlier rubric version's verdict question with pass or fail:")[1:]
    assert ("'correct'" in "".join(earlier)) is (asked_now is None)


def test_a_frozen_weeks_passed_link_leaves_out_an_output_that_failed_its_question_in_another_queue(
    client, project, rubric, lead, expert
):
    """The closed week read `correct`; v2 makes `accurate` the verdict question and still asks `correct`. An output
    that passed `correct` in one queue and failed it in another is, as the links' title says, failed: its "Failed
    outputs" link finds it and its "Passed outputs" link does not (that link found it once `correct` was no longer
    the verdict question), while an output that passed in its one queue is still a passed output."""
    import html as markup
    import re
    from datetime import UTC, datetime

    from labeling.models import Item, Queue
    from labeling.services import hand_picked
    from labeling.services.assignment import next_item
    from labeling.services.labels import submit_label
    from labeling.services.resolution import resolve_item
    from labeling.services.rubrics import publish_rubric
    from tests.helpers.labeling import label_outputs

    during = datetime(2026, 11, 18, 12, tzinfo=UTC)
    split, passed = label_outputs(project, 2, experts=[lead, expert], occurred_at=during)  # both say correct
    billing = Queue.objects.create(project=project, slug="billing", name="Billing", overlap=1)
    hand_picked.add_to_queue(project=project, queue=billing, output_ids=[split.output_id])
    submit_label(expert=expert, item=next_item(expert=expert, queue=billing), rubric=rubric, answers={"correct": False})
    resolve_item(item_id=Item.objects.get(queue=billing).pk)
    accurate = {"key": "accurate", "kind": "binary", "prompt": "Is it accurate?", "required": False}
    publish_rubric(project=project, questions=[accurate, *rubric.questions], guidelines="", published_by=lead)
    quality = [{**QUALITY_ROW, "queue": slug, "queue_name": slug.title()} for slug in ("sample", "billing")]
    client.force_login(lead)

    tile = pass_rate_tile(client.get(close_week(project, quality=quality)).content.decode())
    links = {key: markup.unescape(href) for href, key in re.findall(r'href="([^"]+)" data-explore="(\w+)"', tile)}

    assert "gold=correct%3Atrue" in links["pass"] and "gold=correct%3Afalse" in links["fail"]
    assert "failed if either failed" in tile
    found = {key: re.findall(r'data-output="([^"]+)"', client.get(link).text) for key, link in links.items()}
    assert found == {"pass": [passed.output.external_id], "fail": [split.output.external_id]}
