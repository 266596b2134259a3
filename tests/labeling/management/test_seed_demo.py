"""`manage.py seed_demo`: a realistic support-bot project, stored through the real services, safe to re-run."""

import io
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from labeling.demo.conversation import FAILURES
from labeling.demo.support_bot import generate
from labeling.models import ApiKey, Membership, OutboxMessage, Output, Project, Rubric, UsageEvent

pytestmark = pytest.mark.django_db

WEEK = timedelta(days=7)


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """Seed once for the module (the demo's labeling history takes a while); each test's own
    changes still roll back. Returns what the first run printed."""
    from labeling.demo.seed import delete_demo

    with django_db_blocker.unblock():
        out = seed()
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


def test_it_seeds_a_project_with_rubric_queues_and_people(seeded):
    out = seeded

    project = Project.objects.get(slug="support-bot")
    assert project.name == "Support bot for an online shop"
    rubric = Rubric.objects.current_for(project)
    assert [question["key"] for question in rubric.questions] == [
        "correct", "helpfulness", "tone", "issues", "critique", "corrected_answer",
    ]  # fmt: skip
    assert "## Policy cheat sheet" in rubric.guidelines
    assert set(project.queues.values_list("slug", flat=True)) == {"weekly-sample", "thumbs-down", "refunds"}
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
    key = ApiKey.objects.get(project=project)
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
    keys = ApiKey.objects.order_by("created_at", "pk")
    assert [key.is_active for key in keys] == [False, True]
    assert keys[1].prefix in out and keys[0].prefix not in out.split("API key")[1]


def test_reset_seeds_from_scratch(seeded):
    old = Project.objects.get(slug="support-bot")
    count = Output.objects.count()

    out = seed("--reset")

    assert "already seeded" not in out
    assert Project.objects.get(slug="support-bot").pk != old.pk
    assert Output.objects.count() == count
    assert get_user_model().objects.filter(username__in=["expert1", "admin"]).count() == 2


def test_users_with_a_bad_first_week_come_back_less_often(seeded):
    project = Project.objects.get(slug="support-bot")

    # What the stored rows alone show: a thumbs-down in the first week.
    bad, good, bad_users, good_users = week_one_return_rates(project, lambda output: output.feedback_score == -1)
    assert bad_users >= 20 and good_users >= 20
    assert bad < 0.8 * good

    # What experts will find: the answers that really failed (the generator knows; ids do not depend on the clock).
    truth = generate(seed=7, now=datetime.now(UTC)).truth
    bad, good, bad_users, good_users = week_one_return_rates(
        project, lambda output: truth[output.external_id] in FAILURES
    )
    assert bad_users >= 50 and good_users >= 50
    assert bad < 0.5 * good


def test_the_generator_is_deterministic_and_independent_of_the_clock():
    now = datetime.now(UTC)
    first = generate(seed=7, now=now, shoppers=40)
    later = generate(seed=7, now=now + timedelta(days=3, hours=5), shoppers=40)
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
    assert not outputs.filter(search_vector__isnull=True).exists()
    assert all(
        isinstance(metadata.get("latency_ms"), int) and isinstance(metadata.get("tokens"), int)
        for metadata in outputs.values_list("metadata", flat=True)
    )


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
