"""`manage.py seed_demo`: a realistic support-bot project, stored through the real services, safe to re-run."""

import io
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.test import override_settings
from django.utils import timezone

from labeling.demo.conversation import FAILURES
from labeling.demo.right_to_left import EXTERNAL_ID as ARABIC_ID
from labeling.demo.support_bot import generate
from labeling.models import ApiKey, AuditEvent, Membership, OutboxMessage, Output, Project, Rubric, UsageEvent
from tests.helpers.clock import assert_clock_covers_every_project, demo_calendars, run_clock_clear_of_week_starts

pytestmark = pytest.mark.django_db

WEEK = timedelta(days=7)
SEED_MAIL: list = []  # what the module's seed sent (pytest-django empties mail.outbox before each test)
SEEDED_BETWEEN: list[datetime] = []  # the module's clock when its seed started and when it ended


def seed(*args: str) -> str:
    out = io.StringIO()
    with override_settings(DEBUG=True):  # as scripts/demo.sh runs it: it refuses on a real server
        call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module", autouse=True)
def demo_clock():
    """One clock for the module: the seed and every test after it read timezone.now() running from a moment a day
    from every week start of the demo's projects (UTC, Berlin, New York), so a test minutes after the seed reads the
    weeks the seed wrote (on the wall clock, a week starting in between flipped them). Returns those projects."""
    projects = demo_calendars()
    with pytest.MonkeyPatch.context() as patch:
        run_clock_clear_of_week_starts(patch, projects)
        yield projects


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker, demo_clock):
    """Seed once for the module (the demo's labeling history takes a while); each test's own
    changes still roll back. Returns what the first run printed."""
    from labeling.demo.seed import delete_demo

    with django_db_blocker.unblock():
        SEEDED_BETWEEN[:] = [timezone.now()]
        out = seed()
        SEEDED_BETWEEN.append(timezone.now())
        assert_clock_covers_every_project(demo_clock, by="demo_clock")  # no demo project in a zone left out of it
    SEED_MAIL[:] = mail.outbox
    yield out
    with django_db_blocker.unblock():
        delete_demo()
        # The seed's work was enqueued through the outbox outside any test's transaction: leave none behind.
        OutboxMessage.objects.all().delete()


def activity_by_user(project: Project) -> dict[str, list[datetime]]:
    """Every moment each end user was active, from the stored outputs and usage events."""
    moments: dict[str, list[datetime]] = defaultdict(list)
    for model in (Output, UsageEvent):
        for end_user_id, occurred_at in model.objects.filter(project=project).values_list("end_user_id", "occurred_at"):
            moments[end_user_id].append(occurred_at)
    return moments


def week_one_return_rates(project: Project, is_bad) -> tuple[float, float, int, int]:
    """Share of users active again in their second week, for bad and good first weeks.

    `is_bad(output)` judges one stored output. Only users who joined at least two weeks ago count:
    the others could not have come back yet.
    """
    moments = activity_by_user(project)
    first_seen = {user: min(times) for user, times in moments.items()}
    bad_users = {
        output.end_user_id
        for output in Output.objects.filter(project=project)
        if output.occurred_at < first_seen[output.end_user_id] + WEEK and is_bad(output)
    }
    cutoff = timezone.now() - 2 * WEEK
    returned = {True: 0, False: 0}
    total = {True: 0, False: 0}
    for user, times in moments.items():
        start = first_seen[user]
        if start > cutoff:
            continue
        bad = user in bad_users
        total[bad] += 1
        returned[bad] += any(start + WEEK <= moment < start + 2 * WEEK for moment in times)
    return returned[True] / total[True], returned[False] / total[False], total[True], total[False]


def test_the_audit_log_tells_the_project_made_and_its_first_rubric_published_when_the_team_adopted_it(seeded):
    """The support bot's creation and rubric v1 are dated back to the adoption week (its first review cycle, with
    history sent before it): the audit log says so too, not the moment the demo was seeded, after all it tells."""
    project = Project.objects.get(slug="support-bot")
    first = AuditEvent.objects.filter(project=project).order_by("at", "pk")[:2]
    assert {event.action: event.at for event in first} == {
        "project.created": project.created_at,
        "rubric.published": Rubric.objects.get(project=project, version=1).created_at,
    }


@pytest.mark.parametrize("slug", ["support-bot", "sql-assistant", "ticket-summarizer"])
def test_each_demo_projects_history_reads_in_order(seeded, slug):
    """Each demo project was made and its rubric v1 published when its team adopted it, as its rows and its audit log
    say (nothing audited before), before the first label and the end of every week it reviewed; each label was given
    after its output and under a rubric version already published. History sent from before the adoption keeps its
    own dates (the support bot's and the SQL assistant's outputs)."""
    from django.db.models import F, Min

    from labeling.models import Label, ReviewCycle
    from labeling.rules.calendar import week_end

    project = Project.objects.get(slug=slug)
    created, v1 = project.created_at, Rubric.objects.get(project=project, version=1).created_at
    audit = AuditEvent.objects.filter(project=project)
    assert {event.action: event.at for event in audit.order_by("at", "pk")[:2]} == {
        "project.created": created,
        "rubric.published": v1,
    }
    assert not audit.filter(at__lt=created).exists()
    labels = Label.objects.filter(item__project=project)
    first_label = labels.aggregate(first=Min("created_at"))["first"]
    story = [created, v1, *([first_label] if first_label else [])]
    assert story == sorted(story)
    assert not labels.filter(created_at__lt=F("item__output__occurred_at")).exists()
    assert not labels.filter(created_at__lt=F("rubric__created_at")).exists()
    reviewed = ReviewCycle.objects.filter(project=project).values_list("week", flat=True)
    assert reviewed and all(created < week_end(project, week) for week in reviewed)


def test_the_leads_second_look_at_a_flagged_item_is_told_in_its_weeks_meeting(seeded):
    """The lead confirmed the flagged item's gold and resolved its flags in the meeting on the Monday after its week,
    after the experts labeled and flagged it: the audit log and the resolution say so, not the moment of the seed."""
    from labeling.models import Flag, Item, Resolution
    from labeling.rules.calendar import week_end

    project = Project.objects.get(slug="support-bot")
    confirmed = AuditEvent.objects.get(project=project, action="gold.confirmed")
    item = Item.objects.get(pk=confirmed.details["item"])
    events = AuditEvent.objects.filter(project=project, details__item=item.pk)
    marked = events.get(action="gold.marked_for_adjudication")
    resolved = dict(events.filter(action="flag.resolved").values_list("details__flag", "at"))
    meeting_day = week_end(project, item.week)

    assert meeting_day <= marked.at < confirmed.at <= min(resolved.values()) < meeting_day + timedelta(days=1)
    assert Resolution.objects.get(item=item).adjudicated_at == confirmed.at
    assert dict(Flag.objects.filter(item=item).values_list("pk", "resolved_at")) == resolved
    given = [*item.labels.values_list("created_at", flat=True), *item.flags.values_list("created_at", flat=True)]
    assert max(given) < marked.at


def test_the_ties_each_week_closed_on_are_decided_in_its_meeting(seeded):
    """The lead decided each tie of a closed week in its meeting (the Monday after it, once the week had closed), not
    when the demo was seeded: the resolution and the audit log say so, before anything of the weeks after."""
    from labeling.models import Item, Resolution, ReviewCycle
    from labeling.rules.calendar import week_end

    project = Project.objects.get(slug="support-bot")
    decided = AuditEvent.objects.filter(project=project, action="gold.adjudicated")
    assert decided.count() >= 2
    for event in decided:
        item = Item.objects.get(pk=event.details["item"])
        closed = ReviewCycle.objects.get(project=project, week=item.week)
        meeting_day = week_end(project, item.week)
        assert closed.closed_at < event.at < meeting_day + timedelta(days=1), (item.week, event.at)
        assert Resolution.objects.get(item=item).adjudicated_at == event.at
        assert max(item.labels.values_list("created_at", flat=True)) < event.at
        # Told before every later week's close.
        later = ReviewCycle.objects.filter(project=project, status="closed", week__gt=item.week)
        assert all(event.at < cycle.closed_at for cycle in later)


