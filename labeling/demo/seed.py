"""Seed the demo through the real services, so the demo data passes the same checks as a product app's.

The project comes from `create_project`, the history from `ingest_outputs` / `ingest_events` (JSON
bodies, at most one request's worth each), the key from `create_api_key`. Only what those services
cannot do — demo passwords, the superuser, deleting on `--reset` — is written here directly.
"""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Min, OuterRef, Subquery
from django.db.models.functions import Greatest
from django.utils import timezone

from labeling.exceptions import BatchInvalid, DomainError
from labeling.models import (
    ApiKey,
    AuditEvent,
    DatasetVersion,
    Decision,
    Item,
    Label,
    Membership,
    Output,
    Project,
    Queue,
    Resolution,
    ResolutionStatus,
    ReviewCycle,
    Rubric,
    UsageEvent,
    VersionStatus,
    WebhookEndpoint,
)
from labeling.rules.calendar import cycle_week
from labeling.rules.gold import open_ties
from labeling.selectors.platform import TREND_WEEKS
from labeling.services import cycles
from labeling.services.alerts import evaluate_alerts
from labeling.services.api_keys import create_api_key, revoke_api_key
from labeling.services.datasets import create_dataset
from labeling.services.ingest import ingest_events, ingest_outputs
from labeling.services.platform import backfill_usage
from labeling.services.projects import create_project
from labeling.services.redaction import save_rule_set
from labeling.services.resolution import adjudicate, resolve_stale_items
from labeling.services.routing import backfill_queue, validate_rule
from labeling.services.rubrics import publish_rubric
from labeling.services.saved_views import save_view
from labeling.services.search_index import index_outputs
from labeling.services.version_files import render_version_files, sweep_superseded_files

from .closes import close_in_its_time
from .labels import ReviewHistory
from .lately import (
    TIES_DECIDED_AT,
    acknowledge_the_missed_quota,
    confirm_a_flagged_item,
    date_alerts_found_after_the_last_close,
    date_this_weeks_doings,
    decided_in_the_meeting,
    in_the_meeting,
    issue_the_apps_ingest_key,
    issue_the_usage_export_token,
    pause_a_queue_with_an_item_held,
    withdraw_a_version_with_outdated_gold,
)
from .personal_data import RULES as REDACTION_RULES
from .personal_data import add_contact_details
from .project import (
    ADMIN,
    DATASETS,
    DECISIONS,
    ENGINEER_USERNAME,
    GUIDELINES_V2,
    LEAD_USERNAME,
    MEMBERS,
    QUESTIONS_V2,
    QUEUES,
    RESCALE_DECISION,
    RESCALED_WEEKS_AGO,
    SAVED_VIEWS,
    SLUG,
    date_back_to_adoption,
    date_ratings_as_read,
    project_spec,
)
from .right_to_left import EXTERNAL_ID as ARABIC_ID
from .right_to_left import an_arabic_conversation
from .summarizer import SUMMARIZER_SLUG, seed_summarizer
from .support_bot import WEEKS, generate
from .team import SQL_SLUG, seed_team
from .webhooks import add_pipeline_endpoint, add_slack_endpoint, record_slack_answers

KEY_NAME = "demo"
KEY_SCOPES = ["ingest", "read"]


@dataclass(frozen=True)
class Credential:
    username: str
    password: str
    role: str


@dataclass(frozen=True)
class SeedReport:
    """What `seed_demo` did, for the command to print. `api_key` is the only copy of the secret."""

    project: Project
    created: bool  # False when the project was there already and only people and key were refreshed
    outputs: int
    events: int
    end_users: int
    weeks: int
    credentials: list[Credential]
    api_key: str
    revoked_keys: int
    example_external_id: str | None


