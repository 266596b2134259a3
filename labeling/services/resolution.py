"""Resolve an item's gold answer from its labels; ties and items a lead marks go to adjudication.

How labels add up to the automatic answer is the gold rule (`labeling.rules.gold.resolve_answers`); this
module stores it. Recomputing is idempotent and never touches what a lead decided: adjudicated answers
win, and survive every rebuild.
"""

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import msgspec
from django.db import connection, transaction
from django.utils import timezone

from labeling.exceptions import DomainError, InvalidAnswers, NotFound
from labeling.models import (
    AuditEvent,
    Item,
    ItemStatus,
    Label,
    QuestionKind,
    Resolution,
    ResolutionStatus,
    Rubric,
    work_key,
)
from labeling.rules.access import check_can_manage
from labeling.rules.gold import (
    answers_as_asked,
    changed_by_lead,
    decisions_as_asked,
    gold_answer,
    open_ties,
    resolve_answers,
    same_answer,
)
from labeling.rules.text import check_storable
from labeling.rules.twins import audited_twin, twin_of

from . import outbox, webhook_events
from .answers import validate_answers
from .redaction import redact_answers, words_as_stored
from .routing import kept_from_deletion


def _status(resolution: Resolution) -> str:
    undecided = open_ties(resolution.automatic, resolution.adjudicated)
    waiting = resolution.marked_for_adjudication and resolution.adjudicated_at is None
    return ResolutionStatus.NEEDS_ADJUDICATION if undecided or waiting else ResolutionStatus.RESOLVED


@transaction.atomic
def resolve_item(*, item_id: int) -> Resolution | None:
    """(Re)compute the gold answer of a complete item; None while the item still needs labels."""
    # The item's output first (FOR KEY SHARE, as a flag or a placement takes it), then the item: the delivery of
    # `item.needs_adjudication` points at the output, and an erasure, which locks the outputs before it deletes their
    # items, would wait for this item while this waited for its output (a deadlock, one side aborted).
    output_id = Item.objects.filter(pk=item_id).values_list("output_id", flat=True).first()
    if output_id is None or not kept_from_deletion([output_id]):
        return None
    item = Item.objects.select_for_update().filter(pk=item_id, status=ItemStatus.COMPLETE).first()
    if item is None:
        return None
    labels = list(Label.objects.filter(item=item).select_related("rubric").order_by("pk"))
    if not labels:
        return None
    # The newest rubric version any label answered defines the questions.
    questions = max((label.rubric for label in labels), key=lambda rubric: rubric.version).questions
    resolution, created = Resolution.objects.get_or_create(item=item, defaults={"status": ResolutionStatus.RESOLVED})
    before = None if created else resolution.status
    resolution.automatic = resolve_answers(
        questions,
        [answers_as_asked(questions, label.rubric.questions, label.answers) for label in labels],
        [label.rubric.questions for label in labels],
    )
    _sort_decisions(resolution, questions, _decision_questions(item.project_id, [resolution]))
    resolution.status = _status(resolution)
    resolution.save(update_fields=["automatic", "adjudicated", "set_aside", "status", "updated_at"])
    Item.objects.filter(pk=item.pk, gold_stale=True).update(gold_stale=False)
    if _became_undecided(before, resolution.status):
        webhook_events.items_need_adjudication(project_id=item.project_id, item_ids=[item.pk], reason="tie")
    return resolution


def _decision_questions(project_id: int, resolutions: list[Resolution]) -> dict[int, list[dict]]:
    """The questions of each rubric version the resolutions' decisions were made under, by version (one query, none
    when nothing was decided)."""
    versions = {
        entry.get("rubric_version")
        for resolution in resolutions
        for entry in (*resolution.adjudicated.values(), *resolution.set_aside.values())
    } - {None}
    if not versions:
        return {}
    return dict(Rubric.objects.filter(project_id=project_id, version__in=versions).values_list("version", "questions"))


def _sort_decisions(resolution: Resolution, questions: list[dict], asked_in: dict[int, list[dict]]) -> bool:
    """Keep in `adjudicated` the lead's decisions that answer `questions` (the newest labels' version) and set the
    others aside (`rules.gold.decisions_as_asked`); True when that moved one."""
    counting, set_aside = decisions_as_asked(questions, {**resolution.set_aside, **resolution.adjudicated}, asked_in)
    if (counting, set_aside) == (resolution.adjudicated, resolution.set_aside):
        return False
    resolution.adjudicated, resolution.set_aside = counting, set_aside
    return True


