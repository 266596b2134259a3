"""The weekly close: resolve → datasets → metrics → report → next cycle → digests, idempotent; week names."""

import threading
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.db.backends.signals import connection_created
from django.test.utils import CaptureQueriesContext

from labeling.exceptions import CycleClosed, InvalidWeek, WeekNotOver
from labeling.models import (
    AgreementMetric,
    AuditEvent,
    CycleStatus,
    Dataset,
    DatasetVersion,
    ExpertWeek,
    FailureTheme,
    Item,
    Membership,
    OutboxMessage,
    ProjectWeek,
    QualityMetric,
    Queue,
    QueueWeek,
    Resolution,
    RetentionCell,
    ReviewCycle,
    WeekChange,
    week_label,
)
from labeling.rules import calendar
from labeling.rules.gold import gold_answers
from labeling.selectors.digest import project_digest_lines
from labeling.selectors.metrics import WeekRange, pooled_trend, quality_series
from labeling.services import cycles
from labeling.services.assignment import next_item
from labeling.services.datasets import create_dataset
from labeling.services.labels import submit_label
from labeling.services.resolution import adjudicate, resolve_stale_items
from labeling.services.routing import route_outputs
from labeling.services.rubrics import publish_rubric
from tests.factories import OutputFactory, UserFactory
from tests.helpers.rubrics import QUESTIONS
from tests.outbox import run_each_as_worker

WEEK = date(2026, 11, 9)  # a Monday, long over by the test's "now"
# What the two experts say about each of ten outputs: six agree on pass, two on fail, two tie.
VERDICTS = [(True, True)] * 6 + [(False, False)] * 2 + [(True, False)] * 2


@pytest.fixture
def week_of_labels(project):
    """Ten outputs of WEEK in an overlap-2 queue, each labeled by Erin and Ezra as VERDICTS says."""
    rubric = publish_rubric(project=project, questions=QUESTIONS)
    queue = Queue.objects.create(project=project, slug="sample", name="Sample", overlap=2, weekly_quota=50)
    experts = [UserFactory(username="erin"), UserFactory(username="ezra")]
    for user in experts:
        Membership.objects.create(project=project, user=user, role="expert")
    moment = datetime(2026, 11, 11, 12, tzinfo=UTC)
    outputs = [
        OutputFactory(
            project=project, external_id=f"w-{i}", occurred_at=moment, tags=["billing" if i % 2 else "shipping"]
        )
        for i in range(len(VERDICTS))
    ]
    route_outputs(project_id=project.pk, output_ids=[output.pk for output in outputs])
    for erin_says, ezra_says in VERDICTS:
        item = None
        for expert, verdict in zip(experts, (erin_says, ezra_says), strict=True):
            item = next_item(expert=expert, queue=queue)
            answers = {"correct": verdict, "helpful": 4 if verdict else 2, "tone": "friendly"}
            submit_label(expert=expert, item=item, rubric=rubric, answers=answers)
    return {"queue": queue, "experts": experts, "rubric": rubric}


def test_closing_a_week_resolves_builds_computes_freezes_and_opens_the_next(
    project, lead, week_of_labels, django_capture_on_commit_callbacks
):
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    assert Dataset.objects.get(pk=dataset.pk).auto_rebuild
    # Both weeks ended before the project was created: the next one holds an output sent with its date, so it has
    # something to close and gets its cycle (one holding nothing gets none: test_meeting).
    OutputFactory(project=project, external_id="next-week", occurred_at=datetime(2026, 11, 18, 12, tzinfo=UTC))

    with django_capture_on_commit_callbacks(execute=True):
        cycle = cycles.close_week(project_id=project.pk, week=WEEK, closed_by=lead)
    run_each_as_worker("labeling.send_digests")

    assert cycle.status == CycleStatus.CLOSED and cycle.closed_by == lead and cycle.label == "2026-W46"
    assert Resolution.objects.filter(item__project=project).count() == 10
    assert DatasetVersion.objects.get(dataset=dataset).row_count == 8  # the two ties wait for a lead
    report = cycle.report
    assert (report["week"], report["week_start"], report["week_end"]) == ("2026-W46", "2026-11-09", "2026-11-15")
    headline = report["headline"]
    # 6 pass of 8 decided items; Wilson 95%: (0.4093, 0.9285), computed by hand from Wilson (1927).
    assert (headline["pass_rate"]["passes"], headline["pass_rate"]["n"]) == (6, 8)
    assert headline["pass_rate"]["value"] == pytest.approx(0.75)
    assert headline["pass_rate"]["ci_low"] == pytest.approx(0.4093, abs=1e-4)
    assert headline["pass_rate"]["ci_high"] == pytest.approx(0.9285, abs=1e-4)
    assert headline["alpha"]["question"] == "correct" and headline["alpha"]["units"] == 10
    # The project's first week: no "+20 vs last week (0)" against a week it did not exist in.
    assert headline["labels"] == {
        "done": 20, "wanted": 20, "quota": 50, "items": 10, "first_week": True,
        "queues": 1, "queues_with_quota": 1, "items_in_quota_queues": 10,
    }  # fmt: skip
    assert [entry["item_id"] for entry in report["agenda"]["adjudication"]] == sorted(
        Item.objects.filter(resolution__status="needs_adjudication").values_list("pk", flat=True)
    )
    assert {row.question for row in QualityMetric.objects.filter(project=project, week=WEEK)} == {
        "correct", "helpful", "tone",
    }  # fmt: skip
    assert AgreementMetric.objects.filter(project=project, week=WEEK).count() == 3
    assert ExpertWeek.objects.filter(project=project, week=WEEK).count() == 2
    assert QueueWeek.objects.get(project=project, week=WEEK).backlog == 0
    assert ReviewCycle.objects.get(project=project, week=WEEK + timedelta(days=7)).status == CycleStatus.OPEN
    # The experts' digests. (With eager Celery, as without REDIS_URL, the alert evaluation the close asks for runs
    # too and may write to the lead: not this test's concern.)
    digests = [message for message in mail.outbox if "your week after 2026-W46" in message.subject]
    assert sorted(message.to[0] for message in digests) == ["erin@example.com", "ezra@example.com"]
    assert "you labeled 10 items" in digests[0].body
    assert AuditEvent.objects.filter(project=project, action="cycle.closed").count() == 1


