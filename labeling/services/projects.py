"""Create a project with its rubric, queues and members from one specification (YAML or JSON, or the
new-project page), and change a project's settings (the lead's settings page)."""

from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from labeling.exceptions import InvalidInput, InvalidSpec
from labeling.models import (
    AuditEvent,
    Item,
    Membership,
    Project,
    Queue,
    ReviewCycle,
    Role,
    Rubric,
    Weekday,
    week_label,
)
from labeling.models.projects import validate_time_zone
from labeling.rules.access import check_can_copy_project
from labeling.rules.calendar import current_week
from labeling.rules.commands import command_details
from labeling.rules.edits import PROJECT_SETTING_NAMES, lead_changes, setting_name, setting_value_as_read
from labeling.rules.emails import normalize_email, valid_email
from labeling.rules.retention_reference import format_reference, parse_reference, reference_problems
from labeling.rules.text import name_problem, slug_for_name, text_problem
from labeling.rules.twins import TWIN_WINDOW, audited_twin, fingerprint
from labeling.selectors.invitations import account_exists_for_email

from .advisory_locks import hold_project_lock
from .routing import validate_rule
from .rubrics import publish_rubric

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
SLUG_RULE = "Expected a slug: 1–64 lowercase letters, digits and hyphens, starting with a letter or digit"
Slug = Annotated[str, msgspec.Meta(pattern=SLUG_PATTERN)]
WEEKDAYS = {label.lower(): value for value, label in Weekday.choices}
NAME_MAX = 200
DESCRIPTION_MAX = 5000
RETENTION_DAYS_MAX = 36_500
GENERATED_SLUG_PREFIX = "project"  # the slug of a project whose name has no Latin letter or digit: project-<n>
_GENERATED_SLUG_LOCK_SPACE = 0x454C_5047 << 32  # "ELPG": creates of projects with a generated slug, one at a time


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
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_MAX)]
    description: str = ""
    time_zone: str = "UTC"
    cycle_weekday: str = "monday"
    # Days raw outputs are kept unless gold or in a dataset (null: forever); see services/privacy.py.
    raw_retention_days: Annotated[int, msgspec.Meta(ge=1, le=RETENTION_DAYS_MAX)] | None = None
    # The retention a lead expects, as text ("week 1: 40%, week 4: 25%"), and where it comes from.
    retention_reference: str = ""
    retention_reference_source: str = ""
    rubric: RubricSpec | None = None
    queues: list[QueueSpec] = []
    members: list[MemberSpec] = []


def slug_for_new_project(name: str) -> str:
    """The slug of a new project named `name` when none is typed (rules.text.slug_for_name): the name's Latin letters
    and digits, or `project-<n>` for a name with none, the smallest n free now (create_project takes the one free
    when it creates: `slug_generated`)."""
    taken = Project.objects.filter(slug__startswith=f"{GENERATED_SLUG_PREFIX}-").values_list("slug", flat=True)
    return slug_for_name(name.strip(), prefix=GENERATED_SLUG_PREFIX, taken=set(taken))


