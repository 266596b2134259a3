"""Place outputs into review queues: each queue's rule, deterministic sample and weekly quota.

A rule is data ({"tags_any": [...], "metadata": {...}, "text_any": [...], ...}), interpreted by `rule_matches`, never
turned into ORM keyword arguments from user strings. `rule_filter` is the same interpretation as a
SQL condition for PostgreSQL (the queue editor's preview counts with it); a test runs both on the
same outputs and requires the same answer. Sampling hashes the queue and the output, so the same output always
gets the same decision. Placement into one queue holds that queue's row lock: concurrent or retried
routing tasks are serialised per queue, which keeps a weekly quota exact (50 means 50, never 51), and
the unique (queue, output) constraint makes a repeat a no-op.
"""

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any, Literal

import msgspec
from django.db import connection, transaction
from django.db.models import (
    BinaryField,
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    JSONField,
    Min,
    OuterRef,
    Q,
    TextField,
    Value,
)
from django.db.models.functions import Cast, Collate, Concat
from django.db.models.lookups import Exact, LessThan, Regex
from django.utils import timezone

from labeling.exceptions import InvalidSpec
from labeling.models import AuditEvent, Item, Output, Project, Queue, RoutingState, Slot
from labeling.models.outputs import MetadataKey
from labeling.rules.answer_text import PhraseMatcher, phrases_problem
from labeling.rules.calendar import cycle_week, week_start
from labeling.rules.listed_values import RULE_LISTS, empty_lists
from labeling.rules.text import excerpt_around
from labeling.selectors.planner import estimated_rows

from .search_index import index_outputs

logger = logging.getLogger(__name__)

_ROUTING_FIELDS = [
    "pk", "project_id", "external_id", "occurred_at", "model", "tags", "metadata", "feedback_score", "feedback_comment",
]  # fmt: skip


def _routing_fields(rules: Iterable[dict]) -> list[str]:
    """The fields rule_matches reads for these rules: the answer, which can be long, only when one looks in it."""
    return [*_ROUTING_FIELDS, "output"] if any("text_any" in rule for rule in rules) else _ROUTING_FIELDS