@pytest.mark.parametrize(
    "now, built_in",
    [
        (datetime(2026, 11, 16, 0, 5, tzinfo=UTC), date(2026, 11, 16)),  # beat's close, minutes after the week ended
        (datetime(2026, 11, 25, 9, tzinfo=UTC), date(2026, 11, 23)),  # a retry, or a close by hand, weeks on
    ],
)
def test_the_versions_a_close_builds_are_built_at_its_moment_in_the_week_it_ran_in(
    project, lead, week_of_labels, now, built_in
):
    """However long the build takes, and whatever the clock reads then, a version built by a close reads the
    close's moment, made and built: the datasets page and API say which close made it."""
    dataset = create_dataset(project=project, spec={"name": "Support eval"})

    cycles.close_week(project_id=project.pk, week=WEEK, closed_by=lead, now=now)

    version = DatasetVersion.objects.get(dataset=dataset)
    assert (version.created_at, version.built_at, version.cycle_week) == (now, now, built_in)


def test_a_deactivated_expert_gets_no_digest(project, week_of_labels, django_capture_on_commit_callbacks):
    """Deactivating an account is how an operator cuts a person off: no more of the project's week by e-mail."""
    Membership.objects.create(project=project, user=UserFactory(username="gwen", is_active=False), role="expert")

    with django_capture_on_commit_callbacks(execute=True):
        cycles.close_week(project_id=project.pk, week=WEEK)
    run_each_as_worker("labeling.send_digests")

    digests = [message for message in mail.outbox if "your week after 2026-W46" in message.subject]
    assert sorted(message.to[0] for message in digests) == ["erin@example.com", "ezra@example.com"]


def test_an_expert_who_never_agreed_with_the_gold_is_told_so_in_the_digest(project):
    """0% is a figure: the digest says it, as it says 75%, and leaves it out when nothing was compared or when too few
    items were (under MIN_GOLD_ITEMS: 100% of 2 means nothing)."""
    cycle = ReviewCycle.objects.create(project=project, week=WEEK, status=CycleStatus.CLOSED)
    for name, rate, compared in (("erin", 0.0, 8), ("ezra", 0.75, 8), ("ella", None, 0), ("emil", 1.0, 2)):
        user = UserFactory(username=name)
        Membership.objects.create(project=project, user=user, role="expert")
        counts = {"agree": round(compared * (rate or 0)), "compared": compared}
        ExpertWeek.objects.create(
            project=project, week=WEEK, expert=user, labels=8, gold_rate=rate, gold_agreement={"correct": counts}
        )

    cycles.send_digests(cycle_id=cycle.pk)

    bodies = {message.to[0].split("@")[0]: message.body for message in mail.outbox}
    assert "you labeled 8 items, agreeing with the gold answer 0% of the time." in bodies["erin"]
    assert "you labeled 8 items, agreeing with the gold answer 75% of the time." in bodies["ezra"]
    assert "you labeled 8 items. Thank you." in bodies["ella"]
    assert "you labeled 8 items. Thank you." in bodies["emil"]


def test_the_digest_counts_one_item_and_many_items_in_words(project):
    """It said "1 item(s)": one item is "1 item", any other count "items", in what they labeled and what waits."""
    cycle = ReviewCycle.objects.create(project=project, week=WEEK, status=CycleStatus.CLOSED)
    for name, labels in (("erin", 1), ("ezra", 3)):
        user = UserFactory(username=name)
        Membership.objects.create(project=project, user=user, role="expert")
        ExpertWeek.objects.create(project=project, week=WEEK, expert=user, labels=labels, gold_agreement={})
    single = Queue.objects.create(project=project, slug="refunds", name="Refunds")
    several = Queue.objects.create(project=project, slug="general", name="General")
    for queue, count in ((single, 1), (several, 2)):
        for output in OutputFactory.create_batch(count, project=project):
            Item.objects.create(project=project, queue=queue, output=output, week=WEEK, overlap=1)

    cycles.send_digests(cycle_id=cycle.pk)

    bodies = {message.to[0].split("@")[0]: message.body for message in mail.outbox}
    assert f"In {cycle.label} you labeled 1 item. Thank you." in bodies["erin"]
    assert f"In {cycle.label} you labeled 3 items. Thank you." in bodies["ezra"]
    for body in bodies.values():
        assert "- Refunds: 1 item waiting — " in body and "- General: 2 items waiting — " in body
        assert "(s)" not in body


def test_the_digest_isolates_the_names_a_right_to_left_override_would_reverse_its_lines_with(project):
    """A queue or project named with a right-to-left override (U+202E) reversed the rest of its digest line: the count
    waiting, the link. The names are isolated (U+2068…U+2069) as the plain-text invitation e-mail isolates them, in
    each expert's e-mail (its subject and greeting too) and in the team's lines (the cycle.digest webhook, Slack)."""
    project.name = "Support \u202eteam"
    project.save(update_fields=["name"])
    cycle = ReviewCycle.objects.create(project=project, week=WEEK, status=CycleStatus.CLOSED)
    erin = _expert(project, "erin")
    type(erin).objects.filter(pk=erin.pk).update(first_name="\u202eErin")
    Queue.objects.create(project=project, slug="refunds", name="\u202eRefunds")
    Queue.objects.create(project=project, slug="general", name="General")  # nothing to isolate: as typed

    team = project_digest_lines(cycle)
    cycles.send_digests(cycle_id=cycle.pk)

    [message] = mail.outbox
    for lines in (team, message.body.splitlines()):
        running = week_label(calendar.current_week(project))
        assert f"This week ({running}) in \u2068Support \u202eteam\u2069:" in lines
        assert any(line.startswith("- \u2068\u202eRefunds\u2069: 0 items waiting — ") for line in lines)
        assert any(line.startswith("- General: 0 items waiting — ") for line in lines)
    assert message.body.startswith("Hello \u2068\u202eErin\u2069,\n")
    assert message.subject == f"[expertloop] \u2068Support \u202eteam\u2069: your week after {cycle.label}"