@transaction.atomic
def create_project(*, spec: object, created_by=None, command: str = "", slug_generated: bool = False) -> Project:
    """Create everything the spec describes, or nothing: a bad part anywhere rolls all of it back.

    The creator (`created_by`) becomes the project's lead, unless the spec lists them with a role of its own.
    Members that do not exist yet are created without a usable password: they choose one through the password
    reset mail (their email must be in the spec), or sign in through single sign-on. `command`: the management
    command creating it, when no person does (named in the audit log). `slug_generated`: the spec's slug is
    `project-<n>`, made for a name without Latin letters (`slug_for_new_project`), not typed: the project gets the
    number free when it is created, unless it is the one this very spec made moments ago.
    """
    parsed = _parse(spec)
    if slug_generated:
        # Generated slugs have no name to tell two projects apart (two teams' "Отзывы"): their creates follow one
        # another, so each finds the one before committed, as its twin (the same form posted again) or as taken.
        hold_project_lock(_GENERATED_SLUG_LOCK_SPACE, 0)  # no project yet: the space's own key
        if (twin := _generated_twin(parsed, created_by)) is not None:
            return twin
        parsed = msgspec.structs.replace(parsed, slug=slug_for_new_project(parsed.name))
    asked = fingerprint(msgspec.to_builtins(parsed))
    problems = _problems(parsed)
    # The slug taken by this very form posted moments ago (the project commits with its audit event)?
    if "slug" in problems and (twin := _created_twin(parsed.slug, asked, created_by)) is not None:
        return twin
    if problems:
        flat = [problem for messages in problems.values() for problem in messages]
        raise InvalidSpec("Invalid project spec: " + " ".join(flat), flat)
    try:
        with transaction.atomic():
            project = Project.objects.create(
                slug=parsed.slug,
                name=parsed.name,
                description=parsed.description,
                time_zone=parsed.time_zone,
                cycle_weekday=WEEKDAYS[parsed.cycle_weekday.lower()],
                raw_retention_days=parsed.raw_retention_days,
                retention_reference=parse_reference(parsed.retention_reference),
                retention_reference_source=parsed.retention_reference_source.strip(),
            )
    except IntegrityError:  # created by a concurrent call since _problems looked
        if (twin := _created_twin(parsed.slug, asked, created_by)) is not None:
            return twin  # the same form posted twice at the same instant: this one waited for the first
        taken = f"A project with slug {parsed.slug!r} exists already."
        raise InvalidSpec(f"Invalid project spec: {taken}", [taken]) from None
    users = _ensure_users(parsed.members)
    memberships = [
        Membership(project=project, user=users[member.username], role=member.role) for member in parsed.members
    ]
    if created_by is not None and created_by.get_username() not in users:
        memberships.append(Membership(project=project, user=created_by, role=Role.LEAD))
    Membership.objects.bulk_create(memberships)
    # Logged before what the project is made with: at one moment, the log (time, then id) tells the creation first.
    AuditEvent.objects.create(
        project=project,
        actor=created_by,
        action="project.created",
        details={"slug": project.slug, "asked_sha256": asked, **command_details(command)},
    )
    if parsed.rubric:
        publish_rubric(
            project=project,
            questions=parsed.rubric.questions,
            guidelines=parsed.rubric.guidelines,
            published_by=created_by,
            command=command,
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
    return project


def _saved_twin(project: Project, changed_by, *, shown: dict | None, after: dict) -> dict[str, dict[str, Any]]:
    """The changes this lead saved moments ago from the same page (`shown`) to the same values (`after`): the same
    form posted again, answered as the first was (rules.twins). Empty for any other save that changes nothing."""
    event = audited_twin(project_id=project.pk, actor=changed_by, action="project.settings_changed") if shown else None
    changes = event.details["changes"] if event is not None else {}
    same = all(shown.get(key) == change["before"] and after[key] == change["after"] for key, change in changes.items())
    return changes if same else {}


def _generated_twin(parsed: ProjectSpec, created_by) -> Project | None:
    """The project `created_by` made moments ago from this very spec under a generated slug: the same form posted
    again. Its fingerprint holds the slug it got, so each such project of the name is asked in turn."""
    if created_by is None:
        return None
    made = AuditEvent.objects.filter(
        actor=created_by,
        action="project.created",
        project__name=parsed.name,
        details__slug__startswith=f"{GENERATED_SLUG_PREFIX}-",
        at__gt=timezone.now() - TWIN_WINDOW,
    ).select_related("project")
    for event in made.order_by("-at"):
        same = msgspec.structs.replace(parsed, slug=event.details["slug"])
        if event.details.get("asked_sha256") == fingerprint(msgspec.to_builtins(same)):
            return event.project
    return None


def _created_twin(slug: str, asked: str, created_by) -> Project | None:
    """The project `created_by` made moments ago from this very spec: the same form posted again (rules.twins)."""
    project = Project.objects.filter(slug=slug).first() if created_by is not None else None
    if project is None:
        return None
    made = audited_twin(project_id=project.pk, actor=created_by, action="project.created", asked_sha256=asked)
    return project if made is not None else None


@transaction.atomic
def copy_project(*, source_slug: str, spec: dict, created_by, slug_generated: bool = False) -> Project:
    """Create the project `spec` describes with the rubric and queues of the project `source_slug` names.

    Copied: the source's current rubric version (questions and guidelines, as the new project's version 1) and
    the settings of each active queue (rule, sample, quota, overlap, priority). Nothing else: not the queues'
    eligible experts, nor items, labels, outputs, members, keys or datasets. The creator must lead or administer
    the source (or operate every project): otherwise NotFound, and nothing is created.
    """
    source = check_can_copy_project(created_by, source_slug)
    rubric = Rubric.objects.current_for(source)
    queues = Queue.objects.active().filter(project=source).order_by("-priority", "slug")
    copied = {
        "rubric": {"questions": rubric.questions, "guidelines": rubric.guidelines} if rubric else None,
        "queues": [
            {
                "slug": queue.slug,
                "name": queue.name,
                "description": queue.description,
                "rule": queue.rule,
                "sample_rate": queue.sample_rate,
                "weekly_quota": queue.weekly_quota,
                "overlap": queue.overlap,
                "priority": queue.priority,
            }
            for queue in queues
        ],
    }
    return create_project(spec={**spec, **copied}, created_by=created_by, slug_generated=slug_generated)


def spec_problems(spec: object, *, created_by=None) -> dict[str, list[str]]:
    """What is wrong with a project spec, by field (`spec` for its shape); empty when it may be created.

    The new-project form asks first, to show each problem beside its field; create_project asks again. A slug that
    `created_by` took moments ago is left to create_project, which tells the same form posted again (the first
    project) from another (taken).
    """
    try:
        parsed = _parse(spec)
    except InvalidSpec as exc:
        return {"spec": [exc.message]}
    problems = _problems(parsed)
    taken = Project.objects.filter(slug=parsed.slug).first() if created_by is not None and "slug" in problems else None
    if taken and audited_twin(project_id=taken.pk, actor=created_by, action="project.created"):
        del problems["slug"]
    return problems


def _parse(spec: object) -> ProjectSpec:
    try:
        return msgspec.convert(spec, ProjectSpec, strict=True)
    except msgspec.ValidationError as exc:
        # Said as the new-project form says it, not as the pattern (a slug is the one field with one).
        message = str(exc).replace(f"Expected `str` matching regex {SLUG_PATTERN!r}", SLUG_RULE)
        raise InvalidSpec(f"Invalid project spec: {message}") from None


def _problems(parsed: ProjectSpec) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        problems.setdefault(name, []).append(message)

    problems.update(_described_problems(parsed.name, parsed.description, parsed.time_zone))
    problems.update(reference_problems(parsed.retention_reference, parsed.retention_reference_source))
    if Project.objects.filter(slug=parsed.slug).exists():
        add("slug", f"A project with slug {parsed.slug!r} exists already.")
    if parsed.cycle_weekday.lower() not in WEEKDAYS:
        add("cycle_weekday", f"cycle_weekday must be a weekday name; got {parsed.cycle_weekday!r}.")
    names = [member.username for member in parsed.members]
    for name in sorted({n for n in names if names.count(n) > 1}):
        add("members", f"Member {name!r} is listed twice.")
    experts = {member.username for member in parsed.members if member.role == "expert"}
    slugs = [queue.slug for queue in parsed.queues]
    for slug in sorted({s for s in slugs if slugs.count(s) > 1}):
        add("queues", f"Queue slug {slug!r} is used twice.")
    for queue in parsed.queues:
        for name in queue.eligible_experts:
            if name not in experts:
                add("queues", f"Queue {queue.slug!r}: eligible expert {name!r} is not an expert member.")
    for message in _new_account_problems(parsed.members):
        add("members", message)
    return problems


def _new_account_problems(members: list[MemberSpec]) -> list[str]:
    """The accounts the spec creates must be usable, as an invitation's are: a valid username that no account has in
    another case, and an email address no other account has (single sign-on refuses an address two accounts share,
    and password reset mails go to it). Accounts that exist already are taken as they are."""
    User = get_user_model()
    usernames = [member.username for member in members]
    existing = set(User.objects.filter(username__in=usernames).values_list("username", flat=True))
    problems, emails = [], []
    for member in (member for member in members if member.username not in existing):
        who = f"Member {member.username!r}:"
        try:
            User(username=member.username).clean_fields(
                exclude=[field.name for field in User._meta.fields if field.name != "username"]
            )
        except ValidationError as exc:
            problems += [f"{who} {message}" for message in exc.messages]
        if other := User.objects.filter(username__iexact=member.username).first():
            problems.append(f"{who} the username {other.username!r} differs only in case; list it or choose another.")
        if not member.email.strip():
            continue
        try:
            email = valid_email(member.email)
        except InvalidInput:
            problems.append(f"{who} {member.email!r} is not an email address.")
            continue
        if account_exists_for_email(email) or email in emails:
            problems.append(f"{who} {email} is the email of another account: list that account, or give another.")
        emails.append(email)
    return problems


def _described_problems(name: str | None, description: str | None, time_zone: str) -> dict[str, list[str]]:
    """The rules a project's name, description and time zone follow, whether it is created or its settings change."""
    problems: dict[str, list[str]] = {}
    name, description = name or "", description or ""
    if not name.strip():
        problems["name"] = ["A project needs a name."]
    elif len(name) > NAME_MAX:
        problems["name"] = [f"Use at most {NAME_MAX} characters."]
    if len(description) > DESCRIPTION_MAX:
        problems["description"] = [f"Use at most {DESCRIPTION_MAX:,} characters."]
    for field, text, problem_of in (("name", name, name_problem), ("description", description, text_problem)):
        if field not in problems and (problem := problem_of(text)):
            problems[field] = [f"The {field} {problem}."]
    try:
        validate_time_zone(time_zone)
    except ValidationError as exc:
        problems["time_zone"] = exc.messages
    return problems


def _ensure_users(members: list[MemberSpec]) -> dict:
    User = get_user_model()
    users = {user.username: user for user in User.objects.filter(username__in=[m.username for m in members])}
    for member in members:
        if member.username not in users:
            user = User(username=member.username, email=normalize_email(member.email))
            user.set_unusable_password()
            user.save()
            users[member.username] = user
    return users


@dataclass(frozen=True)
class ProjectSettings:
    """What a lead may change on the settings page. The slug is not here: URLs and API clients name it."""

    name: str
    description: str
    time_zone: str
    cycle_weekday: int
    experts_can_explore: bool
    raw_retention_days: int | None
    # The curve as text (see rules/retention_reference.py); the project stores its points.
    retention_reference: str
    retention_reference_source: str


def settings_of(project: Project) -> ProjectSettings:
    values = {name.name: getattr(project, name.name) for name in fields(ProjectSettings)}
    return ProjectSettings(**{**values, "retention_reference": format_reference(project.retention_reference)})


def _stored(name: str, value: Any) -> Any:
    """A setting's value as the project stores it (the reference's text as its points)."""
    return parse_reference(value) if name == "retention_reference" else value


def _setting_changed_to(name: str, value: Any) -> str:
    """“Someone else changed the time zone to “Europe/Berlin””: a clash as the lead reads it."""
    shown = setting_value_as_read(name, value)
    return f"Someone else changed the {setting_name(PROJECT_SETTING_NAMES, name)} to {shown}"


def settings_problems(
    *, project: Project, values: ProjectSettings, now: datetime | None = None
) -> dict[str, list[str]]:
    """What keeps the values from being saved, by field; empty when they may be.

    A calendar change (time zone, week start) applies to the running week and later ones; it is refused when it
    would put the weeks already counted out of step (see _calendar_problems).
    """
    problems = _described_problems(values.name, values.description, values.time_zone)
    if values.cycle_weekday not in Weekday.values:
        problems["cycle_weekday"] = ["Choose a day of the week."]
    days = values.raw_retention_days
    if days is not None and (
        isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= RETENTION_DAYS_MAX
    ):
        problems["raw_retention_days"] = [f"Keep raw outputs 1 to {RETENTION_DAYS_MAX:,} days, or leave it empty."]
    problems.update(reference_problems(values.retention_reference, values.retention_reference_source))
    if "time_zone" not in problems and "cycle_weekday" not in problems:
        problems.update(_calendar_problems(project, values, now or timezone.now()))
    return problems


def _weeks_counted(project: Project) -> bool:
    """Whether weeks are counted yet: an output is queued or a week has a cycle (beat closes empty weeks too)."""
    return Item.objects.filter(project=project).exists() or ReviewCycle.objects.filter(project=project).exists()


def week_start_fixed(project: Project) -> str:
    """Why the project's week start can no longer change, in words for the settings page; "" while it may."""
    if not _weeks_counted(project):
        return ""
    day = Weekday(project.cycle_weekday).label
    return (
        f"Fixed: this project's queued items, quotas and weekly reports are counted in weeks that start on {day}, "
        "and weeks starting on another day would overlap them."
    )


def _calendar_problems(project: Project, values: ProjectSettings, now: datetime) -> dict[str, list[str]]:
    """Refuse a calendar change that would put the weeks already counted out of step.

    Items, weekly quotas, cycles and reports are keyed by the date their week starts on. A new week start day
    gives every week a new first day: once outputs sit in queues or a week has a cycle, the running week's items
    and quotas would be orphaned and the new weeks would overlap the closed ones, so the day may change only until
    then. A new time zone keeps the weeks' dates and shifts their bounds by hours: harmless, except within those
    hours of a week's start or end, when "now" would fall into another week (a closed one, or one not begun) —
    refused then.
    """
    day_changes = values.cycle_weekday != project.cycle_weekday
    zone_changes = values.time_zone != project.time_zone
    if not (day_changes or zone_changes):
        return {}
    counted = _weeks_counted(project)
    if day_changes:
        if counted:
            old_day = Weekday(project.cycle_weekday).label
            return {
                "cycle_weekday": [
                    f"The week start can no longer change: this project's queued items, quotas and weekly reports "
                    f"are counted in weeks that start on {old_day}, and weeks starting on another day would "
                    f"overlap them. Keep {old_day}."
                ]
            }
        return {}  # nothing is counted in weeks yet; the time zone moves with it
    proposed = Project(time_zone=values.time_zone, cycle_weekday=values.cycle_weekday)
    running, moved_to = current_week(project, now), current_week(proposed, now)
    if running != moved_to and counted:
        local = timezone.localtime(now, proposed.tzinfo)
        return {
            "time_zone": [
                f"Not now: it is {local:%A %H:%M} in {values.time_zone}, so the change would move the running "
                f"cycle week from {week_label(running)} to {week_label(moved_to)}. Change the time zone a few "
                "hours later, when the week has begun in both zones."
            ]
        }
    return {}


@transaction.atomic
def update_project_settings(
    *, project: Project, values: ProjectSettings, changed_by, now: datetime | None = None, shown: dict | None = None
) -> dict[str, dict[str, Any]]:
    """Save a lead's settings and audit `project.settings_changed` with the before and after of each changed field.

    Returns those changes (empty: nothing changed, nothing audited; the same save posted again moments ago by the same
    lead returns the first one's, rules.twins). Raises InvalidSpec with every problem.
    `shown`: the settings the lead's page showed (asdict of settings_of). Only the fields the lead changed are saved
    (another lead's save meanwhile stays); EditConflict, nothing saved, when one of them was changed since by
    someone else. None: every field is replaced.
    """
    # The project's lock makes two leads' saves (and their before/after) follow one another; no ingest waits for it.
    locked = Project.objects.lock(project.pk)
    if locked is None:
        raise Project.DoesNotExist
    if shown is not None:
        current = asdict(settings_of(locked))
        changed = lead_changes(
            submitted=asdict(values), shown=shown, current=current, label=_setting_changed_to, noun="settings"
        )
        values = replace(values, **{name: current[name] for name in current if name not in changed})
    problems = settings_problems(project=locked, values=values, now=now)
    if problems:
        flat = [problem for messages in problems.values() for problem in messages]
        raise InvalidSpec("The settings were not saved: " + " ".join(flat), flat)
    before = asdict(settings_of(locked))
    # The reference as the project will show it: "Week 4: 25 %; week 1: 40%" saved again is no change.
    after = {
        **asdict(values),
        "retention_reference": format_reference(parse_reference(values.retention_reference)),
        "retention_reference_source": values.retention_reference_source.strip(),
    }
    changes = {name: {"before": before[name], "after": after[name]} for name in after if before[name] != after[name]}
    if not changes:
        return _saved_twin(locked, changed_by, shown=shown, after=after)
    for name, change in changes.items():
        setattr(locked, name, _stored(name, change["after"]))
        setattr(project, name, _stored(name, change["after"]))
    locked.save(update_fields=list(changes))
    AuditEvent.objects.create(
        project=locked, actor=changed_by, action="project.settings_changed", details={"changes": changes}
    )
    return changes