class Rule(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A queue's filter. Every given condition must hold; an empty rule matches every output."""

    tags_any: list[str] | None = None
    tags_all: list[str] | None = None
    metadata: dict[str, str | int | float | bool | list[str | int | float | bool]] | None = None
    models: list[str] | None = None
    feedback_scores: list[Literal[-1, 0, 1]] | None = None
    has_comment: bool | None = None
    # Phrases, any of which the answer holds (rules.answer_text: a plain substring, in lower case).
    text_any: list[str] | None = None


def validate_rule(raw: object) -> dict:
    """Return the rule in canonical form, or raise InvalidSpec saying what is wrong."""
    try:
        rule = msgspec.convert({} if raw is None else raw, Rule, strict=True)
    except msgspec.ValidationError as exc:
        raise InvalidSpec(f"Invalid queue rule: {exc}") from None
    canonical = msgspec.to_builtins(rule)
    for name, problem in empty_lists(canonical, RULE_LISTS):  # a list of nothing (rules.listed_values)
        raise InvalidSpec(f"Invalid queue rule: {name}: {problem}")
    if rule.text_any is not None and (problem := phrases_problem(rule.text_any)):
        raise InvalidSpec(f"Invalid queue rule: text_any: {problem}")
    return canonical


def rule_matches(rule: dict, output: Output) -> bool:
    """Does the output meet every condition of the (validated) rule?"""
    return rule_matcher(rule)(output)


def rule_matcher(rule: dict) -> Callable[[Output], bool]:
    """`rule_matches` for one (validated) rule over many outputs: its phrases are lowered once, not per output."""
    phrases = PhraseMatcher(rule["text_any"]) if "text_any" in rule else None
    return partial(_meets_rule, rule, phrases)


def _meets_rule(rule: dict, phrases: PhraseMatcher | None, output: Output) -> bool:
    tags = set(output.tags or [])
    if "tags_any" in rule and not tags.intersection(rule["tags_any"]):
        return False
    if "tags_all" in rule and not tags.issuperset(rule["tags_all"]):
        return False
    if "models" in rule and output.model not in rule["models"]:
        return False
    if "feedback_scores" in rule and output.feedback_score not in rule["feedback_scores"]:
        return False
    if "has_comment" in rule and bool(output.feedback_comment) != rule["has_comment"]:
        return False
    if phrases is not None and not phrases.matches(output.output):
        return False
    metadata = output.metadata or {}
    for key, wanted in (rule.get("metadata") or {}).items():
        if key not in metadata:
            return False
        allowed = wanted if isinstance(wanted, list) else [wanted]
        # bool is an int in Python: compare types too, so {"vip": true} does not match 1.
        if not any(type(metadata[key]) is type(value) and metadata[key] == value for value in allowed):
            return False
    return True


# JSON numbers come back from jsonb as written, except exponents, which jsonb spells out in digits: an
# integer (Python int) is the text of digits alone, anything else (a point) reads as a Python float.
_INTEGER_TEXT = r"^-?[0-9]+$"


def _metadata_value_q(key: str, value: str | int | float | bool) -> Q:
    """metadata[key] equals value and is of the same JSON type, as rule_matches compares them."""
    same = Exact(MetadataKey(key), Value(value, output_field=JSONField()))
    if isinstance(value, bool) or isinstance(value, str):
        return Q(same)  # jsonb equality already tells true from 1 and "1" from 1
    integer = Regex(MetadataKey(key, as_text=True), _INTEGER_TEXT)
    return Q(same, integer) if isinstance(value, int) else Q(same) & ~Q(integer)


class _AnswerHasPhrase(Func):
    """One of the output's strings holds one of the phrases, both lowered as Python lowers them (rules.answer_text):
    ICU's root collation names the mapping, which the database's own collation would decide otherwise."""

    output_field = BooleanField()
    template = (
        "EXISTS (SELECT FROM jsonb_path_query(%(expressions)s, 'strict $.** ? (@.type() == \"string\")')"
        " AS answer(value), unnest(%(phrases)s::text[]) AS phrase(text) WHERE"
        """ strpos(lower((answer.value #>> '{}') COLLATE "und-x-icu"), lower(phrase.text COLLATE "und-x-icu")) > 0)"""
    )

    def __init__(self, phrases: list[str]):
        super().__init__(F("output"))
        self.phrases = list(phrases)

    def as_sql(self, compiler, connection, **extra):
        sql, params = super().as_sql(compiler, connection, phrases="%s", **extra)
        return sql, (*params, self.phrases)


def rule_filter(rule: dict) -> Q:
    """The (validated) rule as a filter on Output, for PostgreSQL only: it selects exactly what rule_matches accepts.

    Its SQL is PostgreSQL's own: `text_any` reads the answer's strings with `jsonb_path_query` and lowers both sides
    with the ICU root collation `und-x-icu` (Python's `str.lower`, which SQLite has no way to apply), and tags and
    metadata compare as jsonb (`@>`, `->`). So its one caller, `preview_rule`, uses it only on PostgreSQL and walks
    the same window with rule_matches in Python elsewhere."""
    nothing = Q(pk__in=[])
    condition = Q()
    if "tags_any" in rule:
        any_tag = Q()
        for tag in rule["tags_any"]:
            any_tag |= Q(tags__contains=[tag])
        condition &= any_tag if rule["tags_any"] else nothing
    if rule.get("tags_all"):
        condition &= Q(tags__contains=rule["tags_all"])
    if "models" in rule:
        condition &= Q(model__in=rule["models"])
    if "feedback_scores" in rule:
        condition &= Q(feedback_score__in=rule["feedback_scores"])
    if "has_comment" in rule:
        condition &= ~Q(feedback_comment="") if rule["has_comment"] else Q(feedback_comment="")
    if "text_any" in rule:
        condition &= Q(_AnswerHasPhrase(rule["text_any"])) if rule["text_any"] else nothing
    for key, wanted in (rule.get("metadata") or {}).items():
        allowed = Q()
        for value in wanted if isinstance(wanted, list) else [wanted]:
            allowed |= _metadata_value_q(key, value)
        condition &= allowed if allowed else nothing
    return condition


def sample_threshold(sample_rate: float) -> int:
    """How many 64-bit hash prefixes is_sampled accepts: prefix u is sampled iff u < this number."""
    low, high = 0, 2**64  # is_sampled's float comparison is monotone in u: find its cut by bisection
    while low < high:
        middle = (low + high) // 2
        if middle / 2**64 < sample_rate:
            low = middle + 1
        else:
            high = middle
    return low


def sample_filter(queue_id: int, sample_rate: float) -> Q:
    """is_sampled as a filter on Output (PostgreSQL): the same SHA-256 of "queue:output", compared in SQL."""
    if sample_rate >= 1:
        return Q()
    threshold = sample_threshold(sample_rate)
    if threshold == 0:
        return Q(pk__in=[])
    text = Concat(Value(f"{queue_id}:"), Cast(F("pk"), TextField()), output_field=TextField())
    key = Func(text, Value("UTF8"), function="convert_to", output_field=BinaryField())
    digest = Func(key, function="sha256", output_field=BinaryField())
    prefix = Func(digest, Value(1), Value(8), function="substring", output_field=BinaryField())
    hex_prefix = Func(prefix, Value("hex"), function="encode", output_field=TextField())
    # Fixed-width lowercase hex in byte order compares like the number it spells.
    return Q(LessThan(Collate(hex_prefix, "C"), Value(f"{threshold:016x}")))


def is_sampled(queue: Queue, output: Output) -> bool:
    """The same (queue, output) pair always gets the same answer."""
    if queue.sample_rate >= 1:
        return True
    digest = hashlib.sha256(f"{queue.pk}:{output.pk}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < queue.sample_rate


def route_outputs(*, project_id: int, output_ids: list[int], reevaluate: bool = False) -> int:
    """Place the outputs into every active queue whose rule they meet; return how many items were made.

    Outputs routed before are skipped unless `reevaluate` (late feedback can change which rules an
    output meets). Idempotent either way: routing again makes only what is missing. The outputs are
    (re)indexed for search first, every time: new feedback brings a comment to index.
    """
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return 0
    index_outputs(project_id=project.pk, output_ids=output_ids)
    queues = list(Queue.objects.active().filter(project=project))
    outputs = Output.objects.filter(project=project, pk__in=output_ids)
    if not reevaluate:
        outputs = outputs.unrouted()
    outputs = list(outputs.only(*_routing_fields(queue.rule for queue in queues)))
    created = 0
    for queue in queues:
        matches = rule_matcher(queue.rule)
        matching = [output for output in outputs if is_sampled(queue, output) and matches(output)]
        if matching:
            created += place_in_queue(project=project, queue_id=queue.pk, outputs=matching)
    _mark_routed([output.pk for output in outputs])
    return created


@transaction.atomic
def _mark_routed(output_ids: list[int]) -> None:
    # Locked first: an UPDATE alone locks in scan order, and two routing tasks over overlapping batches deadlocked.
    routed = Output.objects.unrouted().filter(pk__in=output_ids).locked_for_rewrite().values_list("pk", flat=True)
    Output.objects.filter(pk__in=list(routed)).update(routed_at=timezone.now())


@transaction.atomic
def place_in_queue(
    *, project: Project, queue_id: int, outputs: Iterable[Output], within_quota: bool = True, week: date | None = None
) -> int:
    """Make items (and their label slots) for outputs not in the queue yet, within each week's quota.

    `within_quota=False` places every such output: a lead's hand-picked outputs are not a sample. `week` puts
    every new item in that cycle week instead of its output's (hand-picked outputs are this week's work).
    """
    # The queue's row lock serialises placements into it: the quota count below cannot go stale. NO KEY: rows that
    # point at the queue (the week's metric rows) need not wait for a placement, which can run for seconds.
    queue = Queue.objects.select_for_update(no_key=True).get(pk=queue_id)
    if within_quota and not queue.is_active:
        # Paused (or archived) after routing or a backfill read it as active: it takes no outputs, as routing reads
        # only active queues. A lead's hand-picked outputs (within_quota False) are refused before, with a message.
        return 0
    # An erasure or the raw-retention purge may have deleted some since they were read: the rest are kept from
    # deletion until this commits (a deleter locks them first, so it waits and then deletes the new items too).
    outputs = list(outputs)
    kept = kept_from_deletion([output.pk for output in outputs])
    outputs = sorted((output for output in outputs if output.pk in kept), key=lambda o: (o.occurred_at, o.pk))
    present = set(
        Item.objects.filter(queue=queue, output__in=[output.pk for output in outputs]).values_list(
            "output_id", flat=True
        )
    )
    by_week: dict[date, list[Output]] = defaultdict(list)
    for output in outputs:
        if output.pk not in present:
            by_week[week or cycle_week(project, output.occurred_at)].append(output)
    if within_quota and queue.weekly_quota is not None and by_week:
        used = dict(
            Item.objects.filter(queue=queue, week__in=list(by_week))
            .values("week")
            .annotate(count=Count("pk"))
            .values_list("week", "count")
        )
        by_week = {week: chosen[: max(0, queue.weekly_quota - used.get(week, 0))] for week, chosen in by_week.items()}
    items = Item.objects.bulk_create(
        [
            Item(project=project, queue=queue, output=output, week=week, overlap=queue.overlap, priority=queue.priority)
            for week, chosen in by_week.items()
            for output in chosen
        ]
    )
    Slot.objects.bulk_create(
        [
            Slot(item=item, queue=queue, priority=item.priority, number=number)
            for item in items
            for number in range(1, item.overlap + 1)
        ]
    )
    return len(items)


def kept_from_deletion(output_ids: list[int]) -> set[int]:
    """Those of the outputs that still exist, locked `FOR KEY SHARE` (the lock a row pointing at them takes) until
    the transaction ends: no deleter can take them meanwhile, and one that took them first has been waited for."""
    if connection.vendor != "postgresql":
        return set(Output.objects.filter(pk__in=output_ids).values_list("pk", flat=True))  # SQLite: one writer
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {Output._meta.db_table} WHERE id = ANY(%s) ORDER BY id FOR KEY SHARE", [output_ids]
        )
        return {output_id for (output_id,) in cursor.fetchall()}


def backfill_queue(
    *, queue: Queue, since: datetime | None = None, until: datetime | None = None, chunk: int = 2000
) -> int:
    """Route the project's existing outputs (since a time, and before `until` when given) through one queue; return
    items made. An inactive queue takes none (it was switched off after its backfill was asked for): no expert is
    handed its items."""
    if not queue.is_active:
        return 0
    outputs = Output.objects.filter(project_id=queue.project_id).only(*_routing_fields([queue.rule])).order_by("pk")
    if since is not None:
        outputs = outputs.filter(occurred_at__gte=since)
    if until is not None:
        outputs = outputs.filter(occurred_at__lt=until)
    project, matches = queue.project, rule_matcher(queue.rule)
    created, batch = 0, []
    for output in outputs.iterator(chunk_size=chunk):
        if is_sampled(queue, output) and matches(output):
            batch.append(output)
        if len(batch) >= chunk:
            created += place_in_queue(project=project, queue_id=queue.pk, outputs=batch)
            batch = []
    if batch:
        created += place_in_queue(project=project, queue_id=queue.pk, outputs=batch)
    # Recorded in the database, not only in the broker: the lead's confirmation (and the audit log) reads it.
    AuditEvent.objects.create(
        project_id=queue.project_id,
        action="queue.backfilled",
        details={
            "queue": queue.pk,
            "slug": queue.slug,
            "since": since.isoformat() if since else None,
            "placed": created,
        },
    )
    return created


# The preview reads at most this many of the week's outputs (the newest), so a keystroke costs the same
# in a week of 150,000 outputs as in one of 10,000; beyond it the counts are scaled estimates.
PREVIEW_SCAN_LIMIT = 10_000
PREVIEW_EXAMPLES = 5
_EXAMPLE_FIELDS = ["pk", "external_id", "session_id", "occurred_at", "model", "tags", "output"]


class _Flag(ExpressionWrapper):
    """A condition selected as a boolean column. One that can match nothing (a sample rate of 0, a rule listing no
    tag) is FALSE: Django selects it as the integer 0, which PostgreSQL refuses as a FILTER's condition."""

    empty_result_set_value = False


def preview_rule(
    *, project: Project, rule: dict, sample_rate: float, queue_id: int = 0, week: date | None = None
) -> dict[str, Any]:
    """How many of a week's outputs (default: this week) the rule matches and would sample, and a few matches.

    Bounded: on PostgreSQL one aggregate over the week's newest PREVIEW_SCAN_LIMIT outputs (rule and
    sample in SQL), one query for examples within their time range, and, past the limit, the planner's row estimate
    for the week (`estimated` is then True and the counts are scaled). Elsewhere the same window is
    walked in Python with rule_matches.
    """
    week = week or cycle_week(project, timezone.now())
    probe = Queue(pk=queue_id, sample_rate=sample_rate)  # samples as the queue does (a new one's is drawn from 0)
    start = week_start(project, week)
    in_week = Output.objects.filter(project=project, occurred_at__gte=start, occurred_at__lt=start + timedelta(days=7))
    window = in_week.order_by("-occurred_at", "-pk")[:PREVIEW_SCAN_LIMIT]
    if connection.vendor == "postgresql":
        matches = rule_filter(rule)
        # Aggregating a sliced queryset reads FROM (the window) AS subquery: the LIMIT bounds the scan.
        sampled = matches & sample_filter(queue_id, sample_rate)
        in_queue = Exists(Item.objects.filter(queue_id=queue_id, output=OuterRef("pk")))
        counts = window.annotate(
            is_match=_Flag(matches, output_field=BooleanField()),
            is_sampled=_Flag(sampled, output_field=BooleanField()),
            is_missing=_Flag(sampled & ~Q(in_queue), output_field=BooleanField()),
        ).aggregate(
            outputs=Count("pk"),
            matched=Count("pk", filter=Q(is_match=True)),
            sampled=Count("pk", filter=Q(is_sampled=True)),
            not_in_queue=Count("pk", filter=Q(is_missing=True)),
            oldest=Min("occurred_at"),
        )
        oldest = counts.pop("oldest")
        # The newest matches within the window's time range: an index range scan of at most the window.
        examples = list(
            in_week.filter(matches, occurred_at__gte=oldest or start)
            .order_by("-occurred_at", "-pk")
            .only(*_EXAMPLE_FIELDS)[:PREVIEW_EXAMPLES]
        )
    else:
        counts, examples = _preview_in_python(window, rule, probe)
    scanned = counts["outputs"]
    estimated = scanned >= PREVIEW_SCAN_LIMIT
    if estimated:
        total = max(scanned, estimated_rows(in_week))
        counts = {name: round(value * total / scanned) for name, value in counts.items()} | {"outputs": total}
    # Each example shows why it matched (the first phrase it holds, marked) and whether the queue samples it.
    phrases = rule.get("text_any") or []
    examples = [
        {"external_id": o.external_id, "session_id": o.session_id, "occurred_at": o.occurred_at, "model": o.model,
         "tags": o.tags or [], "pieces": excerpt_around(o.output, phrases), "sampled": is_sampled(probe, o)}
        for o in examples
    ]  # fmt: skip
    # What the quota leaves this week for a backfill: the week's items already in the queue use it.
    in_queue = Item.objects.filter(queue_id=queue_id, week=week).count() if queue_id else 0
    return {**counts, "in_queue": in_queue, "estimated": estimated, "scanned": scanned, "examples": examples}


def _preview_in_python(window, rule: dict, probe: Queue) -> tuple[dict[str, int], list[Output]]:
    """The preview's counts without SQL JSON operators (SQLite, the embedded demo database)."""
    matched, sampled, total, examples = 0, [], 0, []
    matches = rule_matcher(rule)
    for output in window.only(*_ROUTING_FIELDS, *_EXAMPLE_FIELDS).iterator(chunk_size=2000):
        total += 1
        if matches(output):
            matched += 1
            if is_sampled(probe, output):
                sampled.append(output.pk)
            if len(examples) < PREVIEW_EXAMPLES:
                examples.append(output)
    in_queue = 0
    if probe.pk:  # in pieces: SQLite bounds a statement's parameters
        for at in range(0, len(sampled), 500):
            in_queue += Item.objects.filter(queue_id=probe.pk, output__in=sampled[at : at + 500]).count()
    counts = {"outputs": total, "matched": matched, "sampled": len(sampled), "not_in_queue": len(sampled) - in_queue}
    return counts, examples


def unrouted_batches(
    *, older_than_seconds: int, batch_size: int = 1000, batches_per_project: int = 10
) -> list[tuple[int, list[int]]]:
    """Outputs whose routing task was lost (broker down at commit), in batches per project, oldest first.

    Every project with such outputs gets its own share (at most `batches_per_project` batches per sweep),
    so a project with a huge or failing backlog never crowds the others out of a sweep.
    """
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    pending = Output.objects.unrouted().filter(received_at__lt=cutoff)
    batches = []
    for project_id in pending.order_by("project_id").values_list("project_id", flat=True).distinct():
        pks = list(
            pending.filter(project_id=project_id)
            .order_by("pk")
            .values_list("pk", flat=True)[: batch_size * batches_per_project]
        )
        batches += [(project_id, pks[start : start + batch_size]) for start in range(0, len(pks), batch_size)]
    return batches


def route_unrouted(*, older_than_seconds: int, now: datetime | None = None) -> int:
    """The routing sweep: route every batch of `unrouted_batches` on its own; return items made.

    A batch that fails is logged and recorded on its project's RoutingState, and the sweep goes on with the
    other batches and projects. Every other project's RoutingState records the sweep's success.
    """
    now = now or timezone.now()
    created, failed = 0, {}
    for project_id, output_ids in unrouted_batches(older_than_seconds=older_than_seconds):
        try:
            created += route_outputs(project_id=project_id, output_ids=output_ids)
        except Exception as exc:
            logger.exception("routing %d outputs of project %s failed; the sweep goes on", len(output_ids), project_id)
            failed.setdefault(project_id, f"{type(exc).__name__}: {exc}".strip()[:2000])
    _record_sweep(failed, now)
    return created


def _record_sweep(failed: dict[int, str], now: datetime) -> None:
    missing = Project.objects.filter(routing_state__isnull=True).values_list("pk", flat=True)
    RoutingState.objects.bulk_create([RoutingState(project_id=pk) for pk in missing], ignore_conflicts=True)
    RoutingState.objects.exclude(project_id__in=failed).update(
        succeeded_at=now, failed_at=None, last_error="", failures=0
    )
    for project_id, error in failed.items():
        RoutingState.objects.filter(project_id=project_id).update(
            failed_at=now, last_error=error, failures=F("failures") + 1
        )