def test_each_expert_is_told_only_the_queues_they_may_label_in_and_the_team_every_one(project):
    """Refunds names Erin as its one eligible expert: Ezra cannot label there, so his digest used to send him to a
    queue that turns him away. Each expert's e-mail lists the queues that admit them; the team-wide lines (the
    cycle.digest webhook, Slack) still list every active queue."""
    cycle = ReviewCycle.objects.create(project=project, week=WEEK, status=CycleStatus.CLOSED)
    erin, ezra = UserFactory(username="erin"), UserFactory(username="ezra")
    for user in (erin, ezra):
        Membership.objects.create(project=project, user=user, role="expert")
    refunds = Queue.objects.create(project=project, slug="refunds", name="Refunds")
    refunds.eligible_experts.set([erin])
    Queue.objects.create(project=project, slug="general", name="General")  # names nobody: every expert

    cycles.send_digests(cycle_id=cycle.pk)

    bodies = {message.to[0].split("@")[0]: message.body for message in mail.outbox}
    assert "- Refunds:" in bodies["erin"] and "- Refunds:" not in bodies["ezra"]
    assert "- General:" in bodies["erin"] and "- General:" in bodies["ezra"]
    assert "- Refunds:" in "\n".join(project_digest_lines(cycle))


def test_the_team_digest_warns_of_a_queue_nobody_can_label_and_the_experts_e_mails_do_not(project):
    """Refunds names only Erin, whose account was deactivated: its items wait for nobody. The lead screens said so;
    the digest the lead reads (the cycle.digest webhook, Slack) listed it like any other queue. It says so too, with
    where to fix it; an expert's e-mail lists only queues they may label, so it has no such queue to warn of."""
    cycle = ReviewCycle.objects.create(project=project, week=WEEK, status=CycleStatus.CLOSED)
    erin = _expert(project, "erin")
    _expert(project, "ezra")
    refunds = Queue.objects.create(project=project, slug="refunds", name="Refunds")
    refunds.eligible_experts.set([erin])
    Queue.objects.create(project=project, slug="general", name="General")
    type(erin).objects.filter(pk=erin.pk).update(is_active=False)

    team = "\n".join(project_digest_lines(cycle))
    cycles.send_digests(cycle_id=cycle.pk)

    [refunds_line] = [line for line in team.splitlines() if "Refunds" in line]
    assert "Nobody can label this queue" in refunds_line and "erin" in refunds_line
    assert f"/p/{project.slug}/manage/queues/{refunds.pk}/" in refunds_line  # where a lead changes whom it names
    [general_line] = [line for line in team.splitlines() if "General" in line]
    assert "Nobody" not in general_line
    [ezra_mail] = [message.body for message in mail.outbox]
    assert "Nobody" not in ezra_mail and "Refunds" not in ezra_mail


def test_the_team_digest_warns_of_a_queue_for_every_expert_when_the_project_has_none_left(project):
    """A queue that names nobody admits every expert and lead: with none left, nobody can label it either."""
    cycle = ReviewCycle.objects.create(project=project, week=WEEK, status=CycleStatus.CLOSED)
    Queue.objects.create(project=project, slug="general", name="General")
    Membership.objects.create(project=project, user=UserFactory(username="enzo"), role="engineer")

    [general_line] = [line for line in project_digest_lines(cycle) if "General" in line]

    assert "Nobody can label this queue" in general_line and f"/p/{project.slug}/manage/members/" in general_line


def test_the_digests_read_the_queues_once_whatever_the_number_of_experts(project):
    """Each expert's list of queues is their own, but it is cut from one read of the queues, their waiting items and
    whom they name: sending to twelve experts asks the database what sending to two does."""
    Queue.objects.create(project=project, slug="refunds", name="Refunds").eligible_experts.set(
        [_expert(project, "erin")]
    )
    _expert(project, "ezra")

    def statements_to_send() -> int:
        cycle = ReviewCycle.objects.create(project=project, week=WEEK + timedelta(days=7 * ReviewCycle.objects.count()))
        with CaptureQueriesContext(connection) as sent:
            cycles.send_digests(cycle_id=cycle.pk)
        return len(sent)

    two = statements_to_send()
    for name in ("ella", "emil", "enzo", "eve", "ewan", "eyal", "ezio", "elif", "eben", "egon"):
        _expert(project, name)

    assert statements_to_send() == two


def _expert(project, username):
    user = UserFactory(username=username)
    Membership.objects.create(project=project, user=user, role="expert")
    return user


def test_closing_twice_leaves_one_report_and_the_same_numbers(
    project, week_of_labels, django_capture_on_commit_callbacks
):
    create_dataset(project=project, spec={"name": "Support eval"})
    with django_capture_on_commit_callbacks(execute=True):
        first = cycles.close_week(project_id=project.pk, week=WEEK)
    rows = list(QualityMetric.objects.filter(project=project).values_list("question", "n", "value"))

    with django_capture_on_commit_callbacks(execute=True):
        again = cycles.close_week(project_id=project.pk, week=WEEK)
    run_each_as_worker("labeling.send_digests")

    assert again.pk == first.pk and again.report == first.report
    assert ReviewCycle.objects.filter(project=project, week=WEEK).count() == 1
    assert list(QualityMetric.objects.filter(project=project).values_list("question", "n", "value")) == rows
    assert DatasetVersion.objects.count() == 1 and len(mail.outbox) == 2


def _two_experts_on_a_queue_of(project, *, outputs: int):
    """Erin and Ezra, experts of a queue that wants two labels an item, and `outputs` outputs of week 46 routed
    into it (external ids w-0, w-1, …)."""
    queue = Queue.objects.create(project=project, slug="sample", name="Sample", overlap=2)
    erin, ezra = UserFactory(username="erin"), UserFactory(username="ezra")
    for user in (erin, ezra):
        Membership.objects.create(project=project, user=user, role="expert")
    moment = datetime(2026, 11, 11, 12, tzinfo=UTC)
    made = [OutputFactory(project=project, external_id=f"w-{i}", occurred_at=moment) for i in range(outputs)]
    route_outputs(project_id=project.pk, output_ids=[output.pk for output in made])
    return queue, erin, ezra