def _became_undecided(before: str | None, after: str) -> bool:
    """The gold answer is a lead's to decide now and was not before: the moment `item.needs_adjudication` is."""
    return after == ResolutionStatus.NEEDS_ADJUDICATION and before != ResolutionStatus.NEEDS_ADJUDICATION


def resolve_complete_items(*, project_id: int) -> int:
    """Resolve every complete item of the project; return how many."""
    ids = Item.objects.filter(project_id=project_id, status=ItemStatus.COMPLETE).values_list("pk", flat=True)
    return sum(resolve_item(item_id=item_id) is not None for item_id in ids.iterator())


def resolve_stale_items(
    *, project_id: int, through_week: date | None = None, resolved_before_only: bool = False, chunk: int = 2000
) -> int:
    """Resolve, in bulk, the complete items up to a week (None: of every week) whose gold answer may be out of date
    (the weekly close's first step): never resolved, or a label edited since; return how many were (re)computed.
    `resolved_before_only` (a dataset build's first step): only those with a gold answer a label edit made stale.

    Same answers as `resolve_item`, without a transaction per item: at the weekly close that would be
    tens of thousands of round trips. It reads only the items marked stale (`Item.gold_stale`, a partial
    index), so its cost follows the week's changes, not the project's age.
    """
    stale = Item.objects.filter(project_id=project_id, status=ItemStatus.COMPLETE, gold_stale=True)
    if through_week is not None:
        stale = stale.filter(week__lte=through_week)
    if resolved_before_only:
        stale = stale.filter(resolution__isnull=False)
    item_ids = list(stale.order_by("pk").values_list("pk", flat=True))
    rubrics: dict[int, list[dict]] = {}
    done = 0
    for start in range(0, len(item_ids), chunk):
        done += _resolve_chunk(project_id, item_ids[start : start + chunk], rubrics)
    return done


