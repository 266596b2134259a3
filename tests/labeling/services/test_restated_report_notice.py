"""A week closed out of order restates the headline figures of a later week closed already: the project's leads and
admins, who read and discussed that report, get one short notice naming the figures that changed, through the outbox,
once. The experts do not: their digest holds none of these figures."""

from datetime import UTC, date, datetime

import pytest
from django.core import mail

from labeling.models import AuditEvent, Output, Project, Resolution, ReviewCycle
from labeling.selectors.digest import meeting_url
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
TASK = "labeling.send_restated_report_notice"
ACTION = "cycle.restated_report_notice_sent"
FAIL = ({"correct": False, "helpful": 2}, {"correct": False, "helpful": 1})


def _users(outputs, names) -> None:
    for output, name in zip(outputs, names, strict=True):
        Output.objects.filter(pk=output.pk).update(end_user_id=name)


@pytest.fixture
def after_closed_first(project):
    """W47 closed and its digest sent to Erin while W46 was still open; W46's final verdicts put four other users on
    each side of its cohort's split (as many passing: W47's comparison stands). Lena leads and Ada administers (with
    addresses), Lou leads without one, Leo's lead account is inactive, Enzo is an engineer."""
    Project.objects.filter(pk=project.pk).update(created_at=datetime(2026, 10, 1, 12, tzinfo=UTC))
    for username, email, role, active in (
        ("erin", "erin@example.com", "expert", True),
        ("lena", "lena@example.com", "lead", True),
        ("ada", "ada@example.com", "admin", True),
        ("lou", "", "lead", True),
        ("leo", "leo@example.com", "lead", False),
        ("enzo", "enzo@example.com", "engineer", True),
    ):
        user = UserFactory(username=username, email=email, is_active=active)
        MembershipFactory(project=project, user=user, role=role)
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


def test_the_leads_get_one_notice_of_the_figures_a_late_close_restated(project, after_closed_first):
    before = after_closed_first.report["headline"]["retention_week1"]
    assert (before["pass"]["returned"], before["pass"]["users"]) == (20, 36)

    cycles.close_week(project_id=project.pk, week=LATE, now=NOW)
    cycles.close_week(project_id=project.pk, week=LATE, now=NOW)  # closed already: nothing new
    [asked] = enqueued(TASK)
    run_each_as_worker(TASK)
    run_each_as_worker(TASK)  # delivered twice: sent once

    notices = [message for message in mail.outbox if "report changed" in message.subject]
    assert [notice.to for notice in notices] == [["ada@example.com"], ["lena@example.com"]]  # no expert, no engineer
    notice = notices[1]
    assert notice.subject == "[expertloop] Support bot: the 2026-W47 report changed"
    assert notice.body.splitlines()[:-1] == [
        "Hello lena,",
        "",
        "2026-W46 closed after 2026-W47, and its final figures changed the 2026-W47 report, which you may have "
        "discussed already:",
        "- Week-1 retention, pass vs fail: was 55.6% vs too few users (cohort 2026-W46: pass 20 of 36 users, fail 0 "
        "of 4 users), now 44.4% vs too few users (cohort 2026-W46: pass 16 of 36 users, fail 4 of 4 users)",
        "",
    ]
    assert notice.body.splitlines()[-1] == "The meeting page: " + meeting_url(after_closed_first)
    # The figure travels as its parts (name, was, now); the line is made where the e-mail is.
    [[name, was, now]] = asked.args[2]
    assert asked.args[:2] == [after_closed_first.pk, "2026-W46"] and name == "Week-1 retention, pass vs fail"
    assert (was.startswith("55.6% vs"), now.startswith("44.4% vs")) == (True, True)
    [claim] = AuditEvent.objects.filter(action=ACTION)
    assert claim.details == {"week": "2026-W47", "with_week": "2026-W46", "recipients": 2,
                             "figures": ["Week-1 retention, pass vs fail"]}  # fmt: skip
    assert sentence(claim.action, claim.details) == (
        "Mailed the leads and admins (2 e-mails) the figures of the week 2026-W47's report that 2026-W46's close "
        "restated: Week-1 retention, pass vs fail"
    )


def test_a_closed_week_whose_digest_has_not_gone_out_still_tells_the_leads(project, after_closed_first):
    """Its report was on the meeting page from its close (and `cycle.closed` told its headline), whether or not the
    experts' digest waits."""
    ReviewCycle.objects.filter(pk=after_closed_first.pk).update(digests_sent_at=None)

    cycles.close_week(project_id=project.pk, week=LATE, now=NOW)

    [asked] = enqueued(TASK)
    assert asked.args[:2] == [after_closed_first.pk, "2026-W46"]


def test_a_restated_comparison_with_the_week_before_is_told_too(project, rubric):
    """W47 closed first compared its pass rate (2 of 5) with W46's as it stood (5 of 5); 5 more W46 answers failed
    before W46 closed, whose close compares W47 again (`_compare_again`): the experts W47's digest went to hear the
    change it now shows; the experts hear nothing."""
    Project.objects.filter(pk=project.pk).update(created_at=datetime(2026, 10, 1, 12, tzinfo=UTC))
    MembershipFactory(project=project, user=UserFactory(username="lena", email="lena@example.com"), role="lead")
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

    [notice] = [message for message in mail.outbox if "report changed" in message.subject]
    assert notice.to == ["lena@example.com"]
    assert "- Pass rate (correct): was 40.0% of 5 items (-60.0 pts), now 40.0% of 5 items (-10.0 pts)" in notice.body