def test_a_week_whose_rubric_asked_a_question_as_another_kind_midweek_closes(
    project, django_capture_on_commit_callbacks
):
    """Midweek a lead turns `tone` from a choice into a rating. An item labeled under both versions has one rating
    of the two its item needs, which is no agreement: no gold tone (a choice is no answer to a rating), and the week's
    mean tone is of the ratings two experts gave."""
    asked = [{"key": "correct", "kind": "binary", "prompt": "Correct?"}]
    v1 = publish_rubric(project=project, questions=[*asked, {"key": "tone", "kind": "choice", "prompt": "Tone?",
                                                             "options": ["friendly", "curt"]}])  # fmt: skip
    queue, erin, ezra = _two_experts_on_a_queue_of(project, outputs=3)

    def label(expert, rubric, tone):
        submit_label(expert=expert, item=next_item(expert=expert, queue=queue), rubric=rubric,
                     answers={"correct": True, "tone": tone})  # fmt: skip

    label(erin, v1, "friendly")  # the first item, by both under version 1
    label(ezra, v1, "friendly")
    label(erin, v1, "friendly")  # the second item, before the change …
    v2 = publish_rubric(project=project, questions=[*asked, {"key": "tone", "kind": "rating", "prompt": "Tone?",
                                                             "scale": [1, 5]}])  # fmt: skip
    label(ezra, v2, 4)  # … and after it
    label(erin, v2, 2)  # the third item, under version 2 only
    label(ezra, v2, 4)

    with django_capture_on_commit_callbacks(execute=True):
        cycle = cycles.close_week(project_id=project.pk, week=WEEK)

    assert cycle.status == CycleStatus.CLOSED
    first, second, third = Item.objects.filter(project=project).order_by("pk")
    assert first.resolution.automatic["tone"]["value"] == "friendly"  # resolved under version 1, its own
    assert "tone" not in second.resolution.automatic and second.resolution.status == "resolved"
    assert third.resolution.automatic["tone"]["value"] == 3
    tone = QualityMetric.objects.get(project=project, week=WEEK, question="tone")
    assert (tone.kind, tone.n, tone.value) == ("rating", 1, 3.0)


def test_a_rating_asked_on_another_scale_midweek_is_compared_only_with_answers_on_that_scale(
    project, django_capture_on_commit_callbacks
):
    """Midweek a lead turns `helpful` from a 1-5 into a 1-3 rating under the same key. A 5 on the old scale is not a
    5 (or a 3) on the new one: the item labeled under both has one answer on the new scale, no agreement and so no
    gold, and the week's mean, agreement and each expert's agreement with the gold compare only answers given on the
    current scale.
    `correct`, asked alike by both versions, counts every item."""
    correct = {"key": "correct", "kind": "binary", "prompt": "Correct?"}
    v1 = publish_rubric(project=project, questions=[correct, {"key": "helpful", "kind": "rating", "prompt": "Helpful?",
                                                              "scale": [1, 5]}])  # fmt: skip
    queue, erin, ezra = _two_experts_on_a_queue_of(project, outputs=3)

    def label(expert, rubric, helpful):
        submit_label(expert=expert, item=next_item(expert=expert, queue=queue), rubric=rubric,
                     answers={"correct": True, "helpful": helpful})  # fmt: skip

    label(erin, v1, 2)  # the first item, by both on the 1-5 scale
    label(ezra, v1, 2)
    label(erin, v1, 5)  # the second item, before the change …
    v2 = publish_rubric(project=project, questions=[correct, {"key": "helpful", "kind": "rating", "prompt": "Helpful?",
                                                              "scale": [1, 3]}])  # fmt: skip
    label(ezra, v2, 3)  # … and after it
    label(erin, v2, 3)  # the third item, on the 1-3 scale only
    label(ezra, v2, 3)

    with django_capture_on_commit_callbacks(execute=True):
        cycles.close_week(project_id=project.pk, week=WEEK)

    first, second, third = Item.objects.filter(project=project).order_by("pk")
    assert first.resolution.automatic["helpful"]["value"] == 2  # resolved on the 1-5 scale, its own
    assert "helpful" not in second.resolution.automatic  # one 3 on 1-3: not a median of the two experts
    helpful = QualityMetric.objects.get(project=project, week=WEEK, question="helpful")
    assert (helpful.n, helpful.value) == (1, 3.0)
    assert QualityMetric.objects.get(project=project, week=WEEK, question="correct").n == 3
    agreement = AgreementMetric.objects.get(project=project, week=WEEK, question="helpful")
    assert (agreement.units, agreement.labels) == (1, 2)
    assert AgreementMetric.objects.get(project=project, week=WEEK, question="correct").units == 3
    assert ExpertWeek.objects.get(project=project, week=WEEK, expert=erin).gold_agreement == {
        "correct": {"agree": 3, "compared": 3},
        "helpful": {"agree": 1, "compared": 1},
    }


def test_a_rating_rescaled_between_two_closes_breaks_the_trend_instead_of_joining_the_means(
    project, lead, client, django_capture_on_commit_callbacks
):
    """W46 closes with `helpful` asked on 1-5 (a mean of 5.0), W47 with it asked on 1-3 (a mean of 3.0), under the same
    key. The quality rows did not say on which scale, so the dashboard's trend joined five of five to three of three as
    if helpfulness fell. Each row now records how its question was asked (`rules.gold.asked_as`, the test of
    `asked_alike`): the trend starts a new line at W47 and says the scale changed; every figure stays as it was."""
    correct = {"key": "correct", "kind": "binary", "prompt": "Correct?"}
    helpful = {"key": "helpful", "kind": "rating", "prompt": "Helpful?", "scale": [1, 5]}
    v1 = publish_rubric(project=project, questions=[correct, helpful])
    queue, erin, ezra = _two_experts_on_a_queue_of(project, outputs=1)

    def label_both(rubric, value):
        for expert in (erin, ezra):
            submit_label(expert=expert, item=next_item(expert=expert, queue=queue), rubric=rubric,
                         answers={"correct": True, "helpful": value})  # fmt: skip

    label_both(v1, 5)
    with django_capture_on_commit_callbacks(execute=True):
        cycles.close_week(project_id=project.pk, week=WEEK)
    v2 = publish_rubric(project=project, questions=[correct, {**helpful, "scale": [1, 3]}])
    later = OutputFactory(project=project, external_id="w-later", occurred_at=datetime(2026, 11, 18, 12, tzinfo=UTC))
    route_outputs(project_id=project.pk, output_ids=[later.pk])
    label_both(v2, 3)
    with django_capture_on_commit_callbacks(execute=True):
        cycles.close_week(project_id=project.pk, week=WEEK + timedelta(days=7))

    rows = QualityMetric.objects.filter(project=project, question="helpful").order_by("week")
    assert [(row.value, row.scale) for row in rows] == [(5.0, "rating 1-5"), (3.0, "rating 1-3")]
    assert {row.scale for row in QualityMetric.objects.filter(question="correct")} == {"binary"}
    weeks = WeekRange(first=WEEK, last=WEEK + timedelta(days=7))
    trend = pooled_trend(quality_series(project=project, weeks=weeks), question="helpful", weeks=weeks)
    assert [(point["value"], point.get("scale_changed", False)) for point in trend] == [(5.0, False), (3.0, True)]
    client.force_login(lead)
    span = {"from": "2026-W46", "to": "2026-W47", "question": "helpful"}
    html = client.get(f"/p/{project.slug}/dashboard/", span).content.decode()
    chart = html.split('data-chart="quality"')[1].split("</figure>")[0]
    assert chart.count('<polyline class="line series-0"') == 2  # a line for each scale, not one through both
    assert chart.count('<circle class="point series-0"') == 2 and "asked on another scale" in chart


