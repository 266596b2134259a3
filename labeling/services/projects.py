"""Create a project with its rubric, queues and members from one specification (YAML or JSON)."""

from typing import Annotated, Any, Literal

import msgspec
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from labeling.exceptions import InvalidSpec
from labeling.models import AuditEvent, Membership, Project, Queue, Weekday
from labeling.models.projects import validate_time_zone

from .routing import validate_rule
from .rubrics import publish_rubric

Slug = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
WEEKDAYS = {label.lower(): value for value, label in Weekday.choices}


class RubricSpec(msgspec.Struct, forbid_unknown_fields=True):
    questions: list[dict[str, Any]]
    guidelines: str = ""


class QueueSpec(msgspec.Struct, forbid_unknown_fields=True):
    slug: Slug
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    description: str = ""
    rule: dict[str, Any] = {}
    sample_rate: Annotated[float, msgspec.Meta(ge=0, le=1)] = 1.0
    weekly_quota: Annotated[int, msgspec.Meta(ge=0)] | None = None
    overlap: Annotated[int, msgspec.Meta(ge=1, le=10)] = 1
    priority: int = 0
    eligible_experts: list[str] = []


class MemberSpec(msgspec.Struct, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=150)]
    role: Literal["expert", "lead", "engineer", "admin"]
    email: str = ""


class ProjectSpec(msgspec.Struct, forbid_unknown_fields=True):
    slug: Slug
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    description: str = ""
    time_zone: str = "UTC"
    cycle_weekday: str = "monday"
    # Days raw outputs are kept unless gold or in a dataset (null: forever); see services/privacy.py.
    raw_retention_days: Annotated[int, msgspec.Meta(ge=1, le=36_500)] | None = None
    rubric: RubricSpec | None = None
    queues: list[QueueSpec] = []
    members: list[MemberSpec] = []


@transaction.atomic
def create_project(*, spec: object, created_by=None) -> Project:
    """Create everything the spec describes, or nothing: a bad part anywhere rolls all of it back.

    Members that do not exist yet are created without a usable password (set one in the admin).
    """
    try:
        parsed = msgspec.convert(spec, ProjectSpec, strict=True)
    except msgspec.ValidationError as exc:
        raise InvalidSpec(f"Invalid project spec: {exc}") from None
    _check(parsed)
    try:
        with transaction.atomic():
            project = Project.objects.create(
                slug=parsed.slug,
                name=parsed.name,
                description=parsed.description,
                time_zone=parsed.time_zone,
                cycle_weekday=WEEKDAYS[parsed.cycle_weekday.lower()],
                raw_retention_days=parsed.raw_retention_days,
            )
    except IntegrityError:  # created by a concurrent call since _check looked
        raise InvalidSpec(f"Invalid project spec: a project with slug {parsed.slug!r} exists already.") from None
    users = _ensure_users(parsed.members)
    Membership.objects.bulk_create(
        [Membership(project=project, user=users[member.username], role=member.role) for member in parsed.members]
    )
    if parsed.rubric:
        publish_rubric(
            project=project,
            questions=parsed.rubric.questions,
            guidelines=parsed.rubric.guidelines,
            published_by=created_by,
        )
    for queue_spec in parsed.queues:
        queue = Queue.objects.create(
            project=project,
            slug=queue_spec.slug,
            name=queue_spec.name,
            description=queue_spec.description,
            rule=validate_rule(queue_spec.rule),
            sample_rate=queue_spec.sample_rate,
            weekly_quota=queue_spec.weekly_quota,
            overlap=queue_spec.overlap,
            priority=queue_spec.priority,
        )
        queue.eligible_experts.set([users[name] for name in queue_spec.eligible_experts])
    AuditEvent.objects.create(
        project=project, actor=created_by, action="project.created", details={"slug": project.slug}
    )
    return project


def _check(parsed: ProjectSpec) -> None:
    problems = []
    if Project.objects.filter(slug=parsed.slug).exists():
        problems.append(f"A project with slug {parsed.slug!r} exists already.")
    try:
        validate_time_zone(parsed.time_zone)
    except ValidationError as exc:
        problems += exc.messages
    if parsed.cycle_weekday.lower() not in WEEKDAYS:
        problems.append(f"cycle_weekday must be a weekday name; got {parsed.cycle_weekday!r}.")
    names = [member.username for member in parsed.members]
    problems += [f"Member {name!r} is listed twice." for name in sorted({n for n in names if names.count(n) > 1})]
    experts = {member.username for member in parsed.members if member.role == "expert"}
    slugs = [queue.slug for queue in parsed.queues]
    problems += [f"Queue slug {slug!r} is used twice." for slug in sorted({s for s in slugs if slugs.count(s) > 1})]
    for queue in parsed.queues:
        problems += [
            f"Queue {queue.slug!r}: eligible expert {name!r} is not an expert member."
            for name in queue.eligible_experts
            if name not in experts
        ]
    if problems:
        raise InvalidSpec("Invalid project spec: " + " ".join(problems), problems)


def _ensure_users(members: list[MemberSpec]) -> dict:
    User = get_user_model()
    users = {user.username: user for user in User.objects.filter(username__in=[m.username for m in members])}
    for member in members:
        if member.username not in users:
            user = User(username=member.username, email=member.email)
            user.set_unusable_password()
            user.save()
            users[member.username] = user
    return users