@pytest.mark.parametrize("slug", ["support-bot", "sql-assistant", "ticket-summarizer"])
def test_each_closed_demo_week_closed_when_its_story_says(seeded, slug):
    """Each week closed minutes after it ended, as beat closes it (the summarizer's held-back week after the week after
    it), not when the demo was seeded: its row, its `cycle.closed` entry and its Slack post say one moment, before its
    meeting, and the audit log tells the closes in the order they happened."""
    from labeling.demo.closes import closed_at
    from labeling.models import ReviewCycle, WebhookDelivery
    from labeling.rules.calendar import week_end

    project = Project.objects.get(slug=slug)
    closed = list(ReviewCycle.objects.filter(project=project, status="closed").order_by("week"))
    assert closed
    entries = AuditEvent.objects.filter(project=project, action="cycle.closed")
    at_of = dict(entries.values_list("details__week", "at"))
    assert sorted(at_of) == [cycle.label for cycle in closed]
    for cycle in closed:
        assert at_of[cycle.label] == cycle.closed_at, cycle.label
        ended = week_end(project, cycle.week)
        assert ended < cycle.closed_at < timezone.now(), cycle.label
        if cycle.closed_at > ended + timedelta(days=1):  # the summarizer's held-back week: after the week after it
            following = next(later for later in closed if later.week == cycle.week + WEEK)
            assert following.closed_at < cycle.closed_at < week_end(project, following.week) + timedelta(days=1)
        else:
            assert cycle.closed_at <= closed_at(project, cycle.week, timezone.now())
        posts = WebhookDelivery.objects.filter(
            endpoint__project=project, event="cycle.closed", body__contains=cycle.label
        )
        assert all(post.created_at == cycle.closed_at for post in posts)
    told = [event.details["week"] for event in entries.order_by("at", "pk")]
    assert told == [cycle.label for cycle in sorted(closed, key=lambda cycle: cycle.closed_at)]


@pytest.mark.parametrize("slug", ["support-bot", "sql-assistant", "ticket-summarizer"])
def test_each_demo_projects_set_up_is_told_when_its_team_adopted_it(seeded, slug):
    """The redaction rules, the queues and their backfills, the datasets and the Slack endpoint were set up when the
    team adopted expertloop (the project's creation), before its first weekly close: their rows and the audit log say
    so, not the moment the demo was seeded, after every close. Only what the lead did this week comes after them (the
    paused queue, backfilled since this week; the engineer's endpoint, added once the history was in)."""
    from labeling.demo.project import SET_UP_ACTIONS
    from labeling.models import Dataset, Queue, RedactionRuleSet, ReviewCycle, WebhookEndpoint

    project = Project.objects.get(slug=slug)
    adopted = project.created_at
    first_close = ReviewCycle.objects.filter(project=project, status="closed").order_by("closed_at").first()
    assert adopted < first_close.closed_at
    set_up = AuditEvent.objects.filter(project=project, action__in=SET_UP_ACTIONS, at__lt=first_close.closed_at)
    assert set(set_up.values_list("at", flat=True)) == {adopted}
    lately = AuditEvent.objects.filter(project=project, action__in=SET_UP_ACTIONS).exclude(pk__in=set_up)
    assert sorted(lately.values_list("action", "details__slug")) == (
        [("queue.backfilled", "escalations"), ("webhook.created", None)] if slug == "support-bot" else []
    )
    rows = [RedactionRuleSet, Dataset, WebhookEndpoint.objects.filter(kind="slack")]
    for model in [*rows, Queue.objects.exclude(slug="escalations")]:
        manager = getattr(model, "objects", model)
        assert set(manager.filter(project=project).values_list("created_at", flat=True)) <= {adopted}, model


def test_the_sql_assistants_close_failed_when_beat_tried_it(seeded):
    """Beat tried to close the SQL assistant's last week minutes after it ended, and failed: the week's row says so
    (and when the sweeps try again), not the moment the demo was seeded."""
    from labeling.demo.closes import closed_at
    from labeling.demo.team import SQL_SLUG
    from labeling.models import ReviewCycle
    from labeling.rules.calendar import week_end

    project = Project.objects.get(slug=SQL_SLUG)
    failed = ReviewCycle.objects.get(project=project, failure_kind="close")
    ended = week_end(project, failed.week)
    assert ended < failed.failed_at <= closed_at(project, failed.week, timezone.now())
    assert failed.failed_at < failed.next_attempt_at < timezone.now()


@pytest.mark.parametrize("slug", ["support-bot", "sql-assistant"])
def test_each_rating_in_the_demos_history_was_given_as_its_answer_was_read(seeded, slug):
    """Customers and analysts rated an answer as they read it, not when the demo was seeded: the rating's moment comes
    after its output and within the hour, the older ones before the team adopted expertloop."""
    project = Project.objects.get(slug=slug)
    rated = Output.objects.filter(project=project, feedback_at__isnull=False)
    assert rated.exists()
    for occurred_at, feedback_at in rated.values_list("occurred_at", "feedback_at"):
        assert occurred_at <= feedback_at <= min(occurred_at + timedelta(hours=1), timezone.now()), occurred_at
    assert rated.filter(feedback_at__lt=project.created_at).exists()


def test_the_demos_dataset_versions_were_built_in_the_close_that_made_them(seeded, client):
    """Each version was built by a week's close, at its moment, in the week after the closed one: its row says so
    (created, built, the week it was built in), and the datasets page lists them in that order, not all at the moment
    the demo was seeded."""
    from labeling.models import DatasetVersion, ReviewCycle
    from labeling.rules.calendar import cycle_week

    project = Project.objects.get(slug="support-bot")
    closed_at_of = dict(ReviewCycle.objects.filter(project=project, status="closed").values_list("week", "closed_at"))
    versions = DatasetVersion.objects.filter(dataset__project=project)
    assert versions.count() >= 2
    for version in versions:
        assert version.created_at == version.built_at, version
        assert closed_at_of[version.cycle_week - WEEK] == version.built_at, version
        assert cycle_week(project, version.built_at) == version.cycle_week, version
    client.force_login(get_user_model().objects.get(username="engineer"))
    page = client.get("/p/support-bot/datasets/support-answers/").content.decode()
    first = versions.get(dataset__slug="support-answers", number=1)
    assert first.cycle_week < cycle_week(project, timezone.now())  # built in an earlier week than this one
    assert f"week of {first.cycle_week:%-d %b}" in page