def test_a_decision_on_a_scale_the_labels_no_longer_ask_is_set_aside_from_the_gold(
    project, lead, django_capture_on_commit_callbacks
):
    """A lead decides `helpful` 5 of five on an item labeled under v1; then v2 asks `helpful` on 1-3 and both experts
    edit their labels under it. The decision was made on the 1-5 scale: it is no answer on the 1-3 one, so the gold
    and the week's mean take the experts' 1-3 answers, while the decision is kept (set aside, with its version) and
    counts again for `correct`, which both versions ask alike."""
    correct = {"key": "correct", "kind": "binary", "prompt": "Correct?"}
    v1 = publish_rubric(project=project, questions=[correct, {"key": "helpful", "kind": "rating", "prompt": "Helpful?",
                                                              "scale": [1, 5]}])  # fmt: skip
    queue, erin, ezra = _two_experts_on_a_queue_of(project, outputs=1)
    item = Item.objects.get(project=project)
    for expert, helpful in ((erin, 4), (ezra, 3)):
        next_item(expert=expert, queue=queue)
        submit_label(expert=expert, item=item, rubric=v1, answers={"correct": True, "helpful": helpful})
    decision = adjudicate(lead=lead, item=item, answers={"correct": False, "helpful": 5})
    assert decision.resolution.adjudicated["helpful"] == {"value": 5, "method": "adjudicated", "rubric_version": 1}
    v2 = publish_rubric(project=project, questions=[correct, {"key": "helpful", "kind": "rating", "prompt": "Helpful?",
                                                              "scale": [1, 3]}])  # fmt: skip
    for expert in (erin, ezra):
        submit_label(expert=expert, item=item, rubric=v2, answers={"correct": True, "helpful": 1})

    with django_capture_on_commit_callbacks(execute=True):
        cycles.close_week(project_id=project.pk, week=WEEK)

    resolution = Resolution.objects.get(item=item)
    assert gold_answers(resolution.automatic, resolution.adjudicated) == {"correct": False, "helpful": 1}
    assert resolution.set_aside == {"helpful": {"value": 5, "method": "adjudicated", "rubric_version": 1}}
    helpful = QualityMetric.objects.get(project=project, week=WEEK, question="helpful")
    assert (helpful.n, helpful.value) == (1, 1.0)
    assert QualityMetric.objects.get(project=project, week=WEEK, question="correct").value == 0.0
    assert AuditEvent.objects.get(action="gold.adjudicated").details["rubric_version"] == 1


def test_a_week_still_running_cannot_be_closed(project):
    this_week = calendar.current_week(project)

    with pytest.raises(WeekNotOver, match="still running"):
        cycles.close_week(project_id=project.pk, week=this_week)

    assert not ReviewCycle.objects.filter(project=project, status=CycleStatus.CLOSED).exists()


def test_a_label_can_be_edited_while_its_week_is_open_and_not_after(project, week_of_labels):
    erin = week_of_labels["experts"][0]
    item = Item.objects.filter(project=project).order_by("pk").first()
    edit = {"correct": False, "helpful": 1, "tone": "curt"}
    submit_label(expert=erin, item=item, rubric=week_of_labels["rubric"], answers=edit)
    cycles.close_week(project_id=project.pk, week=WEEK)

    with pytest.raises(CycleClosed, match="2026-W46 is closed"):
        submit_label(expert=erin, item=item, rubric=week_of_labels["rubric"], answers={**edit, "helpful": 5})

    assert item.labels.get(expert=erin).answers["helpful"] == 1


@pytest.mark.parametrize(
    ("weekday", "label", "first_day"),
    [(0, "2026-W46", date(2026, 11, 9)), (3, "2026-W46", date(2026, 11, 12)), (0, "2021-W01", date(2021, 1, 4))],
)
def test_a_week_label_names_the_cycle_that_starts_in_that_iso_week(project, weekday, label, first_day):
    project.cycle_weekday = weekday

    assert calendar.week_from_label(project, label) == first_day
    assert ReviewCycle(project=project, week=first_day).label == label


@pytest.mark.parametrize("label", ["", "2026-48", "2026-W54", "2026-W00", "W48", "2026-w48", "2026-W4"])
def test_a_malformed_week_label_is_refused_with_a_message(project, label):
    with pytest.raises(InvalidWeek, match="ISO week|has no week"):
        calendar.week_from_label(project, label)


def test_beat_finds_each_project_week_that_is_over_until_it_is_closed(project, other_project):
    now = datetime(2026, 11, 25, 9, tzinfo=UTC)
    type(project).objects.update(created_at=now - timedelta(days=30))
    last_week = date(2026, 11, 16)

    assert sorted(cycles.due_weeks(now)) == sorted([(project.pk, last_week), (other_project.pk, last_week)])
    cycles.close_week(project_id=project.pk, week=last_week, now=now)
    assert cycles.due_weeks(now) == [(other_project.pk, last_week)]


def test_a_project_made_this_week_has_no_week_to_close(project):
    assert cycles.due_weeks() == []


def test_the_close_week_command_closes_and_says_so_once(project, week_of_labels, capsys):
    call_command("close_week", project=project.slug, week="2026-W46")
    call_command("close_week", project=project.slug, week="2026-W46")

    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Closed support-bot 2026-W46 (resolve ") and out[0].endswith("s in all).")
    assert out[1].startswith("support-bot 2026-W46 was already closed")