def seed_demo(*, seed: int = 7, reset: bool = False, now: datetime | None = None) -> SeedReport:
    """Seed the `support-bot` demo, or, when it exists, reset its people's passwords and issue a fresh key.

    `reset` deletes the project and the demo users first. Everything else happens in one transaction:
    a failure leaves no half-seeded project behind that a re-run would take for a finished one.
    """
    # One moment for the whole seed: a step reading the clock again could fall in the next week (a seed run across
    # midnight before a week start), and the history, the queues and the closes would then disagree on the weeks.
    now = now or timezone.now()
    if reset:
        delete_demo()
    with transaction.atomic():
        project = Project.objects.filter(slug=SLUG).first()
        created = project is None
        if project is None:
            # Queues come after the history: the team "adopted expertloop" a few weeks ago, so only
            # the last weeks are backfilled into queues (see _open_queues).
            project = create_project(spec={**project_spec(), "queues": []}, created_by=None)
            data = generate(seed=seed, now=now)
            _add_a_right_to_left_conversation(project, data, now)
            # Redaction rules before the history, so what is stored is what ingest would store.
            save_rule_set(project=project, **REDACTION_RULES)
            add_contact_details(data.outputs)
            _ingest(project, "outputs", sorted(data.outputs, key=lambda record: record["occurred_at"]))
            date_ratings_as_read(project, now)
            _ingest(project, "events", sorted(data.events, key=lambda record: record["occurred_at"]))
        credentials = _reset_people(project)
        if created:
            # The history predates the queues: it counts as routed, and only the last weeks are
            # backfilled into the queues. The post-ingest routing tasks then find nothing to do.
            project.outputs.update(routed_at=now)
            _index(project)
            slack = _set_up(project, now)
            reviews = ReviewHistory(project=project, truth=data.truth, seed=seed, now=now)
            _weekly_cycles(project, now, reviews, slack)
            lead = get_user_model().objects.get(username=LEAD_USERNAME)
            for name, query in SAVED_VIEWS:
                save_view(project=project, name=name, query=query, actor=lead)
            seed_team(support_bot=project, now=now, seed=seed)
            seed_summarizer(now=now, seed=seed)
            _platform_view(now)
            issue_the_apps_ingest_key(project=project)
            # After the history: the engineer's endpoint has been told of no past version.
            add_pipeline_endpoint(project=project, engineer=get_user_model().objects.get(username=ENGINEER_USERNAME))
            date_this_weeks_doings(project=project, now=now)
            _date_accounts_back()
            _date_items_as_routed()
        revoked = _revoke_demo_keys(project)
        issued = create_api_key(project=project, name=KEY_NAME, scopes=KEY_SCOPES, command="seed_demo")
    outputs = Output.objects.filter(project=project)
    events = UsageEvent.objects.filter(project=project)
    end_users = set(outputs.values_list("end_user_id", flat=True)) | set(events.values_list("end_user_id", flat=True))
    example = (
        outputs.filter(feedback_score=-1).order_by("-occurred_at").values_list("external_id", flat=True).first()
        or outputs.order_by("-occurred_at").values_list("external_id", flat=True).first()
    )
    return SeedReport(
        project=project,
        created=created,
        outputs=outputs.count(),
        events=events.count(),
        end_users=len(end_users),
        weeks=WEEKS,
        credentials=credentials,
        api_key=issued.secret,
        revoked_keys=revoked,
        example_external_id=example,
    )


@transaction.atomic
def delete_demo() -> None:
    """Delete the demo projects with everything in them, and the demo users (including `admin`)."""
    Project.objects.filter(slug__in=[SLUG, SQL_SLUG, SUMMARIZER_SLUG]).delete()
    get_user_model().objects.filter(username__in=[*MEMBERS, ADMIN[0]]).delete()


def _add_a_right_to_left_conversation(project: Project, data, now: datetime) -> None:
    """An Arabic conversation whose answer quotes the app in English, from the shopper of the newest output."""
    newest = max(data.outputs, key=lambda record: record["occurred_at"])
    data.outputs.append(an_arabic_conversation(project, now=now, like=newest))
    data.truth[ARABIC_ID] = "good"  # right, in the customer's language; rated down for its English lines