def test_it_seeds_a_project_with_rubric_queues_and_people(seeded):
    out = seeded

    project = Project.objects.get(slug="support-bot")
    assert project.name == "Support bot for an online shop"
    rubric = Rubric.objects.current_for(project)
    assert [question["key"] for question in rubric.questions] == [
        "correct", "helpfulness", "tone", "issues", "critique", "corrected_answer",
    ]  # fmt: skip
    assert "## Policy cheat sheet" in rubric.guidelines
    assert dict(project.queues.values_list("slug", "is_active")) == {
        "weekly-sample": True, "thumbs-down": True, "refunds": True, "escalations": False,
    }  # fmt: skip
    roles = dict(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles == {"expert1": "expert", "expert2": "expert", "lead": "lead", "engineer": "engineer"}
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser
    for username in ("expert1", "expert2", "lead", "engineer", "admin"):
        user = get_user_model().objects.get(username=username)
        assert user.check_password(f"{username}-demo")
        assert f"{username}-demo" in out
    assert "local demo only" in out


def test_it_stores_eight_weeks_of_realistic_history(seeded):
    out = seeded

    project = Project.objects.get(slug="support-bot")
    outputs = Output.objects.filter(project=project)
    now = timezone.now()
    assert 1_800 <= outputs.count() <= 2_300
    assert 280 <= outputs.values("end_user_id").distinct().count() <= 300
    times = list(outputs.values_list("occurred_at", flat=True))
    assert now - 8 * WEEK <= min(times) < now - 7 * WEEK and max(times) <= now
    weeks = {(moment - (now - 8 * WEEK)) // WEEK for moment in times}
    assert weeks == set(range(8))
    assert {output.metadata["topic"] for output in outputs} == {"billing", "shipping", "returns", "account"}
    assert all(message["role"] in ("user", "assistant") for output in outputs for message in output.input)
    assert any("multi_turn" in output.tags for output in outputs)
    assert outputs.filter(feedback_score=-1).count() > 50
    # Claude is rolled out gradually: a small share in the first weeks, most of the traffic at the end.
    early = outputs.filter(occurred_at__lt=now - 6 * WEEK)
    late = outputs.filter(occurred_at__gte=now - WEEK)
    assert early.filter(model="claude-3-5-haiku").count() < 0.1 * early.count()
    assert late.filter(model="claude-3-5-haiku").count() > 0.5 * late.count()
    events = UsageEvent.objects.filter(project=project)
    assert events.count() > outputs.count()
    assert {"session_start", "message_sent", "order_viewed"} <= set(events.values_list("name", flat=True))
    key = ApiKey.objects.get(project=project, name="demo")
    assert key.scopes == ["ingest", "read"] and key.is_active
    example = out.split("/api/v1/outputs/")[1].split()[0]
    assert outputs.filter(external_id=example).exists()


def test_a_second_run_adds_nothing_and_issues_a_fresh_key(seeded):
    counts = (Output.objects.count(), UsageEvent.objects.count(), get_user_model().objects.count())
    get_user_model().objects.filter(username="expert1").update(password="!")  # someone changed it

    out = seed()

    assert "already seeded" in out
    assert Project.objects.filter(slug="support-bot").count() == 1
    assert (Output.objects.count(), UsageEvent.objects.count(), get_user_model().objects.count()) == counts
    assert get_user_model().objects.get(username="expert1").check_password("expert1-demo")
    keys = ApiKey.objects.filter(name="demo").order_by("created_at", "pk")
    assert [key.is_active for key in keys] == [False, True]
    assert keys[1].prefix in out and keys[0].prefix not in out.split("API key")[1]


def test_reset_seeds_from_scratch(seeded, monkeypatch):
    from functools import partial

    from labeling.demo import seed as demo

    old = Project.objects.get(slug="support-bot")
    # A tenth of the shoppers: seeding again is what is tested, not the size of what is seeded (the fixture's).
    monkeypatch.setattr(demo, "generate", partial(generate, shoppers=30))

    out = seed("--reset")

    assert "already seeded" not in out
    project = Project.objects.get(slug="support-bot")
    assert project.pk != old.pk and not Output.objects.filter(project_id=old.pk).exists()
    shoppers_outputs = generate(seed=7, now=timezone.now(), shoppers=30).truth
    # The generated history, and the Arabic conversation the seed adds to it (labeling/demo/right_to_left.py).
    assert set(project.outputs.values_list("external_id", flat=True)) == {*shoppers_outputs, ARABIC_ID}
    assert get_user_model().objects.filter(username__in=["expert1", "admin"]).count() == 2


def test_users_with_a_bad_first_week_come_back_less_often(seeded):
    project = Project.objects.get(slug="support-bot")

    # What the stored rows alone show: a thumbs-down in the first week.
    bad, good, bad_users, good_users = week_one_return_rates(project, lambda output: output.feedback_score == -1)
    assert bad_users >= 20 and good_users >= 20
    assert bad < 0.8 * good

    # What experts will find: the answers that really failed (the generator knows, run on the module's clock as the
    # seed was: a shift of days moves its draws).
    truth = generate(seed=7, now=timezone.now()).truth
    bad, good, bad_users, good_users = week_one_return_rates(
        project, lambda output: truth[output.external_id] in FAILURES
    )
    assert bad_users >= 50 and good_users >= 50
    assert bad < 0.5 * good


def test_the_generator_is_deterministic_and_independent_of_the_clock():
    now = datetime.now(UTC)
    first = generate(seed=7, now=now, shoppers=40)
    # Whole weeks later: the new model's start is anchored to the calendar week (the meeting's week is the
    # first with it), so a shift of a few days moves which chats it answers, and with them the draws.
    later = generate(seed=7, now=now + timedelta(weeks=3), shoppers=40)
    other = generate(seed=8, now=now, shoppers=40)

    assert first.truth == later.truth
    assert [e["external_id"] for e in first.events] == [e["external_id"] for e in later.events]
    assert set(first.truth).isdisjoint(other.truth)


def test_the_demo_has_past_weeks_reviewed_and_this_weeks_work_open(seeded):
    from labeling.models import Flag, Item, Label, Skip
    from labeling.rules.calendar import cycle_week

    project = Project.objects.get(slug="support-bot")
    this_week = cycle_week(project, timezone.now())
    past = Item.objects.filter(project=project, week__lt=this_week)
    assert past.exists() and not past.filter(status="open").exclude(skips__isnull=False).exists()
    assert Item.objects.filter(project=project, week=this_week, status="open").exists()
    assert Label.objects.filter(item__project=project).values("expert").distinct().count() == 2
    assert Skip.objects.exists() and Flag.objects.exists()
    # The reviewers disagree sometimes, as real ones do: agreement figures will have something to show.
    pairs = {}
    for item_id, answers in Label.objects.filter(item__queue__overlap=2).values_list("item_id", "answers"):
        pairs.setdefault(item_id, []).append(answers["correct"])
    assert any(len(set(verdicts)) == 2 for verdicts in pairs.values())


def test_the_demos_reviewers_took_a_minute_or_two_a_label(seeded):
    """Labels seeded in an instant showed a median of 0 s a label on the experts' page and 0.0 expert hours."""
    from labeling.models import ExpertWeek, Label

    seconds = list(Label.objects.values_list("seconds_spent", flat=True))
    assert seconds and 25 <= min(seconds) and max(seconds) < 165
    medians = ExpertWeek.objects.filter(project__slug="support-bot").values_list("median_seconds", flat=True)
    assert medians and all(median and median >= 25 for median in medians)


def test_the_demos_flag_notes_are_about_the_outputs_they_flag(seeded):
    """A note about a promised refund date sat on an answer about delivery: each note now names the failure seen."""
    from labeling.demo.labels import PROMISE_NOTE
    from labeling.models import Flag

    flags = list(Flag.objects.filter(item__project__slug="support-bot").values_list("note", "item__output__output"))
    assert flags
    for note, output in flags:
        assert (note == PROMISE_NOTE) == ("refund will arrive by" in str(output)), (note, output)


def test_the_demos_past_flags_and_comments_were_left_in_their_week_with_the_label(seeded):
    """A closed week's flags read as raised on the seed's day, days after their week and the labels beside them: each
    was left with its expert's label, a day after the output, as the frozen agenda of its week says too."""
    from labeling.models import Comment, Flag, Label, ReviewCycle
    from labeling.rules.calendar import cycle_week, week_start

    project = Project.objects.get(slug="support-bot")
    this_week = cycle_week(project, timezone.now())
    labeled_at = {(item, expert): at for item, expert, at in Label.objects.values_list("item", "expert", "created_at")}
    left = [
        *Flag.objects.filter(item__project=project).values_list("item", "expert", "item__week", "created_at"),
        *Comment.objects.filter(item__project=project).values_list("item", "author", "item__week", "created_at"),
    ]
    past = [(item, person, week, at) for item, person, week, at in left if week < this_week]
    assert past and any(week < this_week for _, _, week, _ in past)
    for item, person, week, at in past:
        assert at == labeled_at[item, person]
        assert week_start(project, week) <= at < week_start(project, week) + 8 * timedelta(days=1)
    first = ReviewCycle.objects.filter(project=project, status="closed", report__agenda__flags__0__isnull=False)
    frozen = first.order_by("week").first()
    for flag in frozen.report["agenda"]["flags"]:
        assert datetime.fromisoformat(flag["created_at"]) < week_start(project, frozen.week) + 2 * WEEK


def test_the_demo_redacts_the_contact_details_its_shoppers_type(seeded):
    """The demo project has the built-ins on; shoppers' e-mails, phones, cards and IBANs are stored as placeholders."""
    project = Project.objects.get(slug="support-bot")
    rule_set = project.redaction_rule_sets.get()
    assert (rule_set.version, rule_set.builtins, rule_set.phone_region) == (1, ["email", "phone", "card", "iban"], "GB")
    outputs = Output.objects.filter(project=project)
    assert not outputs.exclude(redaction_version=1).exists()
    redacted = outputs.filter(metadata__has_key="redactions")
    kinds = {kind for counts in redacted.values_list("metadata__redactions", flat=True) for kind in counts}
    assert kinds == {"email", "phone", "card", "iban", "custom:gift-card"}
    assert redacted.count() > 100
    stored = " ".join(str(row) for row in outputs.values_list("input", "output", "context", "metadata"))
    for raw in ("@example.com", "4111 1111 1111 1111", "GB82 WEST", "020 7946 0", "+44 7911", "GC-7Q2M-"):
        assert raw not in stored
    assert "[EMAIL]" in stored and "[PHONE]" in stored and "[CUSTOM:gift-card]" in stored


def test_the_demo_has_outputs_worth_exploring_and_two_saved_views(seeded):
    """A GPT upgrade that promises refund dates, found only by searching; conversations of several turns;
    numeric latency and tokens; outputs indexed for search; the lead's two saved views."""
    from urllib.parse import parse_qs

    from labeling.demo.conversation import GPT_NEXT
    from labeling.models import SavedView
    from labeling.rules.explore import parse_filter
    from labeling.selectors.explore import filter_outputs

    project = Project.objects.get(slug="support-bot")
    outputs = Output.objects.filter(project=project)
    views = dict(SavedView.objects.filter(project=project).values_list("name", "query"))
    assert views == {
        "Refund date promises": f"q=%22refund+will+arrive+by%22&model={GPT_NEXT}",
        "Thumbs down with a comment": "feedback=down&comment=yes",
    }
    found = filter_outputs(project, parse_filter(parse_qs(views["Refund date promises"])))
    promising = [o for o in outputs if "refund will arrive by" in str(o.output)]
    # Search reads the input too: a later turn of a conversation with a promise is found with it.
    mentioning = [o for o in outputs if "refund will arrive by" in str(o.output) + str(o.input)]
    assert 20 <= len(promising) and {o.pk for o in found} == {o.pk for o in mentioning}
    assert {o.model for o in mentioning} == {GPT_NEXT}
    first_promise = min(o.occurred_at for o in promising)
    assert outputs.filter(model=GPT_NEXT).order_by("occurred_at").first().occurred_at <= first_promise
    assert not outputs.filter(occurred_at__lt=first_promise - 3 * WEEK, model=GPT_NEXT).exists()
    assert filter_outputs(project, parse_filter(parse_qs(views["Thumbs down with a comment"]))).count() > 20

    turns = outputs.values("session_id").annotate(n=Count("pk")).filter(n__gte=3)
    assert turns.count() >= 50
    assert not outputs.filter(output_chars__isnull=True).exists()
    if connection.vendor == "postgresql":  # search reads the stored vector there; SQLite (the demo) matches text
        assert not outputs.filter(search_vector__isnull=True).exists()
    assert all(
        isinstance(metadata.get("latency_ms"), int) and isinstance(metadata.get("tokens"), int)
        for metadata in outputs.values_list("metadata", flat=True)
    )


def test_the_last_closed_weeks_meeting_finds_the_new_models_thumbs_down_rate(seeded, client):
    """What the README promises the meeting shows under *What changed*: the GPT upgrade is new in the last closed week,
    and its thumbs-down rate (the refund-date promises customers rate down) stands well above all outputs' before it,
    significant after the correction for every comparison of the week."""
    from django.conf import settings

    from labeling.demo.conversation import GPT_NEXT
    from labeling.models import WeekChange, week_label
    from labeling.selectors.report import latest_closed_week

    project = Project.objects.get(slug="support-bot")
    week = latest_closed_week(project)
    changes = WeekChange.objects.filter(project=project, week=week, dimension="model", value=GPT_NEXT)
    assert changes.filter(kind="new_slice").exists()
    down = changes.get(kind="new_slice_thumbs_down")
    assert down.current_total >= 20 and down.baseline_weeks == settings.CHANGES_BASELINE_WEEKS
    # README: "about 60 %" of its rated answers against "about 23 %" of everything before it (the counts vary a
    # little with the weekday the demo is seeded on).
    assert 0.45 <= down.current <= 0.8 and 0.19 <= down.baseline <= 0.27
    assert down.q_value <= settings.CHANGES_FDR_Q and down.p_value < 0.001

    client.force_login(get_user_model().objects.get(username="lead"))
    page = client.get(f"/p/support-bot/meeting/{week_label(week)}/").content.decode()
    assert f"Thumbs-down rate of model {GPT_NEXT} (new this week)" in page


def test_the_lead_runs_a_second_project_and_an_invitation_waits(seeded):
    """The team screens have content: two projects on the lead's home page, an invitation pending on the members
    page with its email sent, and the second project's queue holding its recent queries."""
    from django.test import Client

    from labeling.demo.team import INVITED_EMAIL, SQL_SLUG
    from labeling.models import AuditEvent, Invitation, Item

    assert f"/p/{SQL_SLUG}/" in seeded and INVITED_EMAIL in seeded
    sql = Project.objects.get(slug=SQL_SLUG)
    roles = dict(Membership.objects.filter(project=sql).values_list("user__username", "role"))
    assert roles == {"lead": "lead", "engineer": "engineer", "expert2": "expert"}
    assert Rubric.objects.get(project=sql).questions[0]["kind"] == "binary"
    assert Item.objects.filter(project=sql).exists()
    assert AuditEvent.objects.filter(project=sql, action="project.created", actor__username="lead").exists()
    invitation = Invitation.objects.get(project__slug="support-bot", email=INVITED_EMAIL)
    assert invitation.accepted_at is None and invitation.revoked_at is None and invitation.role == "expert"

    lead = Client()
    lead.force_login(get_user_model().objects.get(username="lead"))
    assert {"support-bot", SQL_SLUG} <= set(re.findall(r"/p/([a-z0-9-]+)/", lead.get("/").content.decode()))
    members_page = lead.get("/p/support-bot/manage/members/").content.decode()
    assert INVITED_EMAIL in members_page


def test_the_sql_assistants_outputs_arrived_as_opentelemetry_spans(seeded):
    """The second project shows what OpenTelemetry ingest stores: trace:span ids, the span's timing and tokens in
    metadata, the service's name, the model the response named; its analysts' ratings arrived later."""
    from labeling.demo.team import OUTPUTS, SQL_SLUG

    outputs = Output.objects.filter(project__slug=SQL_SLUG)
    assert outputs.count() == OUTPUTS  # one per chat span; the request spans around them were ignored
    sample = outputs.order_by("occurred_at").first()
    assert re.fullmatch(r"[0-9a-f]{32}:[0-9a-f]{16}", sample.external_id)
    assert sample.model == "gpt-4.1-2025-04-14" and sample.end_user_id.startswith("analyst-")
    assert sample.input == [{"role": "user", "content": sample.input[0]["content"]}]
    assert sample.output.startswith("```sql")
    assert sample.metadata["otel.span_name"] == "chat gpt-4.1" and sample.metadata["service.name"] == "sql-assistant"
    assert sample.metadata["gen_ai.usage.input_tokens"] > 180 and 600 <= sample.metadata["latency_ms"] <= 2400
    assert sample.metadata["feature"] == "sql-gen"
    assert outputs.filter(feedback_score=-1).count() >= 3


def test_the_demo_has_a_retention_reference_the_meeting_compares_with(seeded):
    from labeling.rules.calendar import current_week
    from labeling.selectors.report import latest_closed_week, report_of_week

    project = Project.objects.get(slug="support-bot")
    assert project.retention_reference and project.retention_reference_source

    week = latest_closed_week(project) or current_week(project)
    comparison = report_of_week(project=project, week=week).report["headline"]["retention_week1"]["comparison"]
    assert comparison["reference"]["source"] == project.retention_reference_source
    assert comparison["reference"]["verdict"] in ("above", "below", "within")
    assert comparison["past"]["cohorts"] >= 4 and comparison["past"]["verdict"] in ("above", "below", "within")


def test_the_demos_datasets_have_expected_outputs_from_single_expert_corrections(seeded):
    import json

    from labeling.models import DatasetVersion

    lines = [
        json.loads(line)
        for version in DatasetVersion.objects.filter(dataset__project__slug="support-bot", status="ready")
        for line in version.rows.values_list("line__text", flat=True)
    ]
    corrected = [row for row in lines if row["expected_output"]]
    assert corrected, "no row of the demo's datasets has an expected output"
    assert any(row["label"]["corrected_answer"]["method"] == "single" for row in corrected)


def test_the_demo_has_a_slack_webhook_with_a_delivery_log_and_sends_nothing(seeded, client):
    from labeling.models import WebhookDelivery, WebhookEndpoint

    project = Project.objects.get(slug="support-bot")
    [endpoint] = WebhookEndpoint.objects.filter(project=project, kind="slack")
    assert endpoint.disabled_after_failures
    log = WebhookDelivery.objects.filter(endpoint=endpoint)
    closed = project.cycles.filter(status="closed").count()
    assert log.count() == 2 * closed and not log.filter(status="pending").exists()  # nothing left to send
    assert set(log.values_list("status", flat=True)) == {"succeeded", "failed"}
    digest = log.filter(event="cycle.digest").first()
    assert "This week (" in digest.body and f") in {project.name}:" in digest.body and "/meeting/" in digest.body
    client.force_login(get_user_model().objects.get(username="lead"))
    page = client.get(f"/p/support-bot/manage/webhooks/{endpoint.pk}/").content.decode()
    assert "no_service" in page and "Enable" in page


def test_the_demos_engineer_added_the_training_pipelines_endpoint_which_has_sent_nothing(seeded, client):
    """Engineers wire webhooks as they issue keys: the demo's engineer added a signed endpoint for dataset versions,
    after the history, so nothing was ever sent to it (the demo sends nothing out); the webhooks page names them."""
    from labeling.models import WebhookEndpoint

    [endpoint] = WebhookEndpoint.objects.filter(project__slug="support-bot", kind="standard")
    assert endpoint.created_by.username == "engineer" and endpoint.enabled
    assert sorted(endpoint.events) == ["dataset.version_ready", "dataset.version_withdrawn"]
    assert not endpoint.deliveries.exists()
    client.force_login(get_user_model().objects.get(username="engineer"))
    page = client.get("/p/support-bot/manage/webhooks/")
    assert page.status_code == 200
    assert "ml-pipeline.invalid" in page.content.decode() and "engineer" in page.content.decode()


def slack_log_times(endpoint) -> list[datetime]:
    """Every moment the Slack endpoint's delivery log and status show: deliveries made, tried, finished, disabled."""
    from labeling.models import WebhookEndpoint

    endpoint = WebhookEndpoint.objects.get(pk=endpoint.pk)
    times = [endpoint.disabled_at, endpoint.failing_since]
    for delivery in endpoint.deliveries.all():
        times += [delivery.created_at, delivery.finished_at, delivery.next_attempt_at]
        times += [datetime.fromisoformat(attempt["at"]) for attempt in delivery.attempt_log]
    return [moment for moment in times if moment is not None]


def test_the_demos_slack_log_shows_nothing_after_it_was_seeded_even_hours_after_a_close(seeded):
    """The last week's failed delivery is retried for a day after the close: seeded sooner than that after it (on a
    Monday), the retries are squeezed into the time since rather than shown hours ahead."""
    from labeling.demo.webhooks import FAILED_ATTEMPTS, record_slack_answers
    from labeling.models import WebhookEndpoint
    from labeling.rules.calendar import week_end

    project = Project.objects.get(slug="support-bot")
    [endpoint] = WebhookEndpoint.objects.filter(project=project, kind="slack")
    assert max(slack_log_times(endpoint)) <= timezone.now()
    last_week = project.cycles.filter(status="closed").order_by("week").last().week
    for since_the_close in (timedelta(minutes=10), timedelta(hours=1), timedelta(hours=20), timedelta(days=3)):
        seeded_at = week_end(project, last_week) + since_the_close
        record_slack_answers(endpoint=endpoint, now=seeded_at)
        assert max(slack_log_times(endpoint)) <= seeded_at, since_the_close
        # Still the story of a failing endpoint retried through its schedule, then disabled.
        [failed] = endpoint.deliveries.filter(status="failed", event="cycle.closed")
        tried_at = [datetime.fromisoformat(attempt["at"]) for attempt in failed.attempt_log]
        assert len(tried_at) == FAILED_ATTEMPTS and tried_at == sorted(tried_at) and len(set(tried_at)) == len(tried_at)
        endpoint.refresh_from_db()
        assert not endpoint.enabled and tried_at[-1] <= endpoint.disabled_at <= seeded_at


def test_three_projects_in_three_states_of_health(seeded):
    """The platform team's view has something to tell apart: the support bot reviews and closes every week; the
    SQL assistant's last close failed; the ticket summarizer's experts stopped two weeks ago, so its last two
    closed weeks missed their quota while outputs kept arriving and its queue fills up unread."""
    from labeling.demo.summarizer import QUOTA, STALLED_WEEKS, SUMMARIZER_SLUG, WEEKS
    from labeling.demo.team import SQL_SLUG, failed_close_error
    from labeling.models import CycleStatus, Label, QueueWeek, ReviewCycle
    from labeling.rules.calendar import cycle_week, week_start

    now = timezone.now()
    support = Project.objects.get(slug="support-bot")
    last_week = cycle_week(support, now) - timedelta(weeks=1)
    assert ReviewCycle.objects.get(project=support, week=last_week).status == CycleStatus.CLOSED
    assert not ReviewCycle.objects.filter(project=support).exclude(failure_kind="").exists()

    sql = Project.objects.get(slug=SQL_SLUG)
    failed = ReviewCycle.objects.get(project=sql, week=cycle_week(sql, now) - timedelta(weeks=1))
    assert (failed.status, failed.failure_kind, failed.last_error) == (CycleStatus.OPEN, "close", failed_close_error())
    assert ReviewCycle.objects.get(project=sql, week=cycle_week(sql, now) - timedelta(weeks=2)).status == "closed"

    summarizer = Project.objects.get(slug=SUMMARIZER_SLUG)
    this_week = cycle_week(summarizer, now)
    stalled_from = this_week - timedelta(weeks=STALLED_WEEKS)
    closed = ReviewCycle.objects.filter(project=summarizer, status=CycleStatus.CLOSED)
    assert closed.count() == WEEKS and not closed.exclude(failure_kind="").exists()
    labels = Label.objects.filter(item__project=summarizer)
    assert labels.exists() and not labels.filter(item__week__gte=stalled_from).exists()
    # Labels are dated as given during their weeks (a day after their output), not when the demo was seeded.
    newest_label = labels.order_by("-created_at").first().created_at
    assert newest_label < week_start(summarizer, stalled_from) + timedelta(days=1)
    by_week = dict(QueueWeek.objects.filter(project=summarizer).values_list("week", "labels"))
    assert all(by_week[stalled_from - timedelta(weeks=n)] >= QUOTA for n in range(1, WEEKS - STALLED_WEEKS + 1))
    assert by_week[stalled_from] == by_week[stalled_from + timedelta(weeks=1)] == 0
    assert Output.objects.filter(project=summarizer, occurred_at__gte=week_start(summarizer, this_week)).exists()


def test_the_platform_page_tells_the_three_apart(seeded):
    """As the admin (an operator) sees it: the failed close stands out, the stalled team has its alerts, the healthy
    project neither a failed close nor an idle queue, and every row has a trend of the weeks stored since the project
    began (none of zeros before)."""
    from django.test import Client

    from labeling.demo.summarizer import SUMMARIZER_SLUG
    from labeling.demo.summarizer import WEEKS as SUMMARIZER_WEEKS
    from labeling.demo.team import SQL_SLUG
    from labeling.models import Alert, AlertState, ProjectWeek
    from labeling.rules.calendar import cycle_week
    from labeling.selectors.platform import TREND_WEEKS

    alerts = set(Alert.objects.unresolved().values_list("project__slug", "rule"))
    assert {(SQL_SLUG, "close_failed"), (SUMMARIZER_SLUG, "queue_idle"), (SUMMARIZER_SLUG, "quota_missed")} <= alerts
    # The lead has seen the missed quota; the idle queue's alert is still open.
    acknowledged = set(Alert.objects.filter(state=AlertState.ACKNOWLEDGED).values_list("project__slug", "rule"))
    assert acknowledged == {(SUMMARIZER_SLUG, "quota_missed")}
    # The support bot's experts label every week and its closes succeed; whether its sampled queue reached its quota
    # depends on which outputs the hash of database ids picks, so quota_missed may or may not be there; the thumbs-down
    # its new model's refund-date promises bring usually raises thumbs_down_rise.
    assert not {rule for slug, rule in alerts if slug == "support-bot"} & {"close_failed", "queue_idle"}
    stored = {}
    for slug in ("support-bot", SQL_SLUG, SUMMARIZER_SLUG):
        project = Project.objects.get(slug=slug)
        weeks = sorted(ProjectWeek.objects.filter(project=project).values_list("week", flat=True))
        assert weeks == [weeks[-1] - WEEK * back for back in reversed(range(len(weeks)))], slug  # through this week
        first_output = Output.objects.filter(project=project).earliest("occurred_at").occurred_at
        began = cycle_week(project, min(project.created_at, first_output))
        assert weeks[0] == max(began, weeks[-1] - WEEK * (TREND_WEEKS - 1)), slug
        stored[slug] = len(weeks)
    # The support bot's history is longer than the trend; the summarizer began (was created) 6 weeks ago; the SQL
    # assistant, a few weeks of use, has its first query's week and those since.
    assert stored["support-bot"] == TREND_WEEKS
    assert stored[SUMMARIZER_SLUG] == SUMMARIZER_WEEKS + 1
    assert 3 <= stored[SQL_SLUG] < TREND_WEEKS

    admin = Client()
    admin.force_login(get_user_model().objects.get(username="admin"))
    html = admin.get("/platform/?sort=close&dir=desc").content.decode()
    assert re.findall(r'<tr data-project="([^"]+)" class="needs-attention"', html) == [SQL_SLUG]
    assert re.findall(r'<tr data-project="([^"]+)"', html)[0] == SQL_SLUG


def test_no_paused_demo_queue_holds_an_item_or_a_lease_dated_after_its_pause(seeded):
    """Routing puts no output in a paused queue and a paused queue hands out no new item: every item of a paused
    queue was made, and every lease on it taken, before the pause."""
    from labeling.models import Item, Queue, Slot

    paused = Queue.objects.filter(is_active=False, paused_at__isnull=False)
    assert paused.exists()
    for queue in paused:
        items = Item.objects.filter(queue=queue)
        assert items.exists()
        assert not items.filter(created_at__gt=queue.paused_at).exists(), queue.slug
        leases = Slot.objects.filter(item__queue=queue, leased_at__isnull=False)
        assert leases.exists()
        assert not leases.filter(leased_at__gt=queue.paused_at).exists(), queue.slug


def test_the_demo_shows_a_paused_queue_a_confirmed_gold_and_this_weeks_live_pass_rate(seeded):
    """The newest screens have something to show: expert1 still holds an item in the queue the lead paused (their
    home page says so), the audit log has a gold the lead confirmed as it was, and the running week's meeting page
    has a pass rate from this week's gold (the live figures were refreshed before the week's labels were resolved)."""
    from django.test import Client

    from labeling.models import AuditEvent, Resolution
    from labeling.models.cycles import week_label
    from labeling.rules.calendar import cycle_week

    project = Project.objects.get(slug="support-bot")
    expert1 = Client()
    expert1.force_login(get_user_model().objects.get(username="expert1"))
    home = expert1.get("/").content.decode()
    assert "You still hold an item in “<bdi>Escalations</bdi>” (paused)" in home

    changes = [
        details["changed"]
        for details in AuditEvent.objects.filter(project=project, action="queue.updated").values_list(
            "details", flat=True
        )
    ]
    assert changes == [["is_active"]]
    confirmed = AuditEvent.objects.get(project=project, action="gold.confirmed")
    resolution = Resolution.objects.get(item_id=confirmed.details["item"])
    assert resolution.status == "resolved" and not resolution.marked_for_adjudication
    assert resolution.item.flags.exists()

    lead = Client()
    lead.force_login(get_user_model().objects.get(username="lead"))
    audit = lead.get("/p/support-bot/manage/audit/").content.decode()
    assert confirmed.details["external_id"] in audit
    this_week = week_label(cycle_week(project, timezone.now()))
    meeting = lead.get(f"/p/support-bot/meeting/{this_week}/").content.decode()
    assert "Live figures" in meeting and "No gold answers yet this week." not in meeting


def test_the_demo_shows_a_flag_the_lead_resolved_after_its_weeks_meeting(seeded):
    """The flags of the item the lead confirmed in the first reviewed week's meeting are resolved, with a note: struck
    on that week's page as resolved since the close, and on no later agenda; other flags stay open."""
    from django.test import Client

    from labeling.models import AuditEvent, Flag, ReviewCycle

    project = Project.objects.get(slug="support-bot")
    confirmed = AuditEvent.objects.get(project=project, action="gold.confirmed")
    resolved = Flag.objects.filter(item_id=confirmed.details["item"])
    assert resolved.exists() and not resolved.filter(resolved_at__isnull=True).exists()
    assert Flag.objects.filter(item__project=project, resolved_at__isnull=True).exists()
    first = ReviewCycle.objects.filter(project=project, status="closed").order_by("week").first()

    lead = Client()
    lead.force_login(get_user_model().objects.get(username="lead"))
    html = lead.get(f"/p/support-bot/meeting/{first.label}/").content.decode()
    done = html.split("Resolved since the close")[1].split("</ul>")[0]
    assert all(f'data-flag="{flag.pk}"' in done for flag in resolved)
    latest = ReviewCycle.objects.filter(project=project).order_by("-week").first()
    later = lead.get(f"/p/support-bot/meeting/{latest.label}/").content.decode()
    assert not any(f'data-flag="{flag.pk}"' in later for flag in resolved)


def test_the_demos_running_week_shows_the_last_meetings_decisions_still_open(seeded):
    """The last closed week's decisions are carried to the running week's meeting page, with their owners."""
    from django.test import Client

    from labeling.models import Decision
    from labeling.models.cycles import week_label
    from labeling.rules.calendar import cycle_week

    project = Project.objects.get(slug="support-bot")
    decisions = list(Decision.objects.filter(cycle__project=project, done_at__isnull=True))
    assert decisions
    lead = Client()
    lead.force_login(get_user_model().objects.get(username="lead"))
    this_week = week_label(cycle_week(project, timezone.now()))
    html = lead.get(f"/p/support-bot/meeting/{this_week}/").content.decode()
    table = html.split('id="open-decisions"')[1].split("</table>")[0]
    assert all(f'data-decision="{decision.pk}"' in table for decision in decisions)
    assert "engineer" in table and "No decisions recorded yet." not in html


def test_the_last_meetings_decisions_were_taken_in_this_mondays_meeting_after_the_weeks_close(seeded):
    """The decisions of the last closed week were recorded in its meeting, on this Monday morning at the time of day
    rubric v2's was in its own, a minute apart: their rows and `decision.added` entries say one moment, after the
    week closed and before what the lead did later this week, not when the demo was seeded."""
    from labeling.demo.project import DECISIONS, RESCALE_DECISION
    from labeling.models import Decision, ReviewCycle
    from labeling.rules.calendar import week_end

    project = Project.objects.get(slug="support-bot")
    last = ReviewCycle.objects.filter(project=project, status="closed").order_by("-week").first()
    decisions = list(Decision.objects.filter(cycle=last).order_by("pk"))
    assert [decision.text for decision in decisions] == [text for text, _, _ in DECISIONS]
    added = dict(
        AuditEvent.objects.filter(project=project, action="decision.added").values_list("details__decision", "at")
    )
    rescale = Decision.objects.select_related("cycle").get(cycle__project=project, text=RESCALE_DECISION)
    into_its_monday = rescale.created_at - week_end(project, rescale.cycle.week)
    moments = [decision.created_at for decision in decisions]
    assert moments == [added[decision.pk] for decision in decisions]
    monday = week_end(project, last.week)
    assert moments == [monday + into_its_monday + timedelta(minutes=turn) for turn in range(len(decisions))]
    assert last.closed_at < moments[0] and moments[-1] < timezone.now()
    paused = AuditEvent.objects.get(project=project, action="queue.updated", details__slug="escalations")
    assert moments[-1] < paused.at


def test_the_admins_platform_tokens_page_lists_a_token_a_script_has_used(seeded):
    from django.test import Client

    from labeling.demo.lately import EXPORT_TOKEN_NAME
    from labeling.models import OperatorToken

    token = OperatorToken.objects.get(user__username="admin")
    assert token.name == EXPORT_TOKEN_NAME and token.last_used_at is not None and token.revoked_at is None
    admin = Client()
    admin.force_login(get_user_model().objects.get(username="admin"))
    page = admin.get("/platform/tokens/").content.decode()
    assert EXPORT_TOKEN_NAME in page and token.prefix in page and "No tokens yet." not in page


def test_the_demos_oldest_versions_files_are_made_on_request_and_the_newest_are_on_disk(seeded, client):
    from django.core.files.storage import default_storage

    from labeling.models import DatasetVersion, VersionFile

    project = Project.objects.get(slug="support-bot")
    for dataset in project.datasets.all():
        versions = list(DatasetVersion.objects.filter(dataset=dataset, status="ready").order_by("-number"))
        assert len(versions) >= 2, dataset.slug  # the thumbs-down regressions' v1 was withdrawn (next test)
        for version in versions[:2]:
            files = VersionFile.objects.filter(version=version)
            assert {f.state for f in files} == {"ready"} and all(default_storage.exists(f.name) for f in files)
        for version in versions[2:]:
            assert set(VersionFile.objects.filter(version=version).values_list("state", flat=True)) == {"on_request"}
    client.force_login(get_user_model().objects.get(username="engineer"))
    dataset = project.datasets.order_by("slug").first()
    html = client.get(f"/p/support-bot/datasets/{dataset.slug}/").content.decode()
    assert "Prepare PARQUET</button>" in html


def test_the_keys_page_shows_the_key_the_support_bots_app_sent_with_as_used_last(seeded):
    from django.test import Client

    from labeling.demo.lately import APP_KEY_NAME

    lead = Client()
    lead.force_login(get_user_model().objects.get(username="lead"))
    page = lead.get("/p/support-bot/keys/").content.decode()
    used_last = page.split('id="key-used-last"', 1)[1].split("</p>", 1)[0]
    assert APP_KEY_NAME in used_last and "No active key has been used yet." not in page


def test_the_lead_withdrew_a_version_and_latest_is_the_newest_ready_one(seeded, client):
    from labeling.demo.lately import WITHDRAW_REASON
    from labeling.models import AuditEvent, DatasetVersion

    withdrawn = DatasetVersion.objects.get(
        dataset__project__slug="support-bot", dataset__slug="thumbs-down-regressions", number=1
    )
    assert (withdrawn.status, withdrawn.withdrawn_note, withdrawn.withdrawn_by.username) == (
        "withdrawn",
        WITHDRAW_REASON,
        "lead",
    )
    assert withdrawn.sha256 and withdrawn.row_count and not withdrawn.rows.exists()
    assert AuditEvent.objects.filter(action="dataset.version_withdrawn", details__version=1).exists()
    client.force_login(get_user_model().objects.get(username="engineer"))
    api = "/api/v1/projects/support-bot/datasets/thumbs-down-regressions/versions"
    gone = client.get(f"{api}/1/download")
    assert gone.status_code == 410 and WITHDRAW_REASON in gone.json()["errors"][0]["message"]
    newest = DatasetVersion.objects.filter(dataset=withdrawn.dataset, status="ready").order_by("-number").first()
    assert client.get(f"{api}/latest")["X-Dataset-Version"] == str(newest.number) != "1"
    page = client.get("/p/support-bot/datasets/thumbs-down-regressions/").content.decode()
    assert ">withdrawn</span>" in page and "by <bdi>lead</bdi>" in page


def test_the_dashboard_marks_the_week_the_team_rescaled_helpfulness(seeded, client):
    """The team moved helpfulness from five points to three two weeks ago (rubric v2): the dashboard's helpfulness
    trend starts a new line at that week and says the question was asked on another scale from there, and only
    there."""
    from labeling.models import week_label
    from labeling.rules.calendar import cycle_week

    project = Project.objects.get(slug="support-bot")
    rescaled = week_label(cycle_week(project, timezone.now()) - 2 * WEEK)
    client.force_login(get_user_model().objects.get(username="lead"))
    page = client.get("/p/support-bot/dashboard/?question=helpfulness").content.decode()
    chart = page[page.index('data-chart="quality"') :]
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]*)</td><td>[^<]*</td><td>([^<]*)</td></tr>", chart)
    measured = [(week, counts) for week, value, counts in rows if value != "—"]
    assert len(measured) >= 3  # a week before the rescale and two after it have a mean
    marked = [week for week, counts in measured if "asked on another scale from here" in counts]
    assert marked == [rescaled]