def test_the_close_week_command_takes_a_day_in_the_week(project, week_of_labels, capsys):
    """As the REST API does (`week_of_label_or_day`): a Thursday names the week holding it."""
    call_command("close_week", project=project.slug, week="2026-11-12")

    assert capsys.readouterr().out.startswith("Closed support-bot 2026-W46 (resolve ")
    assert ReviewCycle.objects.get(project=project, week=WEEK).status == CycleStatus.CLOSED


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"project": "nope", "week": "2026-W46"}, "No project with slug 'nope'"),
        ({"project": "support-bot", "week": "2026-48"}, "ISO week"),
        ({"project": "support-bot", "week": "last tuesday"}, "not a week or a day"),
        ({"project": "support-bot", "week": "2026-02-30"}, "2026-02-30"),
        ({"project": "support-bot", "week": "2099-W01"}, "still running"),
        ({"project": "support-bot", "week": "2099-01-07"}, "still running"),
    ],
)
def test_the_close_week_command_refuses_bad_input(project, options, message):
    with pytest.raises(CommandError, match=message):
        call_command("close_week", **options)
    # A refused week gets no cycle: a stray one would hold the project's week start day fixed (projects settings).
    assert not ReviewCycle.objects.exists()


def test_the_close_week_command_makes_no_cycle_for_a_week_before_the_project(project):
    with pytest.raises(CommandError, match="ended before the project was created"):
        call_command("close_week", project=project.slug, week="2026-W10")
    assert not ReviewCycle.objects.exists()


def _terminate(pid: int) -> None:
    db = connection.settings_dict
    dsn = psycopg.conninfo.make_conninfo(
        host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"] or None, dbname=db["NAME"]
    )
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 10000)", [pid])  # returns once the backend is gone


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_close_whose_dataset_lane_loses_its_connection_fails_whole_and_the_next_try_closes_the_week(
    project, week_of_labels
):
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    closing_thread, killed = threading.current_thread(), []

    def kill_the_lanes_connection(sender, connection, **kwargs):
        if threading.current_thread() is not closing_thread:  # the lane's own connection, just opened
            killed.append(connection.connection.info.backend_pid)
            _terminate(killed[-1])

    connection_created.connect(kill_the_lanes_connection)
    try:
        with pytest.raises(DatabaseError):
            cycles.close_week(project_id=project.pk, week=WEEK)
    finally:
        connection_created.disconnect(kill_the_lanes_connection)

    assert len(killed) == 1
    cycle = ReviewCycle.objects.get(project=project, week=WEEK)
    assert (cycle.status, cycle.failure_kind, cycle.attempts) == (CycleStatus.OPEN, "close", 1)
    assert not DatasetVersion.objects.filter(dataset=dataset).exists()
    assert QualityMetric.objects.filter(project=project, week=WEEK).count() == 3  # lane 2 ran to its end

    cycle = cycles.close_week(project_id=project.pk, week=WEEK)

    assert (cycle.status, cycle.failure_kind) == (CycleStatus.CLOSED, "")
    assert DatasetVersion.objects.get(dataset=dataset).row_count == 8
    steps = cycle.report["close"]["steps"]
    assert [(step["step"], step.get("lane")) for step in steps] == [
        ("resolve", None), ("datasets", 1), ("themes", 1), ("metrics", 2), ("retention", 2), ("changes", 2),
        ("usage", 2), ("report", None),
    ]  # fmt: skip
    assert 0 < cycle.report["close"]["wall_seconds"]


def _stored_figures(project) -> dict[str, list]:
    """The rows a refresh of the week writes, without their ids and times."""
    tables = {
        "quality": QualityMetric, "agreement": AgreementMetric, "experts": ExpertWeek, "queues": QueueWeek,
        "retention": RetentionCell, "themes": FailureTheme, "changes": WeekChange, "usage": ProjectWeek,
    }  # fmt: skip
    figures = {}
    for name, model in tables.items():
        fields = [f.attname for f in model._meta.concrete_fields if f.attname not in {"id", "computed_at"}]
        figures[name] = sorted(map(repr, model.objects.filter(project=project).values(*fields)))
    return figures


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_refresh_in_two_lanes_stores_what_one_after_the_other_stores(project, week_of_labels):
    resolve_stale_items(project_id=project.pk, through_week=WEEK)

    cycles.refresh_metrics(project=project, week=WEEK)  # outside a transaction: two lanes, two connections
    side_by_side = _stored_figures(project)
    with transaction.atomic():  # a second connection would not see this transaction: one lane after the other
        cycles.refresh_metrics(project=project, week=WEEK)
        one_after_the_other = _stored_figures(project)

    assert side_by_side == one_after_the_other
    assert all(side_by_side[name] for name in ("quality", "agreement", "experts", "queues", "retention", "usage"))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_three_closes_at_once_freeze_one_report_and_send_the_digests_once(project, week_of_labels):
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    reports, errors = [], []

    def close():
        try:
            reports.append(cycles.close_week(project_id=project.pk, week=WEEK).report)
        except Exception as exc:  # reported below; a thread's exception is otherwise lost
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=close) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run_each_as_worker("labeling.send_digests")

    assert errors == []
    cycle = ReviewCycle.objects.get(project=project, week=WEEK)
    assert cycle.status == CycleStatus.CLOSED and all(report == cycle.report for report in reports)
    assert AuditEvent.objects.filter(project=project, action="cycle.closed").count() == 1
    assert OutboxMessage.objects.filter(task="labeling.send_digests").count() == 1  # asked for by the winner only
    assert sorted(message.to[0] for message in mail.outbox) == ["erin@example.com", "ezra@example.com"]
    assert DatasetVersion.objects.filter(dataset=dataset).count() == 1
    assert QualityMetric.objects.filter(project=project, week=WEEK).count() == 3


