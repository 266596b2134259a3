"""A week closed out of order restates the retention by verdict of a later week whose digest went out already: the
experts it went to get one short correction naming the figures that changed, through the outbox, once."""

from datetime import UTC, date, datetime

import pytest
from django.core import mail

from labeling.models import AuditEvent, Output, Project, Resolution, ReviewCycle
from labeling.services import cycles
from labeling.services.rubrics import publish_rubric
from labeling.web.audit_sentences import sentence
from tests.factories import MembershipFactory, UserFactory
from tests.helpers.changes import add_outputs, add_verdicts
from tests.helpers.labeling import AGREE, label_outputs
from tests.helpers.rubrics import QUESTIONS
from tests.outbox import enqueued, run_each_as_worker

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

# Weeks long over, closed at a pinned moment: Wednesday noon, far from any week's start.
LATE, AFTER = date(2026, 11, 9), date(2026, 11, 16)  # 2026-W46, 2026-W47
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
TASK = "labeling.send_digest_correction"
FAIL = ({"correct": False, "helpful": 2}, {"correct": False, "helpful": 1})


def _users(outputs, names) -> None:
    for output, name in zip(outputs, names, strict=True):
        Output.objects.filter(pk=output.pk).update(end_user_id=name)


@pytest.fixture
def after_closed_first(project):
    """W47 closed and its digest sent to Erin (Ezra has no address) while W46 was still open; W46's final verdicts put
    four other users on each side of its cohort's split (as many passing: W47's comparison stands)."""
    Project.objects.filter(pk=project.pk).update(created_at=datetime(2026, 10, 1, 12, tzinfo=UTC))
    for username, email in (("erin", "erin@example.com"), ("ezra", "")):
        MembershipFactory(project=project, user=UserFactory(username=username, email=email), role="expert")
    publish_rubric(project=project, questions=QUESTIONS)
    late = add_outputs(project, LATE, 40)
    _users(late, [f"user-{n}" for n in range(40)])
    add_verdicts(project, late, LATE, passes=36)
    after = add_outputs(project, AFTER, 40)
    _users(after, [f"user-{n}" for n in range(20)] + [f"new-{n}" for n in range(20)])
    add_verdicts(project, after, AFTER, passes=20)
    cycles.close_week(project_id=project.pk, week=AFTER, now=NOW)
    run_each_as_worker("labeling.send_digests")
    assert [message.to for message in mail.outbox] == [["erin@example.com"]]
    mail.outbox.clear()
    for users, passes in ((["user-0", "user-1", "user-2", "user-3"], False), (["user-36", "user-37", "user-38",
                                                                             "user-39"], True)):  # fmt: skip
        Resolution.objects.filter(item__week=LATE, item__output__end_user_id__in=users).update(
            automatic={"correct": {"value": passes, "method": "unanimous"}}
        )
    return ReviewCycle.objects.get(project=project, week=AFTER)


def test_the_experts_get_one_correction_of_the_figures_a_late_close_restated(project, after_closed_first):
    before = after_closed_first.report["headline"]["retention_week1"]
    assert (before["pass"]["returned"], before["pass"]["users"]) == (20, 36)

    cycles.close_week(project_id=project.pk, week=LATE, now=NOW)
    cycles.close_week(project_id=project.pk, week=LATE, now=NOW)  # closed already: nothing new
    [asked] = enqueued(TASK)
    run_each_as_worker(TASK)
    run_each_as_worker(TASK)  # delivered twice: sent once

    [correction] = [message for message in mail.outbox if "corrected" in message.subject]
    assert correction.to == ["erin@example.com"]
    assert correction.subject == "[expertloop] Support bot: 2026-W47's figures corrected"
    assert correction.body.splitlines()[2:5] == [
        "2026-W46 closed after 2026-W47, whose digest you had. Its final gold answers changed these figures of the "
        "2026-W47 report:",
        "- Week-1 retention, pass vs fail: was 55.6% vs too few users (cohort 2026-W46: pass 20 of 36 users, fail 0 "
        "of 4 users), now 44.4% vs too few users (cohort 2026-W46: pass 16 of 36 users, fail 4 of 4 users)",
        "",
    ]
    assert correction.body.endswith("/p/support-bot/meeting/2026-W47/\n")
    assert asked.args == [after_closed_first.pk, "2026-W46", [correction.body.splitlines()[3][2:]]]
    [claim] = AuditEvent.objects.filter(action="cycle.digest_corrected")
    assert claim.details == {"week": "2026-W47", "with_week": "2026-W46", "recipients": 1,
                             "figures": ["Week-1 retention, pass vs fail"]}  # fmt: skip
    assert sentence(claim.action, claim.details) == (
        "Mailed 1 expert the figures of the week 2026-W47 that 2026-W46's close changed after its digest went out: "
        "Week-1 retention, pass vs fail"
    )


def test_a_week_whose_digest_has_not_gone_out_gets_no_correction(project, after_closed_first):
    """Its digest, when it goes, tells the figures as restated."""
    ReviewCycle.objects.filter(pk=after_closed_first.pk).update(digests_sent_at=None)

    cycles.close_week(project_id=project.pk, week=LATE, now=NOW)

    assert enqueued(TASK) == [] and not AuditEvent.objects.filter(action="cycle.digest_corrected").exists()


def test_a_restated_comparison_with_the_week_before_is_corrected_too(project, rubric):
    """W47 closed first compared its pass rate (2 of 5) with W46's as it stood (5 of 5); 5 more W46 answers failed
    before W46 closed, whose close compares W47 again (`_compare_again`): the experts W47's digest went to hear the
    change it now shows."""
    Project.objects.filter(pk=project.pk).update(created_at=datetime(2026, 10, 1, 12, tzinfo=UTC))
    experts = [
        MembershipFactory(project=project, user=UserFactory(username=name, email=f"{name}@example.com"), role="expert")
        .user for name in ("erin", "ezra")
    ]  # fmt: skip
    late, after = datetime(2026, 11, 11, 12, tzinfo=UTC), datetime(2026, 11, 18, 12, tzinfo=UTC)
    label_outputs(project, 5, answers=AGREE, experts=experts, rubric=rubric, occurred_at=late)
    label_outputs(project, 2, answers=AGREE, experts=experts, rubric=rubric, occurred_at=after)
    label_outputs(project, 3, answers=FAIL, experts=experts, rubric=rubric, occurred_at=after)
    cycles.close_week(project_id=project.pk, week=AFTER, now=NOW)
    run_each_as_worker("labeling.send_digests")
    mail.outbox.clear()
    label_outputs(project, 5, answers=FAIL, experts=experts, rubric=rubric, occurred_at=late)

    cycles.close_week(project_id=project.pk, week=LATE, now=NOW)
    run_each_as_worker(TASK)

    [erin, ezra] = [message for message in mail.outbox if "corrected" in message.subject]
    assert (erin.to, ezra.to) == (["erin@example.com"], ["ezra@example.com"])
    assert "- Pass rate (correct): was 40.0% of 5 items (-60.0 pts), now 40.0% of 5 items (-10.0 pts)" in erin.body