def test_the_meeting_before_the_rescale_decided_it_and_its_done_decision_links_to_rubric_v2s_publishing(seeded, client):
    """The meeting three weeks ago decided to ask helpfulness on three points; the lead published v2 that Monday and
    marked the decision done: its row on that week's page links to the audit log of the moments from its record to its
    done, which lists v2 between them and nothing else. The week v2 was published in says so on its page."""
    from html import unescape

    from labeling.models import week_label
    from labeling.rules.calendar import cycle_week

    project = Project.objects.get(slug="support-bot")
    rescaled = cycle_week(project, timezone.now()) - 2 * WEEK
    client.force_login(get_user_model().objects.get(username="lead"))
    page = client.get(f"/p/support-bot/meeting/{week_label(rescaled - WEEK)}/").content.decode()

    row = next(row for row in page.split("data-decision=")[1:] if "on 1-3 instead of 1-5" in row).split("</tr>")[0]
    assert f"done {rescaled.isoformat()}" in row
    audit = unescape(re.search(r'href="([^"]+)">What changed meanwhile', row).group(1))
    assert audit.startswith(f"/p/support-bot/manage/audit/?since={rescaled.isoformat()}T")
    response = client.get(audit)
    assert [row["event"].action for row in response.context["rows"]] == [
        "decision.done", "rubric.published", "decision.added"
    ]  # fmt: skip
    week_page = client.get(f"/p/support-bot/meeting/{week_label(rescaled)}/").content.decode()
    notice = week_page.split('id="rubric-published"')[1].split("</section>")[0]
    assert "Rubric v2 published" in notice and "is asked as before" in notice