def test_after_beat_was_down_for_weeks_each_missed_week_closes_in_order_with_its_own_figures(project):
    """Beat closes the oldest week still open first, one per sweep, until it has caught up; a failed close of an
    older week is tried again once its backoff is over, not forgotten when a later week closes."""
    type(project).objects.update(created_at=datetime(2026, 10, 1, tzinfo=UTC))
    cycles.close_week(project_id=project.pk, week=date(2026, 10, 26), now=datetime(2026, 11, 2, 1, tzinfo=UTC))
    for day in (3, 11, 18):  # one output in each week beat missed
        OutputFactory(project=project, external_id=f"nov-{day}", occurred_at=datetime(2026, 11, day, 12, tzinfo=UTC))
    now = datetime(2026, 11, 25, 9, tzinfo=UTC)  # back after three weeks: the 2nd, 9th and 16th are over and open

    closed = []
    while due := cycles.due_weeks(now):
        assert len(due) == 1
        [(project_id, week)] = due
        closed.append(week)
        cycles.close_week(project_id=project_id, week=week, now=now)

    assert closed == [date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16)]
    closed_weeks = ReviewCycle.objects.filter(project=project, status=CycleStatus.CLOSED).values_list("week", flat=True)
    assert sorted(closed_weeks) == [date(2026, 10, 26), *closed]
    assert dict(ProjectWeek.objects.filter(project=project, week__in=closed).values_list("week", "outputs")) == {
        week: 1 for week in closed
    }

    # An older week whose close failed is due again once its backoff is over, though later weeks have closed.
    # (Its cycle exists: the first close above computed its figures, the week before, to compare with.)
    older, _ = ReviewCycle.objects.get_or_create(project=project, week=date(2026, 10, 19))
    cycles.record_failure(project=project, week=older.week, kind="close", error="boom", now=now)
    assert cycles.due_weeks(now) == []
    assert cycles.due_weeks(now + timedelta(days=1)) == [(project.pk, date(2026, 10, 19))]

    # Not one from before the project, though: with its back-dated items since erased it has nothing to close, and
    # asking to close it would stop the sweep for every project after it (NothingToClose). A lead closes it by hand.
    ReviewCycle.objects.filter(pk=older.pk).update(week=date(2026, 9, 21))
    assert cycles.due_weeks(now + timedelta(days=1)) == []
    cycles.request_due_closes(now + timedelta(days=1))


def test_the_sweep_closes_no_week_before_the_project_but_one_holding_outputs_may_be_closed_by_hand(project, capsys):
    """Outputs sent with their older dates make those weeks closable by hand: a lead's close (the meeting page's task,
    or this command) freezes the week, its outputs counted. Beat still closes no week before the one the project was
    created in: not a team's imported history week by week, each with a digest, and not the empty weeks between them,
    which hold nothing to close (NothingToClose would end its sweep, for every project after this one)."""
    type(project).objects.filter(pk=project.pk).update(created_at=datetime(2026, 11, 4, tzinfo=UTC))
    project.refresh_from_db()
    OutputFactory(project=project, external_id="imported", occurred_at=datetime(2026, 10, 7, 12, tzinfo=UTC))
    now = datetime(2026, 11, 25, 9, tzinfo=UTC)

    swept = []
    while due := cycles.due_weeks(now):
        [(project_id, week)] = due
        swept.append(week)
        cycles.close_week(project_id=project_id, week=week, now=now)
    assert swept == [date(2026, 11, 16)]  # a project that never closed a week starts at its last one

    call_command("close_week", project=project.slug, week="2026-W41")  # 5 to 11 October: the imported output
    assert "Closed" in capsys.readouterr().out
    imported = ReviewCycle.objects.get(project=project, week=date(2026, 10, 5))
    assert imported.status == CycleStatus.CLOSED and imported.report["headline"]["labels"]["done"] == 0
    assert ProjectWeek.objects.get(project=project, week=date(2026, 10, 5)).outputs == 1
    with pytest.raises(CommandError, match="ended before the project was created"):
        call_command("close_week", project=project.slug, week="2026-W40")  # nothing in it at all
    assert not ReviewCycle.objects.filter(project=project, week=date(2026, 9, 28)).exists()
    assert cycles.due_weeks(now) == [] and cycles.request_due_closes(now) == 0


def _missed_three_weeks(project) -> datetime:
    """Erin and Ezra, experts of a project made on 1 October whose 2026-W44 closed on time (with its digests sent),
    then beat was down: one output in each of 2026-W45, W46 and W47. Returns the moment it is back (25 November)."""
    type(project).objects.update(created_at=datetime(2026, 10, 1, tzinfo=UTC))
    for name in ("erin", "ezra"):
        Membership.objects.create(project=project, user=UserFactory(username=name), role="expert")
    cycles.close_week(project_id=project.pk, week=date(2026, 10, 26), now=datetime(2026, 11, 2, 1, tzinfo=UTC))
    run_each_as_worker("labeling.send_digests")
    for day in (3, 11, 18):
        OutputFactory(project=project, external_id=f"nov-{day}", occurred_at=datetime(2026, 11, day, 12, tzinfo=UTC))
    return datetime(2026, 11, 25, 9, tzinfo=UTC)


def _digests() -> dict[str, list[str]]:
    """The experts' digests sent so far: the week each names in its subject -> their bodies."""
    sent: dict[str, list[str]] = {}
    for message in mail.outbox:
        if "your week after " in message.subject:
            sent.setdefault(message.subject.rsplit(" ", 1)[-1], []).append(message.body)
    return sent


def test_after_beat_was_down_for_weeks_the_experts_get_one_digest_naming_the_weeks_it_caught_up(project):
    """Three missed weeks close one per sweep, but the experts get one e-mail: the newest week's digest, which names
    the two weeks that closed with it, late, each with its meeting page. Sweeping and sending again adds none."""
    now = _missed_three_weeks(project)
    assert sorted(_digests()) == ["2026-W44"]  # the week closed on time sent its own, as always
    mail.outbox.clear()

    for _ in range(2):  # the sweep runs twice, and each outbox row is delivered twice
        while due := cycles.due_weeks(now):
            [(project_id, week)] = due
            cycles.close_week(project_id=project_id, week=week, now=now)
        for week in (date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16)):
            cycles.close_week(project_id=project.pk, week=week, now=now)
        run_each_as_worker("labeling.send_digests")

    digests = _digests()
    assert sorted(digests) == ["2026-W47"] and len(digests["2026-W47"]) == 2
    assert sorted(message.to[0] for message in mail.outbox if "your week after" in message.subject) == [
        "erin@example.com", "ezra@example.com",
    ]  # fmt: skip
    body = digests["2026-W47"][0]
    assert "You labeled no items in 2026-W47." in body
    for label in ("2026-W45", "2026-W46"):
        assert f"- {label}: you labeled no items — http://127.0.0.1:8000/p/support-bot/meeting/{label}/" in body
    assert "2026-W44" not in body  # a week whose digest went out on its own is not told again
    assert not ReviewCycle.objects.filter(project=project, status=CycleStatus.CLOSED, digests_sent_at=None).exists()