def _ingest(project: Project, key: str, records: list[dict[str, Any]]) -> None:
    ingest = ingest_outputs if key == "outputs" else ingest_events
    for body in _bodies(key, records):
        try:
            result = ingest(project=project, body=body)
        except BatchInvalid as exc:
            # A generator bug, not user input: say which records are wrong.
            details = "; ".join(f"#{error.index} {error.field}: {error.message}" for error in exc.errors[:5])
            raise DomainError(f"The demo generator produced invalid {key}: {details}") from exc
        if result.duplicates or result.conflicts:
            raise DomainError(f"The demo generator repeated {key} ids: {result.as_dict()}")


def _bodies(key: str, records: list[dict[str, Any]]) -> Iterator[bytes]:
    """JSON bodies `{key: [...]}` within the API's limits on records and bytes per request."""
    max_records = min(1000, settings.INGEST_MAX_RECORDS)
    head, tail = b'{"' + key.encode() + b'":[', b"]}"
    batch: list[bytes] = []
    size = len(head) + len(tail)
    for encoded in map(msgspec.json.encode, records):
        if batch and (len(batch) == max_records or size + len(encoded) + 1 > settings.INGEST_MAX_BODY_BYTES):
            yield head + b",".join(batch) + tail
            batch, size = [], len(head) + len(tail)
        batch.append(encoded)
        size += len(encoded) + 1
    if batch:
        yield head + b",".join(batch) + tail


def _index(project: Project, batch: int = 2000) -> None:
    """Make the history searchable now, in this transaction, as the routing tasks would after it (they find
    the outputs routed and only index them again)."""
    ids = list(project.outputs.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), batch):
        index_outputs(project_id=project.pk, output_ids=ids[start : start + batch])


REVIEWED_WEEKS = 3  # past weeks in queues, before this one


def _set_up(project: Project, now: datetime) -> WebhookEndpoint:
    """What the team set up when it adopted expertloop: the demo queues backfilled with the last weeks' outputs, two
    eval datasets and the team's Slack endpoint (returned: each close posts to it)."""
    since = datetime.combine(
        cycle_week(project, now) - timedelta(weeks=REVIEWED_WEEKS), datetime.min.time(), tzinfo=project.tzinfo
    )
    for spec in QUEUES:
        queue = Queue.objects.create(project=project, **{**spec, "rule": validate_rule(spec.get("rule", {}))})
        backfill_queue(queue=queue, since=since)
    for spec in DATASETS:
        create_dataset(project=project, spec=spec)
    slack = add_slack_endpoint(project=project, lead=get_user_model().objects.get(username=LEAD_USERNAME))
    # The team adopted expertloop then, not when the demo was seeded: its weeks from there on are review cycles, the
    # history before them was sent with its dates (rules.weekly_close.ended_before_the_project).
    date_back_to_adoption(project, since)
    return slack


def _weekly_cycles(project: Project, now: datetime, reviews: ReviewHistory, slack: WebhookEndpoint) -> None:
    """The reviewed weeks labeled and closed one after another (gold answers, dataset versions, metrics, frozen
    reports, posts to the team's Slack, `slack`) with rubric v2 published between two of them, what the last meeting
    decided, the queue the lead paused this week, the dataset version the lead withdrew, and live figures for
    the running week."""
    this_week = cycle_week(project, now)
    lead = get_user_model().objects.get(username=LEAD_USERNAME)
    rescaled = this_week - timedelta(weeks=RESCALED_WEEKS_AGO)
    # The weeks before v2 are labeled and closed under v1: their figures were computed on its five-point scale.
    reviews.label(before=rescaled)
    cycle = None  # the week closed last: its meeting decides what the next week's Monday carries out
    for weeks_ago in range(REVIEWED_WEEKS, 0, -1):
        week = this_week - timedelta(weeks=weeks_ago)
        if week == rescaled:
            _publish_rubric_v2(project, lead, week, decided_in=cycle, now=now)
            reviews.label()  # the weeks since, and part of this one
        cycle = close_in_its_time(project=project, week=week, closed_by=lead, now=now)
        if weeks_ago > 1:
            _settle_ties(project, week, lead)  # in that week's meeting; the last week's wait for you
        if weeks_ago == REVIEWED_WEEKS:
            confirm_a_flagged_item(project=project, week=week)  # a second look that changed nothing
    decisions = [
        cycles.add_decision(
            user=lead, cycle=cycle, text=text, owner=owner, due_date=(this_week + timedelta(days=due_in_days))
        )
        for text, owner, due_in_days in DECISIONS
    ]
    decided_in_the_meeting(decisions, closed=cycle, now=now)  # this Monday's
    pause_a_queue_with_an_item_held(project=project, this_week=this_week, now=now)
    withdraw_a_version_with_outdated_gold(project=project)
    # This week's labels are resolved on commit (after this transaction); the live figures need their gold now.
    resolve_stale_items(project_id=project.pk)
    cycles.refresh_metrics(project=project, week=this_week, now=now)
    record_slack_answers(endpoint=slack, now=now)
    _dataset_files_two_weeks_on(project, now)