@pytest.mark.parametrize(
    "site_url, port, printed",
    [
        ("https://demo.example.org/", "9000", "https://demo.example.org"),  # the links its e-mails use
        (None, "9000", "http://127.0.0.1:9000"),
        (None, None, "http://127.0.0.1:8000"),
    ],
)
def test_the_printed_sign_in_link_is_where_the_demos_emails_point(monkeypatch, site_url, port, printed):
    from labeling.management.commands.seed_demo import Command

    for name, value in (("SITE_URL", site_url), ("PORT", port)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)

    assert Command().create_parser("manage.py", "seed_demo").parse_args([]).base_url == printed


@pytest.mark.parametrize(
    "since_the_end",
    [timedelta(seconds=1), timedelta(seconds=30), timedelta(minutes=4), timedelta(minutes=10), timedelta(days=3)],
    ids=["1s", "30s", "4min", "10min", "3days"],
)
def test_the_demos_failed_slack_delivery_finished_at_its_last_attempt_each_at_its_own_moment(seeded, since_the_end):
    """The failed delivery's `finished_at` stayed at the close, a day before its last attempt; and seeded within
    minutes of a week's end (before beat's close, 5 minutes in) every attempt was made at one moment: now."""
    from labeling.demo.webhooks import FAILED_ATTEMPTS, record_slack_answers
    from labeling.models import WebhookEndpoint
    from labeling.rules.calendar import week_end

    project = Project.objects.get(slug="support-bot")
    [endpoint] = WebhookEndpoint.objects.filter(project=project, kind="slack")
    last_week = project.cycles.filter(status="closed").order_by("week").last().week
    ended = week_end(project, last_week)

    record_slack_answers(endpoint=endpoint, now=ended + since_the_end)

    for failed in endpoint.deliveries.filter(status="failed"):
        tried_at = [datetime.fromisoformat(attempt["at"]) for attempt in failed.attempt_log]
        assert len(set(tried_at)) == len(tried_at) == FAILED_ATTEMPTS and tried_at == sorted(tried_at), tried_at
        assert ended <= failed.created_at == tried_at[0] and tried_at[-1] <= ended + since_the_end
        assert failed.finished_at == tried_at[-1]
    for succeeded in endpoint.deliveries.filter(status="succeeded"):
        [attempt] = succeeded.attempt_log
        assert succeeded.finished_at == datetime.fromisoformat(attempt["at"]) == succeeded.created_at
    endpoint.refresh_from_db()
    assert endpoint.failing_since <= endpoint.disabled_at <= ended + since_the_end


