"""A dataset's definition, checked whole (`create_dataset`), and asking a worker for a build (`request_build`)."""

from datetime import datetime

import msgspec
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from labeling.exceptions import InvalidSpec, NameTaken
from labeling.models import ApiKey, AuditEvent, Dataset, Project, Queue, work_key
from labeling.rules.dataset_filters import filter_problems, stored_filters
from labeling.rules.text import has_letter_or_digit, name_problem, noun, slug_for_name, slug_from_name
from labeling.rules.twins import audited_twin, fingerprint
from labeling.selectors.rubrics import question_keys

from .. import outbox
from ..queues import audit_actor

GENERATED_SLUG_PREFIX = "dataset"  # the slug of a dataset whose name has no Latin letter or digit: dataset-<n>


class DatasetSpec(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    description: str = ""
    queues: list[str] = []  # queue slugs; empty = all
    questions: list[str] = []  # question keys; empty = all
    only_resolved: bool = True
    # The list filters are unset when not given; of them, no phrase is refused (rules.listed_values).
    tags_any: list[str] | msgspec.UnsetType = msgspec.UNSET
    since: datetime | None = None
    until: datetime | None = None
    models: list[str] | msgspec.UnsetType = msgspec.UNSET
    metadata: dict[str, list[str]] = {}  # key → the values it may hold, as text
    # Phrases, one of which the answer holds (rules.answer_text, as a queue rule).
    text_any: list[str] | msgspec.UnsetType = msgspec.UNSET
    splits: dict[str, int] = msgspec.field(default_factory=lambda: {"train": 80, "test": 20})
    auto_rebuild: bool = True


@transaction.atomic
def create_dataset(*, project: Project, spec: object, actor=None, api_key: ApiKey | None = None) -> Dataset:
    """Create a dataset definition; the slug is made from the name (rules.text.slug_for_name: a-z, 0-9 and dashes,
    or `dataset-<n>` for a name with no Latin letter or digit). InvalidSpec names the field of each problem. The
    same spec asked again moments ago by the same person is the first dataset (rules.twins). `api_key`: the key that
    asked (a CI job's), kept in the audit event."""
    try:
        parsed = msgspec.convert(spec, DatasetSpec, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidSpec(f"Invalid dataset: {exc}") from None
    name = parsed.name.replace("\x00", "").strip()
    asked = fingerprint(msgspec.to_builtins(parsed))
    if not slug_from_name(name):
        # No unique slug guards a name without a Latin letter or digit (its slug is generated): creates of one follow
        # one another on the project's row lock, so the second finds the first's name taken.
        Project.objects.lock(project.pk)
    tags_any, models, text_any = (
        None if value is msgspec.UNSET else value for value in (parsed.tags_any, parsed.models, parsed.text_any)
    )
    problems = definition_problems(
        project=project,
        name=name,
        splits=parsed.splits,
        queues=parsed.queues,
        questions=parsed.questions,
        filters={
            "tags_any": tags_any,
            "models": models,
            "metadata": parsed.metadata,
            "text_any": text_any,
        },
    )
    # The name taken by this very spec posted moments ago (the dataset commits with its audit event)? Asked after the
    # checks, not before: a twin committing between the two would otherwise be refused as a name taken.
    if (
        problems
        and _name_in_use(project, name)
        and (twin := _created_twin(project, slug_from_name(name), actor, asked))
    ):
        return twin
    if len(problems) == 1 and isinstance(taken := problems[0][1], NameTakenProblem):
        # A definition that is sound but for the name: the project's state (a 409), told by the problem's kind.
        raise NameTaken(f"Invalid dataset: {taken}", [taken], ["name"])
    if problems:
        messages = [problem for _, problem in problems]
        raise InvalidSpec("Invalid dataset: " + " ".join(messages), messages, [field for field, _ in problems])
    filters = stored_filters(
        tags_any=tags_any or [],
        since=parsed.since.isoformat() if parsed.since else None,
        until=parsed.until.isoformat() if parsed.until else None,
        models=models or [],
        metadata=parsed.metadata,
        text_any=text_any,
    )
    for attempt in range(GENERATED_SLUG_ATTEMPTS):
        slug = _slug_for(project, name)
        try:
            # A savepoint: a create of the same name that committed since the check above breaks the unique slug.
            with transaction.atomic():
                dataset = Dataset.objects.create(
                    project=project,
                    slug=slug,
                    name=name[:200],
                    description=parsed.description,
                    questions=parsed.questions,
                    only_resolved=parsed.only_resolved,
                    filters=filters,
                    splits=dict(sorted(parsed.splits.items())),
                    auto_rebuild=parsed.auto_rebuild,
                )
            break
        except IntegrityError:
            if not Dataset.objects.filter(project=project, slug=slug).exists():
                raise
            if (twin := _created_twin(project, slug_from_name(name), actor, asked)) is not None:
                return twin  # the same form posted twice at the same instant: this one waited for the first
            if slug_from_name(name) or attempt == GENERATED_SLUG_ATTEMPTS - 1:
                raise NameTaken(f"Invalid dataset: {_name_taken(slug)}", [_name_taken(slug)], ["name"]) from None
            # A generated slug another create took meanwhile: the next number is free.
    queues = list(Queue.objects.filter(project=project, slug__in=parsed.queues))
    dataset.queues.set(queues)
    AuditEvent.objects.create(
        project=project,
        actor=audit_actor(actor),
        action="dataset.created",
        details={
            "dataset": dataset.pk,
            "slug": dataset.slug,
            "name": dataset.name,
            "asked_sha256": asked,
            **_by_key(api_key),
        },
    )
    return dataset


def definition_problems(
    *,
    project: Project,
    name: str | None = None,
    splits: dict[str, int] | None = None,
    queues: list[str] | None = None,
    questions: list[str] | None = None,
    filters: dict | None = None,
) -> list[tuple[str, str]]:
    """What is wrong with the parts of a definition given (None: not given, or already refused for its type), as
    (field, problem) pairs: the API names these beside the type errors of the other fields, in one 400. `filters`:
    any of tags_any, models, metadata and text_any (rules.dataset_filters)."""
    problems: list[tuple[str, str]] = []
    if name is not None:
        name = name.replace("\x00", "").strip()
        if not has_letter_or_digit(name):
            problems.append(("name", "A dataset needs a name with at least one letter or digit."))
        elif problem := name_problem(name):
            problems.append(("name", f"The name {problem}."))
        elif _name_in_use(project, name):
            problems.append(("name", _taken(name)))
    if splits is not None:
        if not splits or any(share <= 0 for share in splits.values()) or sum(splits.values()) != 100:
            problems.append(
                ("splits", "Split shares must be positive whole numbers adding up to 100, e.g. train 80, test 20.")
            )
        if any(not slugify(split) or slugify(split) != split for split in splits):
            problems.append(("splits", "Split names are lowercase letters, digits and dashes."))
    if queues:
        found = set(Queue.objects.filter(project=project, slug__in=queues).values_list("slug", flat=True))
        if missing := set(queues) - found:
            problems.append(
                ("queues", f"No such {noun(len(missing), 'queue')} in this project: {', '.join(sorted(missing))}.")
            )
    if unknown_questions := _unknown_question_keys(project, questions or []):
        problems.append(("questions", f"No such question in this project's rubric: {', '.join(unknown_questions)}."))
    return problems + filter_problems(**(filters or {}))


GENERATED_SLUG_ATTEMPTS = 3  # a generated slug taken by a create committed meanwhile: try the next number


def _slug_for(project: Project, name: str) -> str:
    generated = Dataset.objects.filter(project=project, slug__startswith=f"{GENERATED_SLUG_PREFIX}-")
    return slug_for_name(name, prefix=GENERATED_SLUG_PREFIX, taken=set(generated.values_list("slug", flat=True)))


def _name_in_use(project: Project, name: str) -> bool:
    """Whether a dataset has this name's slug, or (a name with no ASCII slug) this very name."""
    slug = slug_from_name(name)
    found = Dataset.objects.filter(project=project)
    return (found.filter(slug=slug) if slug else found.filter(name=name[:200])).exists()


def _created_twin(project: Project, slug: str, actor, asked: str) -> Dataset | None:
    """The dataset `actor` created moments ago from this very spec: the same form posted again (rules.twins).
    `slug`: the name's ASCII slug, "" for a name with none (its dataset's slug was generated)."""
    if audit_actor(actor) is None:
        return None
    same = {"slug": slug} if slug else {}
    made = audited_twin(project_id=project.pk, actor=actor, action="dataset.created", asked_sha256=asked, **same)
    if made is None:
        return None
    return Dataset.objects.filter(pk=made.details["dataset"], slug=made.details["slug"]).first()


def _unknown_question_keys(project: Project, keys: list[str]) -> list[str]:
    """The keys no version of the project's rubric has, in the order given (an older version's keys name the
    answers of rows labeled under it)."""
    if not keys:
        return []
    known = question_keys(project)
    return list(dict.fromkeys(key for key in keys if key not in known))


class NameTakenProblem(str):
    """The message of a name in use, marked as such: create_dataset tells this problem (the project's state, a 409)
    from the definition's own (a 400) by its kind, whatever its wording."""


def _taken(name: str) -> NameTakenProblem:
    """The problem of a name in use (`_name_in_use`): by its slug, or, a name with none, as typed."""
    slug = slug_from_name(name)
    if slug:
        return _name_taken(slug)
    return NameTakenProblem(f"A dataset named {name!r} exists already: give this one another name.")


def _name_taken(slug: str) -> NameTakenProblem:
    # The slug, not the name: two names can share one (case, spaces, punctuation, or the same first 64 characters).
    return NameTakenProblem(
        f"The dataset {slug!r} exists already: a name's slug (its letters and digits, lowercase, joined by dashes, "
        "64 at most) must differ from every other dataset's."
    )


@transaction.atomic
def request_build(*, dataset: Dataset, actor=None, full: bool = False, api_key: ApiKey | None = None) -> None:
    """Ask a worker to build a new version (through the outbox: sent once this transaction commits); `full`
    builds every row from scratch instead of copying the unchanged rows of the version before. `api_key`: the
    key that asked, kept in the audit event. The same person's request moments ago is this one: nothing more."""
    if _asked_moments_ago(dataset, actor=audit_actor(actor), full=full):
        return  # the button posted twice: the first request stands, its build deduplicated
    details = {"dataset": dataset.pk, "slug": dataset.slug, "name": dataset.name, **_by_key(api_key)}
    AuditEvent.objects.create(
        project_id=dataset.project_id,
        actor=audit_actor(actor),
        action="dataset.build_requested",
        details={**details, "full": True} if full else details,
    )
    Dataset.objects.filter(pk=dataset.pk).update(build_requested_at=timezone.now(), build_error="")
    outbox.enqueue(
        task="labeling.build_dataset",
        args=[dataset.pk],
        kwargs={"full": True} if full else None,
        # A full build asked while an incremental one waits is not the same work: it gets its own key.
        dedupe_key=work_key("build_dataset", dataset.pk, *(["full"] if full else [])),
    )


def _asked_moments_ago(dataset: Dataset, *, actor, full: bool) -> bool:
    """Whether this person asked for the same build moments ago (rules.twins); a key, task or command never twins."""
    if actor is None:
        return False
    # The dataset's row lock makes a twin posted at the same instant wait for the first request, and find it.
    Dataset.objects.select_for_update(no_key=True).values_list("pk", flat=True).get(pk=dataset.pk)
    same = {"dataset": dataset.pk, "full__isnull": not full}  # a full build's event alone says "full"
    twin = audited_twin(project_id=dataset.project_id, actor=actor, action="dataset.build_requested", **same)
    return twin is not None


def _by_key(api_key: ApiKey | None) -> dict[str, str]:
    return {"api_key": api_key.prefix} if api_key else {}