def _publish_rubric_v2(project: Project, lead, week, *, decided_in: ReviewCycle | None, now: datetime) -> None:
    """Rubric v2 (helpfulness on three points), as the lead published it on the Monday morning of `week`, carrying out
    what the meeting of the week before (`decided_in`, its cycle) decided that morning: the decision, marked done
    once v2 was out, links to the audit log of that day, where v2's publishing is."""
    morning = datetime.combine(week, datetime.min.time(), tzinfo=project.tzinfo)
    decision = None
    if decided_in is not None:
        decision = cycles.add_decision(user=lead, cycle=decided_in, text=RESCALE_DECISION, owner="lead", due_date=week)
    rubric = publish_rubric(project=project, questions=QUESTIONS_V2, guidelines=GUIDELINES_V2, published_by=lead)
    published_at = morning + timedelta(hours=9)
    Rubric.objects.filter(pk=rubric.pk).update(created_at=published_at)
    AuditEvent.objects.filter(project=project, action="rubric.published", details__version=rubric.version).update(
        at=published_at
    )
    if decision is None:
        return
    cycles.mark_decision_done(user=lead, project=project, decision_id=decision.pk)
    decided_in_the_meeting([decision], closed=decided_in, now=now)
    done_at = morning + timedelta(hours=9, minutes=5)
    Decision.objects.filter(pk=decision.pk).update(done_at=done_at)
    AuditEvent.objects.filter(project=project, action="decision.done", details__decision=decision.pk).update(at=done_at)


def _dataset_files_two_weeks_on(project: Project, now: datetime) -> None:
    """The versions' Parquet and hf files as a worker renders them (here, not in the queue: with a broker the seed
    would leave them pending) and as the hourly sweep leaves them two weeks on: the oldest made again on request."""
    for version_id in DatasetVersion.objects.filter(dataset__project=project, status=VersionStatus.READY).values_list(
        "pk", flat=True
    ):
        render_version_files(version_id=version_id)
    sweep_superseded_files(now=now + timedelta(days=settings.DATASET_FILES_KEEP_DAYS + 1))


def _platform_view(now: datetime) -> None:
    """The demo projects' usage rows for the platform page's trends (the weeks before they were reviewed too), and
    their alerts as the hourly evaluation finds them: the summarizer's idle queue and missed quota, the SQL
    assistant's failed close; the lead has acknowledged the missed quota; the admin's token for a usage export."""
    projects = list(Project.objects.filter(slug__in=[SLUG, SQL_SLUG, SUMMARIZER_SLUG]))
    backfill_usage(projects=projects, weeks=TREND_WEEKS, now=now)
    for project in projects:
        evaluate_alerts(project=project, now=now)
    date_alerts_found_after_the_last_close(projects=projects, now=now)
    summarizer = next(project for project in projects if project.slug == SUMMARIZER_SLUG)
    acknowledge_the_missed_quota(project=summarizer, now=now)
    issue_the_usage_export_token(operator=get_user_model().objects.get(username=ADMIN[0]), now=now)