def test_the_demo_has_an_arabic_conversation_whose_paragraphs_each_take_their_own_direction(seeded):
    """A customer wrote in Arabic and the answer quotes the app's menu in English: it waits for expert1 in Thumbs down,
    unlabeled, and their labeling screen gives each paragraph dir="auto" (the Arabic ones right to left, the English
    one between them left to right)."""
    from django.test import Client

    from labeling.models import Item, Queue
    from labeling.services.assignment import next_item, skip_item

    output = Output.objects.get(project__slug="support-bot", external_id=ARABIC_ID)
    assert output.feedback_score == -1 and output.input[0]["content"].startswith("مرحباً")
    queue = Queue.objects.get(project=output.project, slug="thumbs-down")
    arabic = Item.objects.get(output=output, queue=queue)
    assert not arabic.labels.exists()
    expert1 = get_user_model().objects.get(username="expert1")
    while (item := next_item(expert=expert1, queue=queue)).pk != arabic.pk:  # the older ones first
        skip_item(expert=expert1, item=item, reason="Another time.")
    client = Client()
    client.force_login(expert1)

    html = client.get(f"/p/support-bot/items/{arabic.pk}/").content.decode()

    shown = html.split('class="markdown ai-output"')[1].split("</div>")[0]
    paragraphs = re.findall(r'<p dir="auto">(\S+)', shown)
    assert paragraphs == ["نعم،", "In", "سنرسل"], shown


