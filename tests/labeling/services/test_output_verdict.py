"""One output's gold verdict on the verdict question is the same in "what changed" (pass rates), failure themes
(failing outputs) and retention (split by verdict): `rules.gold.output_verdict`, any fail → fail."""

from datetime import timedelta

import pytest

from labeling.models import Item, Queue, Resolution
from labeling.rules import calendar
from labeling.rules.gold import output_verdict
from labeling.selectors.themes import week_failures
from labeling.services import change_counts, retention
from tests.factories import OutputFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

TIE = {"value": None, "method": "tie", "votes": {"true": 1, "false": 1}}
# Each output's gold answers, one per queue it is in (None: the queue's item has no answer to the question).
PLANTED = {
    "pass": [True],
    "fail": [False],
    "pass-then-fail": [True, False],
    "fail-then-pass": [False, True],
    "tie": ["tie"],
    "pass-and-tie": [True, "tie"],
    "fail-and-unanswered": [False, None],
    "unanswered": [None],
}


def test_changes_themes_and_retention_read_one_verdict_per_output(project, rubric):
    week = calendar.current_week(project) - timedelta(days=7)
    start = calendar.week_start(project, week)
    queues = [Queue.objects.create(project=project, slug=f"q{n}", name=f"Q{n}", overlap=1) for n in range(2)]
    outputs = {}
    for hour, (name, answers) in enumerate(PLANTED.items()):
        outputs[name] = OutputFactory(project=project, end_user_id=name, occurred_at=start + timedelta(hours=hour + 1))
        for queue, answer in zip(queues, answers, strict=False):
            item = Item.objects.create(project=project, queue=queue, output=outputs[name], week=week, overlap=1)
            entry = TIE if answer == "tie" else {"value": answer, "method": "unanimous"}
            Resolution.objects.create(
                item=item, status="resolved", automatic={} if answer is None else {"correct": entry}
            )
    expected = {
        name: output_verdict(answer for answer in answers if answer != "tie") for name, answers in PLANTED.items()
    }
    assert expected["pass-then-fail"] is False and expected["pass-and-tie"] is True and expected["tie"] is None

    assert week_failures(project=project, week=week) == sorted(
        outputs[name].pk for name, verdict in expected.items() if verdict is False
    )
    users = retention.user_verdicts(project=project, cohorts={name: week for name in PLANTED})
    assert users == {name: "pass" if verdict else "fail" for name, verdict in expected.items() if verdict is not None}
    starts = [calendar.week_start(project, week - timedelta(weeks=k)) for k in range(5)]
    window = change_counts.WeekWindow(starts=starts, end=calendar.week_end(project, week), elapsed=None)
    overall = change_counts._verdicts(project, window)[("overall", "", "")]
    decided = [verdict for verdict in expected.values() if verdict is not None]
    assert (overall.outputs, overall.passes) == ({0: len(decided)}, {0: sum(decided)})