def _settle_ties(project: Project, week, lead) -> None:
    """The lead decides each tie of the week in its meeting, siding with the first expert who labeled the item: dated
    there, a minute apart (after the second look, `lately.SECOND_LOOK_AT`), not when the demo was seeded."""
    waiting = Resolution.objects.filter(
        item__project=project, item__week=week, status=ResolutionStatus.NEEDS_ADJUDICATION
    )
    for turn, resolution in enumerate(waiting.select_related("item").order_by("item_id")):
        first = Label.objects.filter(item=resolution.item).order_by("pk").first()
        answers = {
            key: first.answers[key]
            for key in open_ties(resolution.automatic, resolution.adjudicated)
            if key in first.answers
        }
        if answers:
            adjudicate(lead=lead, item=resolution.item, answers=answers, note="Decided in the weekly meeting.")
            decided_at = in_the_meeting(project, resolution.item, week, at=TIES_DECIDED_AT + timedelta(minutes=turn))
            Resolution.objects.filter(pk=resolution.pk).update(adjudicated_at=decided_at)
            AuditEvent.objects.filter(
                project=project, action="gold.adjudicated", details__item=resolution.item_id
            ).update(at=decided_at)


def _reset_people(project: Project) -> list[Credential]:
    """Give the demo users the printed passwords and roles again (a re-run is how you recover them)."""
    User = get_user_model()
    credentials = [Credential(username, password, role) for username, (role, password) in MEMBERS.items()]
    credentials.append(Credential(ADMIN[0], ADMIN[1], "superuser"))
    # Each hash takes most of a second by design; the hash function releases the GIL, so hash in parallel.
    with ThreadPoolExecutor(max_workers=len(credentials)) as pool:
        hashes = list(pool.map(make_password, [credential.password for credential in credentials]))
    for credential, hashed in zip(credentials, hashes, strict=True):
        user = User.objects.filter(username=credential.username).first()
        user = user or User(username=credential.username, email=f"{credential.username}@example.com")
        user.password = hashed
        user.is_active = True
        if credential.role == "superuser":
            user.is_staff = user.is_superuser = True
        user.save()
        if credential.role != "superuser":
            Membership.objects.update_or_create(user=user, project=project, defaults={"role": credential.role})
    return credentials


def _date_accounts_back() -> None:
    """Each demo user's account was made when they first joined a demo project (their memberships are dated to its
    adoption), not when the demo was seeded; `admin`'s, the operator who set the platform up, a day before the first
    team adopted it."""
    User = get_user_model()
    first_joined = Membership.objects.filter(user=OuterRef("pk")).order_by("created_at").values("created_at")[:1]
    User.objects.filter(username__in=MEMBERS).update(date_joined=Subquery(first_joined))
    first_adopted = Project.objects.filter(slug__in=[SLUG, SQL_SLUG, SUMMARIZER_SLUG]).aggregate(Min("created_at"))
    User.objects.filter(username=ADMIN[0]).update(date_joined=first_adopted["created_at__min"] - timedelta(days=1))


def _date_items_as_routed() -> None:
    """Each item was made when its output was routed into its queue, not when the demo was seeded: as it came, or, for
    an output older than its queue, by the queue's backfill when the queue was made."""
    occurred_at = Subquery(Output.objects.filter(pk=OuterRef("output_id")).values("occurred_at"))
    queue_made_at = Subquery(Queue.objects.filter(pk=OuterRef("queue_id")).values("created_at"))
    items = Item.objects.filter(project__slug__in=[SLUG, SQL_SLUG, SUMMARIZER_SLUG])
    items.update(created_at=Greatest(occurred_at, queue_made_at))


def _revoke_demo_keys(project: Project) -> int:
    """Revoke earlier demo keys: only the key printed last should work."""
    keys = list(ApiKey.objects.active().filter(project=project, name=KEY_NAME))
    for api_key in keys:
        revoke_api_key(api_key=api_key)
    return len(keys)