def test_a_week_the_summarizer_closed_after_the_week_after_it_restated_that_weeks_report_and_mailed_the_lead(
    seeded, mailoutbox
):
    """The ticket summarizer's held-back week closed after the week after it, with two labels corrected meanwhile: its
    close restated the later week's pass-rate comparison, which that week's meeting page says, and the leads were
    e-mailed that the report changed, at that close's moment (the seed sent it as a worker does; the outbox's
    message, run here as a worker, finds it sent)."""
    from django.test import Client

    from labeling.demo.summarizer import SUMMARIZER_SLUG
    from labeling.models import AuditEvent, LabelRevision, ReviewCycle
    from labeling.rules.calendar import week_from_label
    from tests.outbox import run_each_as_worker

    summarizer = Project.objects.get(slug=SUMMARIZER_SLUG)
    run_each_as_worker("labeling.send_restated_report_notice")
    [claim] = AuditEvent.objects.filter(project=summarizer, action="cycle.restated_report_notice_sent")
    restated, held_back = claim.details["week"], claim.details["with_week"]
    later = ReviewCycle.objects.get(project=summarizer, status="closed", week=week_from_label(summarizer, restated))
    assert later.week - week_from_label(summarizer, held_back) == WEEK
    # Sent as the held-back week's close asked for it, told at that close's moment (not when the seed committed).
    held_back_close = ReviewCycle.objects.get(project=summarizer, week=week_from_label(summarizer, held_back))
    assert claim.at == held_back_close.closed_at
    assert claim.details["figures"] == ["Pass rate (faithful)"] and claim.details["recipients"] == 1
    corrected = LabelRevision.objects.filter(label__item__project=summarizer, label__item__week=later.week - WEEK)
    assert corrected.exists() and not corrected.filter(answers__faithful=True).exists()  # failed at first

    [notice] = [message for message in [*SEED_MAIL, *mailoutbox] if "report changed" in message.subject]
    assert notice.subject == f"[expertloop] Ticket summarizer: the {restated} report changed"
    assert notice.to == ["lead@example.com"]
    assert f"{held_back} closed after {restated}" in notice.body
    [(was, now)] = re.findall(r"- Pass rate \(faithful\): was (.+), now (.+)\n", notice.body)
    assert was != now
    lead = Client()
    lead.force_login(get_user_model().objects.get(username="lead"))
    page = lead.get(f"/p/{SUMMARIZER_SLUG}/meeting/{restated}/").content.decode()
    assert f"Its comparison with {held_back} was made again from that week's final figures" in page
    change = re.search(r"\(([+-][\d.]+ pts)\)", now).group(1)
    assert change in page.split('data-tile="pass-rate"')[1].split("</div>")[0].replace("\u2212", "-")


def test_an_expert_has_over_a_hundred_items_waiting_in_the_sql_assistants_queue(seeded):
    """The SQL assistant's queue holds its last two weeks and the running one, unlabeled: expert2's labeling screen
    says "100+" waiting, most from an earlier week."""
    from django.test import Client

    from labeling.demo.team import SQL_SLUG
    from labeling.models import Queue
    from labeling.services.assignment import next_item

    queue = Queue.objects.get(project__slug=SQL_SLUG, slug="all-queries")
    expert2 = get_user_model().objects.get(username="expert2")
    item = next_item(expert=expert2, queue=queue)
    client = Client()
    client.force_login(expert2)

    html = client.get(f"/p/{SQL_SLUG}/items/{item.pk}/").content.decode()

    assert "<strong>100+</strong> waiting for you (100+ from an earlier week), this one included" in html