@transaction.atomic
def _resolve_chunk(project_id: int, item_ids: list[int], rubrics: dict[int, list[dict]]) -> int:
    # When an endpoint hears of ties, their deliveries point at the outputs: the outputs are held first (as in
    # resolve_item), else an erasure deadlocks with this chunk. Else nothing here points at an output, and the close's
    # thousands of outputs are spared the lock. An endpoint made meanwhile hears of the ties found after this chunk.
    heard = webhook_events.adjudication_heard(project_id)
    if heard:
        kept_from_deletion(list(Item.objects.filter(pk__any=item_ids).values_list("output_id", flat=True)))
    # The items' row locks (in id order, as every resolve takes them) keep a label edit from landing between
    # reading the labels and clearing the flag: an edit waits, then marks the item stale again.
    item_ids = list(
        Item.objects.select_for_update()
        .filter(pk__any=item_ids, gold_stale=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    labels_by_item: dict[int, list[tuple[dict, int]]] = {}
    newest_rubric: dict[int, tuple[int, int]] = {}
    for item_id, answers, rubric_id, version in (
        Label.objects.filter(item_id__any=item_ids)
        .order_by("pk")
        .values_list("item_id", "answers", "rubric_id", "rubric__version")
    ):
        labels_by_item.setdefault(item_id, []).append((answers, rubric_id))
        if version > newest_rubric.get(item_id, (0, 0))[0]:
            newest_rubric[item_id] = (version, rubric_id)
    # Every version a label answered: an answer counts only where its version asked the question alike.
    missing = {rubric_id for labels in labels_by_item.values() for _, rubric_id in labels} - set(rubrics)
    rubrics.update(Rubric.objects.filter(pk__in=missing).values_list("pk", "questions"))
    existing = {
        resolution.item_id: resolution
        for resolution in Resolution.objects.select_for_update().filter(item_id__any=item_ids)
    }
    now = timezone.now()
    asked_in = _decision_questions(project_id, list(existing.values()))
    changed, created, undecided = [], [], []
    for item_id, labels in labels_by_item.items():
        resolution = existing.get(item_id) or Resolution(item_id=item_id)
        before = resolution.status if resolution.pk else None
        questions = rubrics[newest_rubric[item_id][1]]
        answer_sets = [answers_as_asked(questions, rubrics[rubric_id], answers) for answers, rubric_id in labels]
        resolution.automatic = resolve_answers(questions, answer_sets, [rubrics[rubric_id] for _, rubric_id in labels])
        _sort_decisions(resolution, questions, asked_in)
        resolution.status = _status(resolution)
        if _became_undecided(before, resolution.status):
            undecided.append(item_id)
        resolution.updated_at = now
        (changed if resolution.pk else created).append(resolution)
    _store(changed, created)
    Item.objects.filter(pk__any=item_ids).update(gold_stale=False)
    if undecided and heard:
        webhook_events.items_need_adjudication(project_id=project_id, item_ids=undecided, reason="tie")
    return len(changed) + len(created)


def _store(changed: list[Resolution], created: list[Resolution]) -> None:
    """Write a chunk's recomputed resolutions (their automatic answer, status and time) and its new ones.

    resolve_item locks the item row before it makes a resolution, and `_resolve_chunk` holds these items' locks: one
    made first is among `changed`, and none can appear meanwhile (so `undecided` is exact); a conflict on the item is
    ignored all the same. On PostgreSQL each kind is one statement over one JSON document of rows (one msgspec encode,
    in C): Django's bulk_update (a CASE per row and column) and bulk_create (each value adapted on its own, jsonb arrays
    by psycopg's Python dumper) were a quarter of the close's resolve step at W4's size (bench/README.md). Elsewhere,
    Django's bulk operations.
    """
    if connection.vendor != "postgresql":
        Resolution.objects.bulk_update(changed, ["automatic", "adjudicated", "set_aside", "status", "updated_at"])
        Resolution.objects.bulk_create(created, ignore_conflicts=True)
        return
    table = Resolution._meta.db_table
    with connection.cursor() as cursor:
        if changed:
            rows = [(r.pk, r.automatic, r.status, r.updated_at, r.adjudicated, r.set_aside) for r in changed]
            cursor.execute(
                f"UPDATE {table} AS stored SET automatic = r -> 1, status = r ->> 2, "
                "updated_at = (r ->> 3)::timestamptz, adjudicated = r -> 4, set_aside = r -> 5 "
                "FROM jsonb_array_elements(%s::jsonb) AS changed(r) WHERE stored.id = (r ->> 0)::bigint",
                [_rows_encoder.encode(rows).decode()],
            )
        if created:
            rows = [
                (r.item_id, r.status, r.automatic, r.adjudicated, r.marked_for_adjudication, r.adjudicated_by_id,
                 r.adjudicated_at, r.note, r.updated_at, r.set_aside)
                for r in created
            ]  # fmt: skip
            cursor.execute(
                f"INSERT INTO {table} (item_id, status, automatic, adjudicated, marked_for_adjudication, "
                "adjudicated_by_id, adjudicated_at, note, updated_at, set_aside) "
                "SELECT (r ->> 0)::bigint, r ->> 1, r -> 2, r -> 3, (r ->> 4)::boolean, (r ->> 5)::integer, "
                "(r ->> 6)::timestamptz, r ->> 7, (r ->> 8)::timestamptz, r -> 9 "
                "FROM jsonb_array_elements(%s::jsonb) AS new(r) ON CONFLICT (item_id) DO NOTHING",
                [_rows_encoder.encode(rows).decode()],
            )


_rows_encoder = msgspec.json.Encoder()  # datetimes as RFC 3339, which timestamptz reads


def enqueue_resolution(item_id: int) -> None:
    """Resolve the item in Celery once the transaction that completed it commits (through the outbox)."""
    outbox.enqueue(task="labeling.resolve_item", args=[item_id], dedupe_key=work_key("resolve_item", item_id))


@transaction.atomic
def mark_for_adjudication(*, lead, item: Item, note: str = "") -> Resolution:
    """Send an item to the adjudication list even though its labels agree; the same lead's mark posted again moments
    later, with the item still waiting and the same note, changes nothing (rules.twins)."""
    check_can_manage(lead, item.project)
    check_storable(note=note)
    # resolve_item locks the item's row until this transaction ends: a twin posted at the same instant waits, then
    # finds this mark.
    resolution = resolve_item(item_id=item.pk)
    if resolution is None:
        raise DomainError("Only an item with all its labels can be adjudicated.")
    note = _note_as_stored(item, note)
    if _marked_moments_ago(resolution, lead=lead, note=note):
        return resolution
    before = resolution.status
    resolution.marked_for_adjudication = True
    resolution.adjudicated_at = None
    if note:
        resolution.note = note
    resolution.status = _status(resolution)
    resolution.save()
    if _became_undecided(before, resolution.status):
        webhook_events.items_need_adjudication(project_id=item.project_id, item_ids=[item.pk], reason="marked")
    AuditEvent.objects.create(
        project_id=item.project_id,
        actor=lead,
        action="gold.marked_for_adjudication",
        details={"item": item.pk, "external_id": item.output.external_id},
    )
    return resolution


def _note_as_stored(item: Item, note: str) -> str:
    """A lead's note on the item, stripped, under the redaction rules in force: they quote the output as experts do.
    Read after `resolve_item` locked the item, the row a `redact_outputs` batch locks before it redacts the note."""
    return words_as_stored(item, note.strip()) if note.strip() else ""


def _marked_moments_ago(resolution: Resolution, *, lead, note: str) -> bool:
    """Whether the item waits on this lead's mark, made moments ago with this note (as stored): a twin of this one."""
    if not resolution.marked_for_adjudication or resolution.adjudicated_at is not None:
        return False
    if note and note != resolution.note:
        return False
    action, project_id = "gold.marked_for_adjudication", resolution.item.project_id
    return audited_twin(project_id=project_id, actor=lead, action=action, item=resolution.item_id) is not None


def _decided_meanwhile(lead, item: Item, resolution: Resolution, current: dict, moved: list[str]) -> dict[str, str]:
    """The questions another lead decided since the lead's page showed them (their gold moved and is a decision now:
    only a lead changes those), each with a sentence naming who and what."""
    keys = [key for key in moved if key in resolution.adjudicated]
    if not keys:
        return {}
    # Who decided each: the latest audited decision of it (`adjudicated_by` is whoever decided any question last).
    deciders: dict[str, Any] = {}
    events = AuditEvent.objects.filter(project_id=item.project_id, action="gold.adjudicated", details__item=item.pk)
    for event in events.select_related("actor").order_by("-pk"):
        for key in keys:
            if key in (event.details.get("answers") or {}):
                deciders.setdefault(key, event.actor)
        if len(deciders) == len(keys):
            break
    return {key: f"{_name(deciders.get(key), lead)} decided {_as_read(current[key])} for {key}" for key in keys}


def _name(user, lead) -> str:
    if user is None:  # not audited, or their account was deleted since
        return "Another lead"
    return "You (in another page)" if user.pk == lead.pk else (user.get_full_name() or user.username)


def _refuse_clashes(meanwhile: dict[str, str], decided: dict, kinds: dict) -> None:
    """InvalidAnswers when the lead answers otherwise a question another lead decided meanwhile: theirs stands until
    this lead, having seen it, decides again (the page shown again posts it back as shown; saving replaces it)."""
    clashes = {
        key: value
        for key, (now, value) in decided.items()
        if key in meanwhile and not same_answer(kinds[key], now, value)
    }
    if clashes:
        raise InvalidAnswers(
            {
                key: f"{meanwhile[key]} since this page was opened (you decided it too): nothing was saved. "
                f"Your {_as_read(value)} is still in the form: save again to replace it."
                for key, value in clashes.items()
            }
        )


def _as_read(value: Any) -> str:
    if isinstance(value, bool):
        value = "Yes" if value else "No"
    elif isinstance(value, list):
        value = ", ".join(str(option) for option in value) or "none"
    return f"“{value}”"


@dataclass(frozen=True)
class Adjudication:
    """What `adjudicate` recorded: the resolution, and each decided question's gold before and after (empty: the
    lead confirmed the gold as it is)."""

    resolution: Resolution
    decided: dict[str, list]
    moved: list[str] = field(default_factory=list)  # questions whose gold changed after the lead's page showed it
    # Of `moved`, those another lead decided meanwhile and this lead left as shown: who decided what (theirs stands).
    kept: dict[str, str] = field(default_factory=dict)

    @property
    def confirmed(self) -> bool:
        return not self.decided


@transaction.atomic
def adjudicate(*, lead, item: Item, answers: dict, note: str = "", shown: dict[str, Any] | None = None) -> Adjudication:
    """Record a lead's gold answers; they win over the automatic ones, and survive every recompute.

    Only what the lead decided is theirs: an answer that differs from the question's gold as the lead's page showed
    it (`shown`, question key → gold value, None for a tie or no answer), else from the current gold (or gives one to
    a question without: a tie, or no answer). An answer equal to it is left as it is: an automatic one keeps following
    the labels, an earlier decision stays. So a gold an expert's edit moved while the page was open is not taken for
    the lead's change; a question the lead did change is theirs even so (as a decision wins over any later edit), and
    `moved` names both kinds for the page to tell. When nothing differs, the lead confirms the gold as it is: the item
    leaves the adjudication list (if sent there) and the confirmation is audited, while a tie left open, or a gold
    that moved since it was shown, refuses it (InvalidAnswers): it would settle nothing, or confirm what the lead
    never saw.
    """
    check_can_manage(lead, item.project)
    check_storable(note=note)
    resolution = resolve_item(item_id=item.pk)
    if resolution is None:
        raise NotFound("No complete item to adjudicate.")
    newest = Label.objects.filter(item=item).select_related("rubric").latest("rubric__version").rubric
    questions = newest.questions
    kinds = {question["key"]: question["kind"] for question in questions}
    # An empty multi-choice answer is a decision (none of its options applies); other empty answers decide nothing.
    given = {
        key: value
        for key, value in answers.items()
        if value not in (None, "", []) or (value == [] and kinds.get(key) == QuestionKind.MULTI_CHOICE)
    }
    validate_answers([{**question, "required": False} for question in questions], given)
    if not given:
        raise InvalidAnswers({"answers": "Give the gold answer for at least one question."})
    # A correction may quote the output: stored under the redaction rules in force, as a label's answers are.
    given = redact_answers(project=item.project, questions=questions, answers=given)
    note = _note_as_stored(item, note)
    current = {key: gold_answer(resolution.automatic.get(key), resolution.adjudicated.get(key)) for key in kinds}
    repeated = _adjudicated_moments_ago(resolution, lead=lead, given=given, current=current, note=note)
    if repeated is not None:
        return repeated
    shown = {key: value for key, value in (shown or {}).items() if key in kinds}
    moved = [key for key in kinds if key in shown and shown[key] != current[key]]
    # Each decided question's gold value before and after, for the audit log.
    changed = changed_by_lead(kinds, given, {**current, **shown})
    decided = {key: [current[key], given[key]] for key in changed if key in given}
    meanwhile = _decided_meanwhile(lead, item, resolution, current, moved)
    _refuse_clashes(meanwhile, decided, kinds)
    waiting = [key for key in open_ties(resolution.automatic, resolution.adjudicated) if key not in decided]
    if not decided and waiting:
        raise InvalidAnswers({"answers": f"Nothing changed, and the item still ties on: {', '.join(waiting)}."})
    if not decided and moved:
        why = f" ({'; '.join(meanwhile.values())} since this page was opened)" if meanwhile else ""
        raise InvalidAnswers(
            {"answers": f"The gold of {', '.join(moved)} changed while you had the page open{why}: nothing was "
             "confirmed. Here it is as it is now."}
        )  # fmt: skip
    resolution.adjudicated = {
        **resolution.adjudicated,
        # The version decided under: the decision counts while the item's labels ask its question alike.
        **{
            key: {"value": value, "method": "adjudicated", "rubric_version": newest.version}
            for key, (_, value) in decided.items()
        },
    }
    resolution.set_aside = {key: entry for key, entry in resolution.set_aside.items() if key not in decided}
    resolution.adjudicated_by, resolution.adjudicated_at = lead, timezone.now()
    resolution.marked_for_adjudication = False
    resolution.note = note or resolution.note
    resolution.status = _status(resolution)
    resolution.save()
    named = {"item": item.pk, "external_id": item.output.external_id}
    AuditEvent.objects.create(
        project_id=item.project_id,
        actor=lead,
        action="gold.adjudicated" if decided else "gold.confirmed",
        details={**named, "answers": decided, "rubric_version": newest.version} if decided else named,
    )
    kept = {key: sentence for key, sentence in meanwhile.items() if key not in decided}
    return Adjudication(resolution=resolution, decided=decided, moved=moved, kept=kept)


def _adjudicated_moments_ago(
    resolution: Resolution, *, lead, given: dict, current: dict, note: str
) -> Adjudication | None:
    """What this lead's decision on the item moments ago recorded, if these answers (and note) are that decision as
    it stands: the form posted twice (rules.twins; the note compared as stored). The item's row lock (resolve_item)
    makes a twin posted at the same instant wait for the first decision, and find it."""
    if any(current.get(key) != value for key, value in given.items()):
        return None
    if note and note != resolution.note:
        return None
    if twin_of(Resolution.objects.filter(pk=resolution.pk, adjudicated_by=lead), at="adjudicated_at") is None:
        return None
    decision = audited_twin(
        project_id=resolution.item.project_id, actor=lead, action="gold.adjudicated", item=resolution.item_id
    )
    return Adjudication(resolution=resolution, decided=decision.details["answers"] if decision else {})