@pytest.mark.postgres
def test_the_digests_of_caught_up_weeks_wait_for_the_newest_weeks_close_when_it_fails_and_go_with_its_retry(project):
    """A catch-up whose newest week fails to close sends no digest yet, and loses none: the caught-up weeks go with
    the next close of the project that succeeds (here the retry, once the poisoned record is gone)."""
    now = _missed_three_weeks(project)
    mail.outbox.clear()
    for week in (date(2026, 11, 2), date(2026, 11, 9)):
        cycles.close_week(project_id=project.pk, week=week, now=now)
    # A record from before ingest had a range: retention cannot hold its cohort, so the close fails.
    poisoned = OutputFactory(project=project, end_user_id="u-legacy", occurred_at=datetime(1, 6, 1, tzinfo=UTC))
    with pytest.raises(DatabaseError):
        cycles.close_week(project_id=project.pk, week=date(2026, 11, 16), now=now)
    run_each_as_worker("labeling.send_digests")
    assert _digests() == {}

    poisoned.delete()
    cycles.close_week(project_id=project.pk, week=date(2026, 11, 16), now=now + timedelta(hours=1))  # the retry
    run_each_as_worker("labeling.send_digests")

    digests = _digests()
    assert sorted(digests) == ["2026-W47"] and len(digests["2026-W47"]) == 2
    assert "2026-W45" in digests["2026-W47"][0] and "2026-W46" in digests["2026-W47"][0]


def test_work_that_arrives_for_a_closed_week_is_resolved_at_the_next_close_and_counted_in_no_weeks_figures(
    project, week_of_labels
):
    """What the README says of late work: an output sent with a closed week's date is queued in that week, its labels
    are accepted, its gold answer is resolved at the next close (and goes into datasets), and the closed week's report
    and rows stay as frozen; the next week's figures are of the next week's items, so they do not count it either."""
    type(project).objects.update(created_at=datetime(2026, 10, 1, tzinfo=UTC))
    closed = cycles.close_week(project_id=project.pk, week=WEEK)
    frozen_rows = list(QualityMetric.objects.filter(project=project, week=WEEK).order_by("pk").values())
    late = OutputFactory(project=project, external_id="late", occurred_at=datetime(2026, 11, 12, 9, tzinfo=UTC))
    route_outputs(project_id=project.pk, output_ids=[late.pk])
    item = Item.objects.get(output=late)
    assert item.week == WEEK
    for expert in week_of_labels["experts"]:
        assert next_item(expert=expert, queue=week_of_labels["queue"]) == item
        answers = {"correct": False, "helpful": 1, "tone": "friendly"}
        submit_label(expert=expert, item=item, rubric=week_of_labels["rubric"], answers=answers)

    cycles.close_week(project_id=project.pk, week=WEEK + timedelta(days=7))

    assert Resolution.objects.filter(item=item).exists()
    assert ReviewCycle.objects.get(pk=closed.pk).report == closed.report
    assert list(QualityMetric.objects.filter(project=project, week=WEEK).order_by("pk").values()) == frozen_rows
    assert not QualityMetric.objects.filter(project=project, week=WEEK + timedelta(days=7)).exists()


def test_a_week_before_the_project_beat_leaves_open_still_has_its_gold_and_dataset_rows_from_the_projects_close(
    project, week_of_labels
):
    """Labeled items in a week before the project (outputs sent with older dates, routed later): beat never closes
    that week, yet the project's own close resolves their gold (every stale item up to the week it closes) and builds
    them into the datasets (every complete item, whatever its week). Only that week's report waits for a lead to close
    it, which the project and home pages tell its leads (tests/labeling/web/test_weeks_before_the_project.py)."""
    type(project).objects.filter(pk=project.pk).update(created_at=datetime(2026, 11, 18, tzinfo=UTC))
    project.refresh_from_db()
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    now = datetime(2026, 11, 25, 9, tzinfo=UTC)
    assert not Resolution.objects.filter(item__week=WEEK).exists()  # the task enqueued on commit never ran here

    swept = []
    while due := cycles.due_weeks(now):
        [(project_id, week)] = due
        swept.append(week)
        cycles.close_week(project_id=project_id, week=week, now=now)

    assert swept == [date(2026, 11, 16)]  # the week the project was created in, not WEEK before it
    assert Resolution.objects.filter(item__week=WEEK).count() == 10
    assert DatasetVersion.objects.get(dataset=dataset).row_count == 8  # the two ties wait for a lead
    assert not ReviewCycle.objects.filter(project=project, week=WEEK, status=CycleStatus.CLOSED).exists()


def test_the_digest_names_the_week_it_calls_this_week(project, week_of_labels, django_capture_on_commit_callbacks):
    """ "Your week after 2026-W46 … This week in Support bot: 0 items waiting" left the reader to work out which week
    "this week" is (the digest of a week closed late is sent weeks after it): it says the running week's ISO label."""
    running = week_label(calendar.current_week(project))
    with django_capture_on_commit_callbacks(execute=True):
        cycle = cycles.close_week(project_id=project.pk, week=WEEK)
    run_each_as_worker("labeling.send_digests")

    digest = next(message for message in mail.outbox if "your week after 2026-W46" in message.subject)
    assert f"This week ({running}) in Support bot:" in digest.body.splitlines()
    assert f"This week ({running}) in Support bot:" in project_digest_lines(cycle)


def test_a_week_closed_after_a_newer_weeks_digest_went_out_says_it_closed_late(project):
    """2026-W45 left open while W46 closed and sent its digest, then closed by hand: its digest comes after the newer
    one's, so it says so (subject and first line) rather than read as the latest week."""
    now = _missed_three_weeks(project)
    mail.outbox.clear()
    cycles.close_week(project_id=project.pk, week=date(2026, 11, 16), now=now)  # W47, the newest: sent on its own
    run_each_as_worker("labeling.send_digests")
    assert sorted(_digests()) == ["2026-W47"]
    mail.outbox.clear()

    cycles.close_week(project_id=project.pk, week=date(2026, 11, 2), now=now)  # W45, closed by hand after it
    run_each_as_worker("labeling.send_digests")

    late = [message for message in mail.outbox if "your week after" in message.subject]
    assert len(late) == 2
    assert all(m.subject.endswith(": your week after 2026-W45 (closed late, after 2026-W47)") for m in late)
    assert late[0].body.splitlines()[2] == (
        "2026-W45 closed late, after the digest of 2026-W47 went out: these are its final figures."
    )