def test_the_sql_assistants_queue_holds_no_query_from_before_its_team_adopted_it(seeded):
    """The analysts rated the older queries when they read them, before the team adopted expertloop and made its queue:
    once the seed's work has run (the feedback's routing among it), the queue holds only the weeks since the adoption,
    as its backfill made them, and no week that ended before the project (never closed, on no meeting)."""
    from labeling.demo.team import SQL_SLUG
    from labeling.models import Item
    from labeling.rules.calendar import cycle_week
    from tests.outbox import run_each_as_worker

    project = Project.objects.get(slug=SQL_SLUG)
    rated_down = Output.objects.filter(project=project, feedback_score=-1)
    assert rated_down.filter(occurred_at__lt=project.created_at).exists()  # the older ones keep their ratings

    run_each_as_worker("labeling.route_outputs")

    weeks = set(Item.objects.filter(project=project).values_list("week", flat=True))
    assert weeks and min(weeks) == cycle_week(project, project.created_at)


def test_the_dashboards_pass_rate_chart_starts_on_the_first_week_with_figures(seeded, client):
    """The support bot's outputs go back before the team adopted expertloop, its figures only from then on: the
    dashboard's range is its twelve weeks, its pass-rate chart starts at the first week with a pass rate."""
    from labeling.models import QualityMetric, week_label
    from labeling.selectors.metrics import first_week_of_the_project

    project = Project.objects.get(slug="support-bot")
    first = QualityMetric.objects.filter(project=project).order_by("week").values_list("week", flat=True).first()
    client.force_login(get_user_model().objects.get(username="lead"))

    response = client.get("/p/support-bot/dashboard/")

    assert first > first_week_of_the_project(project)  # weeks of outputs without figures before it
    assert response.context["filters"]["from"] == week_label(first_week_of_the_project(project))
    chart = str(response.context["quality_chart"])
    assert chart.split("<tbody><tr><td>")[1].startswith(f"{week_label(first)}<")


@pytest.mark.parametrize("slug", ["support-bot", "sql-assistant", "ticket-summarizer"])
def test_no_label_of_a_closed_week_was_given_after_the_close_that_froze_it(seeded, slug):
    """A week's close froze its labels into its report: each was given, and last changed, before that close (those of
    outputs that came on the week's last day too), and the running week's before the demo was seeded."""
    from django.db.models import Q

    from labeling.models import Label, ReviewCycle
    from labeling.rules.calendar import cycle_week

    project = Project.objects.get(slug=slug)
    closed = ReviewCycle.objects.filter(project=project, status="closed")
    assert closed.exists()
    for cycle in closed:
        after = Q(created_at__gte=cycle.closed_at) | Q(updated_at__gte=cycle.closed_at)
        late = Label.objects.filter(item__project=project, item__week=cycle.week).filter(after)
        assert not late.exists(), f"{late.count()} labels of {cycle.label} after its close at {cycle.closed_at}"
    # The running week's too: none at the moment of the seed but for an output of the last minutes.
    running = Label.objects.filter(item__project=project, item__week=cycle_week(project, SEEDED_BETWEEN[0]))
    older = running.filter(item__output__occurred_at__lt=SEEDED_BETWEEN[0] - timedelta(minutes=2))
    assert not older.filter(created_at__gte=SEEDED_BETWEEN[0] - timedelta(minutes=1)).exists()


def test_each_demo_member_joined_before_their_first_label_not_when_the_demo_was_seeded(seeded, client):
    """The members page's *Joined* is when the team adopted expertloop, before the member's first label there, and each
    account was made by then (`admin`'s, the operator's, before any team adopted it): not the day the demo was
    seeded."""
    from django.db.models import Min

    from labeling.models import Label

    seeded_at = SEEDED_BETWEEN[0]
    memberships = Membership.objects.filter(project__slug__in=["support-bot", "sql-assistant", "ticket-summarizer"])
    assert memberships.count() == 4 + 3 + 3
    for membership in memberships.select_related("user", "project"):
        first_label = Label.objects.filter(item__project=membership.project, expert=membership.user).aggregate(
            first=Min("created_at")
        )["first"]
        who = (membership.user.username, membership.project.slug)
        assert membership.created_at == membership.project.created_at < seeded_at - WEEK, who
        assert first_label is None or membership.created_at < first_label, who
        assert membership.user.date_joined <= membership.created_at, who
    admin = get_user_model().objects.get(username="admin")
    assert admin.date_joined < Project.objects.aggregate(first=Min("created_at"))["first"]
    client.force_login(get_user_model().objects.get(username="lead"))
    page = client.get("/p/support-bot/manage/members/").content.decode()
    joined = Project.objects.get(slug="support-bot").created_at
    assert page.count(f'<td class="nowrap">{joined:%-d %b %Y}</td>') == 4
    assert f'<td class="nowrap">{seeded_at:%-d %b %Y}</td>' not in page


def test_the_sql_assistants_failed_close_reads_as_on_the_database_the_demo_runs_on(seeded):
    """The demo runs on SQLite (scripts/demo.sh) or PostgreSQL: its failed close tells the error that database gives
    a statement that waited too long, as the close sweep records one, not the other database's words."""
    from labeling.demo.team import SQL_SLUG
    from labeling.models import ReviewCycle

    words = {"postgresql": "canceling statement due to statement timeout", "sqlite": "database is locked"}
    failed = ReviewCycle.objects.get(project__slug=SQL_SLUG, failure_kind="close")
    assert failed.last_error == f"OperationalError: {words[connection.vendor]}"


# What the demo may stamp with the moment it was seeded, and why: what happens as it is seeded (the key and the
# invitation mail it prints, the figures it refreshes, the alerts' hourly look), and bookkeeping no page tells as a
# moment (when rows reached the database, a slot's lease, the outbox's work).
STAMPED_AS_SEEDED = {
    "ApiKey.created_at": "the demo key the command prints",
    "AuditEvent.at": "that key's issue and the invitation it mails",
    "Invitation.created_at": "the invitation whose mail the seed prints",
    "Invitation.sent_at": "the same",
    "Alert.last_seen_at": "the hourly evaluation's last look",
    "ReviewCycle.digests_sent_at": "the last close's digests, mailed as the seed commits",
    "ReviewCycle.figures_refreshed_at": "the running week's live figures, refreshed by the seed",
    "ProjectWeek.computed_at": "the platform's usage rows, computed by the seed",
    "RetentionState.refreshed_at": "the retention figures, computed by the seed",
    "RetentionState.now": "the same",
    "ChangeWeekTally.counted_at": "the weeks' change tallies, counted by the seed",
    "ReviewCycle.created_at": "bookkeeping",
    "Output.received_at": "bookkeeping: the history keeps its moments in occurred_at",
    "Output.routed_at": "bookkeeping",
    "UsageEvent.received_at": "bookkeeping",
    "Slot.leased_at": "bookkeeping",
    "Resolution.updated_at": "bookkeeping",
    "VersionFile.requested_at": "bookkeeping",
    "VersionFile.render_started_at": "bookkeeping",
    "VersionFile.rendered_at": "bookkeeping",
    "OutboxMessage.created_at": "bookkeeping",
    "OutboxMessage.published_at": "bookkeeping",
    "OutboxMessage.started_at": "bookkeeping",
    "OutboxMessage.finished_at": "bookkeeping",
}


def test_nothing_the_demo_tells_is_stamped_with_the_moment_it_was_seeded_unless_it_happened_then(seeded):
    """A real history is spread out: no page says "0 minutes ago" of what the story says happened earlier (labels, a
    member joining, a key or token last used, a queue paused, an alert opened, an endpoint disabled). Within a minute of
    the seed there is only what happens as it is seeded, and bookkeeping no page tells as a moment."""
    from django.apps import apps
    from django.db import models

    near = (SEEDED_BETWEEN[0] - timedelta(minutes=1), SEEDED_BETWEEN[1] + timedelta(minutes=1))
    stamped = {}
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, models.DateTimeField):
                count = model.objects.filter(**{f"{field.name}__range": near}).count()
                if count:
                    stamped[f"{model.__name__}.{field.name}"] = count
    assert set(stamped) <= set(STAMPED_AS_SEEDED), {
        name: stamped[name] for name in set(stamped) - set(STAMPED_AS_SEEDED)
    }
    audited = AuditEvent.objects.filter(at__range=near)
    assert sorted(audited.values_list("action", "details__name")) == [
        ("api_key.created", "demo"),
        ("member.invited", None),
    ]
    assert list(ApiKey.objects.filter(created_at__range=near).values_list("name", flat=True)) == ["demo"]
