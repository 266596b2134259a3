"""Save a project's redaction rules (a new version per edit), build the redactor ingest applies, and apply the rules
in force to what was stored before them (`redact_stored_outputs`: outputs, the labels, gold, flags, comments, skips,
adjudication notes and meeting decisions (text and owner) about them, the webhook deliveries about them not sent yet,
usage events, the reasons versions were withdrawn for; with `every_output`, every decision and saved view name).

Ingest calls `redactor_for(project)` once per batch: one query, the patterns compiled once, and None
when the project has no rules in force, so a project without rules pays nothing. What people write while rules are in
force (a label's free-text answers, a flag's note, a comment, a skip reason, a lead's adjudication note, a meeting's
decision and its owner, a saved view's name, a withdrawal's reason) is stored through `redact_free_text` or
`redact_answers`. What is redacted and what is not is listed in README.md ("Personal data: redaction").
"""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q

from labeling.models import (
    AuditEvent,
    Comment,
    DatasetRow,
    DatasetVersion,
    Decision,
    DeliveryStatus,
    Flag,
    Item,
    Label,
    LabelRevision,
    Output,
    Project,
    QuestionKind,
    RedactionRuleSet,
    Resolution,
    ReviewCycle,
    Rubric,
    SavedView,
    Skip,
    UsageEvent,
    VersionStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookKind,
)
from labeling.rules import redaction as engine
from labeling.rules.commands import command_details
from labeling.selectors.redaction import current_rule_set
from labeling.selectors.report import with_excerpts_of

from .search_index import index_outputs
from .webhook_events import with_texts_made_again, with_withdrawal_note

FREE_TEXT = (QuestionKind.TEXT, QuestionKind.CORRECTION)  # answers people write, which may quote the output
# The review's conversation about an item: experts and leads paste the end user's address or number from the output
# into it.
CONVERSATION = (
    (Flag, "note"),
    (Flag, "resolution_note"),
    (Comment, "body"),
    (Skip, "reason"),
    (Resolution, "note"),
)
# The audit events that copy a meeting decision's text.
DECISION_EVENTS = ("decision.added", "decision.deleted", "decision.done")
# The audit events that copy a saved view's name.
SAVED_VIEW_EVENTS = ("saved_view.created", "saved_view.renamed", "saved_view.deleted")


def redactor_for(project: Project) -> engine.Redactor | None:
    """The compiled rules in force for the project, or None when nothing is to be redacted."""
    rule_set = current_rule_set(project)
    if rule_set is None or rule_set.is_empty:
        return None
    return compiled(rule_set)


def compiled(rule_set: RedactionRuleSet) -> engine.Redactor:
    redactor = engine.compile_rules(
        builtins=rule_set.builtins, custom=rule_set.custom, phone_region=rule_set.phone_region, version=rule_set.version
    )
    redactor.timeout = settings.REDACTION_TIMEOUT_MS / 1000
    return redactor


@transaction.atomic
def save_rule_set(
    *, project: Project, builtins: list[str], custom: list[dict[str, str]], phone_region: str, actor=None
) -> RedactionRuleSet:
    """Validate the rules and store them as the next version; unchanged rules keep the current version.

    Outputs stored earlier keep the text (and version) they were stored with, unless
    `redact_stored_outputs` is asked to apply the new rules to them.
    """
    rules = engine.check_rules(builtins=builtins, custom=custom, phone_region=phone_region)
    canonical_builtins = [kind for kind in engine.BUILTINS if kind in set(builtins)]
    canonical_custom = [{"name": rule.name, "pattern": rule.pattern} for rule in rules]
    # Lock the project row: two leads saving at once get versions n+1 and n+2, not a clash.
    Project.objects.lock(project.pk)
    current = current_rule_set(project)
    if current is not None and (current.builtins, current.custom, current.phone_region) == (
        canonical_builtins,
        canonical_custom,
        phone_region,
    ):
        return current
    latest = RedactionRuleSet.objects.filter(project=project).aggregate(latest=Max("version"))["latest"] or 0
    rule_set = RedactionRuleSet.objects.create(
        project=project,
        version=latest + 1,
        builtins=canonical_builtins,
        custom=canonical_custom,
        phone_region=phone_region,
        created_by=actor,
    )
    AuditEvent.objects.create(
        project=project,
        actor=actor,
        action="redaction.rules_saved",
        details={
            "version": rule_set.version,
            "builtins": canonical_builtins,
            "custom": [rule["name"] for rule in canonical_custom],
            "phone_region": phone_region,
        },
    )
    return rule_set


def redact_free_text(redactor: engine.Redactor | None, text: str) -> str:
    """Words people wrote, with the rules applied (as they are, without rules)."""
    return redactor.redact_text(text, Counter()) if redactor is not None else text


def lock_item_for_words(item: Item) -> None:
    """Take the item's row lock before reading the rules for what a person writes about it (a flag's note, a comment,
    a skip's reason: `words_as_stored`). A `redact_outputs` batch holds it while it redacts the item's texts: a write
    waits for the batch and reads the rules in force after it, or the batch waits for the write and finds its text.
    NO KEY UPDATE: a row that only points at the item (a skip, a lease) need not wait for it."""
    Item.objects.select_for_update(no_key=True).values_list("pk", flat=True).get(pk=item.pk)


def words_as_stored(item: Item, text: str, limit: int | None = None) -> str:
    """The text with the project's redaction rules applied (an expert may paste the end user's address from the
    output), cut to `limit` (if any). Read under `lock_item_for_words` (or another lock a `redact_outputs` batch takes
    on the item first): its rules are the ones in force after any batch."""
    return redact_free_text(redactor_for(item.project), text[:limit])[:limit]


def free_text_keys(questions: list[dict]) -> frozenset[str]:
    """The keys of a rubric version's text and correction questions: other answers are the rubric's own words."""
    return frozenset(question["key"] for question in questions if question.get("kind") in FREE_TEXT)


def redact_answers(*, project: Project, questions: list[dict], answers: dict) -> dict:
    """A label's answers with the rules in force applied to its free-text ones, which may quote the output; the rules
    are read only when one of them holds text."""
    keys = free_text_keys(questions)
    if not any(isinstance(answers.get(key), str) and answers[key] for key in keys):
        return answers
    redactor = redactor_for(project)
    return answers if redactor is None else _redacted_answers(redactor, answers, keys)


def preview(*, builtins: list[str], custom: list[dict[str, str]], phone_region: str, text: str) -> dict[str, Any]:
    """What the rules (saved or not) would do to a sample: its segments and the counts per kind."""
    engine.check_rules(builtins=builtins, custom=custom, phone_region=phone_region)
    redactor = engine.compile_rules(builtins=builtins, custom=custom, phone_region=phone_region)
    redactor.timeout = settings.REDACTION_TIMEOUT_MS / 1000
    segments, counts = engine.preview_segments(redactor, text)
    return {"segments": segments, "counts": dict(sorted(counts.items())), "redacted": _joined(segments)}


def _joined(segments: list[engine.Segment]) -> str:
    return "".join(segment.placeholder or segment.text for segment in segments)


def merge_counts(metadata: dict, counts: Counter) -> dict:
    """Metadata with `redactions` holding the counts per kind (added to any counts already there)."""
    if not counts:
        return metadata
    previous = metadata.get("redactions") if isinstance(metadata.get("redactions"), dict) else {}
    merged = Counter({key: value for key, value in previous.items() if isinstance(value, int)})
    merged.update(counts)
    return {**metadata, "redactions": dict(sorted(merged.items()))}


@dataclass
class RedactionRun:
    version: int | None = None  # of the rules applied; None when the project has none in force (nothing was done)
    outputs: int = 0  # rewritten under the rules in force
    usage_events: int = 0  # whose properties changed under the rules in force
    withdrawal_reasons: int = 0  # of withdrawn dataset versions, changed under the rules in force
    reports: int = 0  # frozen weekly reports whose excerpts of them were made again
    # What people wrote about the outputs, changed under the rules in force: flag notes, comments, skip reasons
    # (experts), adjudication notes, decisions' texts and owners (leads).
    flag_notes: int = 0
    comments: int = 0
    skip_reasons: int = 0
    adjudication_notes: int = 0
    decisions: int = 0
    decision_owners: int = 0
    saved_view_names: int | None = None  # visited only with `every_output` (None: not visited)
    # Ready dataset versions ("slug/vN") holding a row of an output whose text changed: versions never change.
    versions_with_earlier_text: list[str] = field(default_factory=list)


def redact_stored_outputs(
    *, project: Project, actor=None, batch_size: int = 500, every_output: bool = False, command: str = ""
) -> RedactionRun:
    """Apply the rules in force to the project's outputs stored under older rules (or none), then to its usage events'
    properties.

    Only when asked (a lead or operator runs `manage.py redact_outputs`): the text stored earlier is what
    is redacted again, placeholders stay as they are, counts are added to the output's own. The frozen reports'
    excerpts of them are made again from the redacted text; the ready dataset versions holding a row of one whose
    text changed are named, not changed (a new build holds the redacted text). Each batch is
    its own transaction, so a long run holds no lock for long and a rerun picks up where it stopped.

    `every_output`: visit the outputs redacted under these rules already too, for what was written about them before
    writes applied the rules (labels, flags, comments; a text redacted already comes out the same), and every decision
    of the project's meetings, those about no item too, and every saved view's name (told apart by a number when two
    come out the same).
    """
    redactor = redactor_for(project)
    if redactor is None:
        return RedactionRun()
    run, reports, versions = RedactionRun(version=redactor.version), set(), set()
    free_text = _free_text_questions(project)
    try:
        last_pk = 0
        stale = Q() if every_output else Q(redaction_version__isnull=True) | Q(redaction_version__lt=redactor.version)
        while True:
            redactor.budget = [engine.SLOW_SECONDS_PER_BATCH]  # each batch gets the time an ingest batch gets
            with transaction.atomic():
                outputs = list(
                    Output.objects.filter(stale, project=project, pk__gt=last_pk)
                    .locked_for_rewrite()
                    .only(
                        "pk",
                        "external_id",
                        "input",
                        "output",
                        "context",
                        "metadata",
                        "feedback_comment",
                        "redaction_version",
                    )[:batch_size]
                )
                if not outputs:
                    break
                changed = []
                for output in outputs:
                    counts: Counter = Counter()
                    output.input = redactor.redact_value(output.input, counts)
                    output.output = redactor.redact_value(output.output, counts)
                    output.context = redactor.redact_value(output.context, counts)
                    metadata = redactor.redact_value(output.metadata, counts)
                    output.feedback_comment = redactor.redact_text(output.feedback_comment, counts)
                    output.metadata = merge_counts(metadata, counts)
                    output.redaction_version = redactor.version
                    if counts:
                        changed.append(output.external_id)
                fields = ["input", "output", "context", "metadata", "feedback_comment", "redaction_version"]
                Output.objects.bulk_update(outputs, fields, batch_size=batch_size)
                # What experts and leads wrote about them quotes them too; it goes into datasets.
                reviewed, conversation = _redact_reviews(redactor, outputs, free_text)
                changed += [output.external_id for output in outputs if output.pk in reviewed]
                _redact_adjudications(redactor, project, outputs, free_text)
                texts, owners = _redact_decisions_about(redactor, project, outputs)
                reports |= _redact_report_excerpts(redactor, project, outputs)
                _redact_pending_deliveries(redactor, project, outputs)
                versions |= _versions_holding(project, changed)
                # The search must not find what was just removed.
                index_outputs(project_id=project.pk, output_ids=[output.pk for output in outputs])
            run.outputs += len(outputs)
            run.flag_notes += conversation[Flag]
            run.comments += conversation[Comment]
            run.skip_reasons += conversation[Skip]
            run.adjudication_notes += conversation[Resolution]
            run.decisions, run.decision_owners = run.decisions + texts, run.decision_owners + owners
            last_pk = outputs[-1].pk
        for changed_events in _redact_stored_events(project, redactor, batch_size):
            run.usage_events += changed_events  # counted batch by batch: a run stopped later audits what it did
        run.withdrawal_reasons = _redact_withdrawal_reasons(project, redactor)
        if every_output:
            texts, owners = _redact_every_decision(project, redactor)
            run.decisions, run.decision_owners = run.decisions + texts, run.decision_owners + owners
            run.saved_view_names = _redact_saved_view_names(project, redactor)
        _redact_pending_withdrawals(project, redactor)
    finally:
        # Audited even when a later batch fails: the batches already rewritten are on record.
        run.reports, run.versions_with_earlier_text = len(reports), sorted(versions)
        AuditEvent.objects.create(
            project=project,
            actor=actor,
            action="redaction.outputs_redacted",
            details={
                **command_details(command),
                "version": redactor.version,
                "outputs": run.outputs,
                "usage_events": run.usage_events,
                "withdrawal_reasons": run.withdrawal_reasons,
                "reports": run.reports,
                "flag_notes": run.flag_notes,
                "comments": run.comments,
                "skip_reasons": run.skip_reasons,
                "adjudication_notes": run.adjudication_notes,
                "decisions": run.decisions,
                "decision_owners": run.decision_owners,
                "saved_view_names": run.saved_view_names,
                "versions_with_earlier_text": run.versions_with_earlier_text,
            },
        )
    return run


def _free_text_questions(project: Project) -> dict[int, frozenset[str]]:
    """The keys of the text and correction questions of each of the project's rubric versions, by the version's id.
    Other answers are the rubric's own words (a choice's options), never the output's."""
    return {
        pk: free_text_keys(questions)
        for pk, questions in Rubric.objects.filter(project=project).values_list("pk", "questions")
    }


def _redact_reviews(
    redactor: engine.Redactor, outputs: list[Output], free_text: dict[int, frozenset[str]]
) -> tuple[set[int], Counter]:
    """Apply the rules to the free-text answers about these outputs (their labels, the answers an edit replaced, the
    gold: experts' texts and a lead's correction), which often quote them; return the ids of the outputs whose
    answers changed, and how many rows of each CONVERSATION model changed. The flags' notes, comments, skip reasons
    and a lead's adjudication note about them are redacted too (`_redact_conversation`), but are in no dataset.

    The items are locked first, in id order, as every writer of an item's labels and gold locks them (`submit_label`,
    `resolve_item`, `adjudicate`): an edit waits for this batch and is not overwritten by it.
    """
    output_of = dict(
        Item.objects.filter(output_id__in=[output.pk for output in outputs])
        .select_for_update()
        .order_by("pk")
        .values_list("pk", "output_id")
    )
    if not output_of:
        return set(), Counter()
    rewritten_by_model = _redact_conversation(redactor, list(output_of))
    changed_items: set[int] = set()
    labels = list(
        Label.objects.filter(item_id__in=output_of).order_by("pk").only("pk", "item_id", "rubric_id", "answers")
    )
    item_of_label = {label.pk: label.item_id for label in labels}
    revisions = list(
        LabelRevision.objects.filter(label_id__in=item_of_label)
        .order_by("pk")
        .only("pk", "label_id", "rubric_id", "answers")
    )
    for model, rows, item_of in (
        (Label, labels, lambda label: label.item_id),
        (LabelRevision, revisions, lambda revision: item_of_label[revision.label_id]),
    ):
        rewritten = []
        for row in rows:
            answers = _redacted_answers(redactor, row.answers, free_text.get(row.rubric_id, frozenset()))
            if answers != row.answers:
                row.answers = answers
                rewritten.append(row)
                changed_items.add(item_of(row))
        # Not `updated_at`: an answer redacted is not the expert's edit (`labeled_at`); the output's new redaction
        # version tells a dataset build that the row changed.
        model.objects.bulk_update(rewritten, ["answers"], batch_size=500)
    every_free_text = _any_version(free_text)
    rewritten = []
    for resolution in (
        Resolution.objects.filter(item_id__in=output_of)
        .order_by("pk")
        .only("pk", "item_id", "automatic", "adjudicated", "set_aside")
    ):
        # A decision set aside (its question asked anew) is kept, so it is redacted as the others are.
        gold = ("automatic", "adjudicated", "set_aside")
        redacted = [_redacted_gold(redactor, getattr(resolution, name), every_free_text) for name in gold]
        if redacted != [getattr(resolution, name) for name in gold]:
            for name, value in zip(gold, redacted, strict=True):
                setattr(resolution, name, value)
            rewritten.append(resolution)
            changed_items.add(resolution.item_id)
    Resolution.objects.bulk_update(rewritten, ["automatic", "adjudicated", "set_aside"], batch_size=500)
    return {output_of[item_id] for item_id in changed_items}, rewritten_by_model


def _redact_conversation(redactor: engine.Redactor, item_ids: list[int]) -> Counter:
    """Apply the rules to the flags' notes, comments, skip reasons and adjudication notes about these items (their caps
    kept: a placeholder may be longer than what it replaces); return how many rows of each model changed."""
    rewritten_by_model: Counter = Counter()
    for model, name in CONVERSATION:
        limit = model._meta.get_field(name).max_length
        rows = model.objects.filter(item_id__in=item_ids).exclude(**{name: ""}).order_by("pk").only("pk", name)
        rewritten = []
        for row in rows:
            text = redact_free_text(redactor, getattr(row, name))[:limit]
            if text != getattr(row, name):
                setattr(row, name, text)
                rewritten.append(row)
        model.objects.bulk_update(rewritten, [name], batch_size=500)
        rewritten_by_model[model] += len(rewritten)  # += : a flag has two texts
    return rewritten_by_model


def _any_version(free_text: dict[int, frozenset[str]]) -> frozenset[str]:
    """The keys of the questions that are free text in some rubric version (gold and the audit log name no version)."""
    return frozenset().union(*free_text.values())


def _redact_adjudications(
    redactor: engine.Redactor, project: Project, outputs: list[Output], free_text: dict[int, frozenset[str]]
) -> None:
    """Apply the rules to the free-text gold before and after that the audit events of a lead's adjudication of these
    outputs quote (`{"answers": {question: [before, after]}}`): the log keeps who decided what and when, not the
    personal data the decision quoted.

    Read here, after `_redact_reviews` locked the outputs' items, not once when the run starts: an adjudication holds
    its item until its event is committed, so one made while the run goes on is read too."""
    events = AuditEvent.objects.filter(
        project=project,
        action="gold.adjudicated",
        details__external_id__in=[output.external_id for output in outputs],
    )
    keys = _any_version(free_text)
    rewritten = []
    for event in events.select_for_update().order_by("pk").only("pk", "details"):
        answers = event.details.get("answers") if isinstance(event.details, dict) else None
        if not isinstance(answers, dict):
            continue
        redacted = {
            key: [redactor.redact_value(value, Counter()) for value in pair]
            if key in keys and isinstance(pair, list)
            else pair
            for key, pair in answers.items()
        }
        if redacted != answers:
            event.details = {**event.details, "answers": redacted}
            rewritten.append(event)
    AuditEvent.objects.bulk_update(rewritten, ["details"], batch_size=500)


def _redact_decisions_about(redactor: engine.Redactor, project: Project, outputs: list[Output]) -> tuple[int, int]:
    """Apply the rules to the text and owner of the meeting decisions about these outputs' items, where a lead may
    quote the output (or name the owner by an address), and to the audit events that copy them (a deleted decision's
    too); return how many texts and owners changed.

    Read here, after `_redact_reviews` locked the items: `add_decision` writes a decision about an item under the
    item's lock, so one made while the run goes on is waited for and read too."""
    item_ids = list(Item.objects.filter(output_id__in=[output.pk for output in outputs]).values_list("pk", flat=True))
    if not item_ids:
        return 0, 0
    decisions = Decision.objects.filter(item_id__in=item_ids)
    events = AuditEvent.objects.filter(project=project, action__in=DECISION_EVENTS, details__item__in=item_ids)
    return _redact_decisions(redactor, project, decisions, events)


@transaction.atomic
def _redact_every_decision(project: Project, redactor: engine.Redactor) -> tuple[int, int]:
    """Apply the rules to the text and owner of every decision of the project's meetings, those about no item too (or
    whose item was erased since), and to the audit events that copy them; return how many texts and owners changed. A
    meeting records a handful a week: `--all` reads them all, and a text redacted already comes out the same.

    The project's weeks are locked first, in id order: `add_decision` writes under its week's lock, so one written
    meanwhile is waited for and read too."""
    list(
        ReviewCycle.objects.filter(project=project)
        .select_for_update(no_key=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    decisions = Decision.objects.filter(cycle__project=project)
    events = AuditEvent.objects.filter(project=project, action__in=DECISION_EVENTS)
    return _redact_decisions(redactor, project, decisions, events)


def _redact_decisions(redactor: engine.Redactor, project: Project, decisions, events) -> tuple[int, int]:
    """The decisions' texts and owners (their caps kept: a placeholder may be longer than what it replaces) and the
    events' and frozen reports' copies of them, redacted; return how many decisions' texts and owners changed."""
    limits = {name: Decision._meta.get_field(name).max_length for name in ("text", "owner")}
    rewritten, changed = [], Counter()
    for decision in decisions.select_for_update(of=("self",)).order_by("pk").only("pk", *limits):
        redacted = {name: redact_free_text(redactor, getattr(decision, name))[:limit] for name, limit in limits.items()}
        differing = [name for name, value in redacted.items() if value != getattr(decision, name)]
        if differing:
            for name in differing:
                setattr(decision, name, redacted[name])
            changed.update(differing)
            rewritten.append(decision)
    Decision.objects.bulk_update(rewritten, list(limits), batch_size=500)
    _redact_event_copies(redactor, events, limits)
    _redact_carried_copies(project, {decision.pk: decision for decision in rewritten})
    return changed["text"], changed["owner"]


def _redact_carried_copies(project: Project, redacted: dict[int, Decision]) -> None:
    """The copies of these redacted decisions that frozen weekly reports carry (`carried_decisions`, as they stood at
    each close), given their redacted text and owner; the rest of each report stays as frozen."""
    if not redacted:
        return
    for cycle in ReviewCycle.objects.filter(project=project).exclude(report={}).locked_newest_first():
        carried = cycle.report.get("carried_decisions") if isinstance(cycle.report, dict) else None
        named = [isinstance(entry, dict) and entry.get("id") in redacted for entry in carried or ()]
        if not isinstance(carried, list) or not any(named):
            continue
        entries = [
            entry | {"text": redacted[entry["id"]].text, "owner": redacted[entry["id"]].owner} if is_named else entry
            for entry, is_named in zip(carried, named, strict=True)
        ]
        ReviewCycle.objects.filter(pk=cycle.pk).update(report={**cycle.report, "carried_decisions": entries})


def _redact_event_copies(redactor: engine.Redactor, events, limits: dict[str, int]) -> None:
    """The audit events' copies of a row's texts (`details[key]`, cut to `limits[key]` as the row's), redacted."""
    scrubbed = []
    for event in events.select_for_update().order_by("pk").only("pk", "details"):
        if not isinstance(event.details, dict):
            continue
        details = {
            key: redact_free_text(redactor, value)[: limits[key]] if key in limits and isinstance(value, str) else value
            for key, value in event.details.items()
        }
        if details != event.details:
            event.details = details
            scrubbed.append(event)
    AuditEvent.objects.bulk_update(scrubbed, ["details"], batch_size=500)


@transaction.atomic
def _redact_saved_view_names(project: Project, redactor: engine.Redactor) -> int:
    """Apply the rules to the names of the project's saved views, where a lead may name the end user a view is about
    ("complaints from bob@example.com"), and to the audit events that copy them; return how many names changed.

    Names are unique per project: a name that comes out as another's (two addresses, one placeholder) gets the first
    free number, "… (2)", as no name taken so far or being changed now can be. The project's row is locked first, as
    `save_view` takes it before it reads the rules and the names: a view saved meanwhile is waited for and read too.
    A project keeps a handful of views: `--all` reads them all, and a name redacted already comes out the same."""
    Project.objects.lock(project.pk)
    limit = SavedView._meta.get_field("name").max_length
    views = list(
        SavedView.objects.filter(project=project).select_for_update(of=("self",)).order_by("pk").only("pk", "name")
    )
    taken = {view.name for view in views}
    rewritten = []
    for view in views:
        name = redact_free_text(redactor, view.name)[:limit]
        if name != view.name:
            view.name = _free_name(name, taken, limit)
            taken.add(view.name)
            rewritten.append(view)
    # No name is ever held twice, not even for a moment: each new name was free of the old names too.
    SavedView.objects.bulk_update(rewritten, ["name"], batch_size=500)
    # A view's events name it as it is now stored, its number included; a deleted view's name is redacted alone.
    renamed = {view.pk: view.name for view in rewritten}
    scrubbed = []
    events = AuditEvent.objects.filter(project=project, action__in=SAVED_VIEW_EVENTS).select_for_update()
    for event in events.order_by("pk").only("pk", "details"):
        name = event.details.get("name") if isinstance(event.details, dict) else None
        if not isinstance(name, str):
            continue
        stored = renamed.get(event.details.get("view")) or redact_free_text(redactor, name)[:limit]
        if stored != name:
            event.details = {**event.details, "name": stored}
            scrubbed.append(event)
    AuditEvent.objects.bulk_update(scrubbed, ["details"], batch_size=500)
    return len(rewritten)


def _free_name(name: str, taken: set[str], limit: int) -> str:
    """`name`, or the first "name (n)" not taken, cut to `limit` characters."""
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        suffix = f" ({number})"
        candidate = name[: limit - len(suffix)] + suffix
    return candidate


def _redacted_answers(redactor: engine.Redactor, answers: Any, keys: frozenset[str]) -> Any:
    if not isinstance(answers, dict):
        return answers
    return {key: redactor.redact_value(value, Counter()) if key in keys else value for key, value in answers.items()}


def _redacted_gold(redactor: engine.Redactor, entries: Any, keys: frozenset[str]) -> Any:
    """Gold entries ({key: {"value": …, "method": …}}) with the values of the free-text questions redacted."""
    if not isinstance(entries, dict):
        return entries
    return {
        key: {**entry, "value": redactor.redact_value(entry.get("value"), Counter())}
        if key in keys and isinstance(entry, dict) and "value" in entry
        else entry
        for key, entry in entries.items()
    }


def _redact_stored_events(project: Project, redactor: engine.Redactor, batch_size: int) -> Iterator[int]:
    """Apply the rules to the properties of the project's usage events not done under this version yet (ingest
    redacted them with the rules of their day), a batch per transaction; yield how many each batch changed.

    Events without properties (none sent, or emptied by the raw-retention purge) are not read. Batches walk the
    events by time from the last one done, through the partial index of those with properties (as the purge does):
    a batch is stamped with the version, so the next one no longer finds it, and no batch reads the project's events
    from the start again. The rows are locked: the purge emptying them meanwhile waits, and is not undone by a write
    of their earlier properties.
    """
    stale = Q(redaction_version__isnull=True) | Q(redaction_version__lt=redactor.version)
    pending = UsageEvent.objects.filter(stale, project=project).exclude(properties={})
    since = None
    while True:
        redactor.budget = [engine.SLOW_SECONDS_PER_BATCH]
        with transaction.atomic():
            batch = pending if since is None else pending.filter(occurred_at__gte=since)
            events = list(
                batch.select_for_update(no_key=True)
                .order_by("occurred_at", "pk")
                .only("pk", "occurred_at", "properties")[:batch_size]
            )
            if not events:
                return
            changed = []
            for event in events:
                properties = redactor.redact_value(event.properties, Counter())
                if properties != event.properties:
                    event.properties = properties
                    changed.append(event)
            UsageEvent.objects.bulk_update(changed, ["properties"], batch_size=batch_size)
            UsageEvent.objects.filter(pk__in=[event.pk for event in events]).update(redaction_version=redactor.version)
        since = events[-1].occurred_at
        yield len(changed)


@transaction.atomic
def _redact_withdrawal_reasons(project: Project, redactor: engine.Redactor) -> int:
    """Apply the rules to the reasons the project's dataset versions were withdrawn for, where a lead may quote what
    was wrong ("contains jane@example.com"): on the version (the dataset page, every 410 answer) and in the audit
    event `dataset.version_withdrawn`; return how many versions' reasons changed. A project withdraws few versions, so
    each run reads them all: a reason redacted already comes out the same. An erasure's note names nobody."""
    versions = (
        DatasetVersion.objects.select_for_update(of=("self",))
        .filter(dataset__project=project, status=VersionStatus.WITHDRAWN)
        .exclude(withdrawn_note="")
        .order_by("pk")
        .only("pk", "withdrawn_note")
    )
    rewritten = []
    for version in versions:
        note = redact_free_text(redactor, version.withdrawn_note)
        if note != version.withdrawn_note:
            version.withdrawn_note = note
            rewritten.append(version)
    DatasetVersion.objects.bulk_update(rewritten, ["withdrawn_note"], batch_size=500)
    events = AuditEvent.objects.filter(project=project, action="dataset.version_withdrawn")
    scrubbed = []
    for event in events.select_for_update().order_by("pk").only("pk", "details"):
        reason = event.details.get("reason") if isinstance(event.details, dict) else None
        redacted = redact_free_text(redactor, reason) if isinstance(reason, str) else reason
        if redacted != reason:
            event.details = {**event.details, "reason": redacted}
            scrubbed.append(event)
    AuditEvent.objects.bulk_update(scrubbed, ["details"], batch_size=500)
    return len(rewritten)


@transaction.atomic
def _redact_pending_withdrawals(project: Project, redactor: engine.Redactor) -> None:
    """Apply the rules to the reason in the project's `dataset.version_withdrawn` deliveries not sent yet (pending,
    retrying against a failing endpoint): it goes to every standard endpoint, with the texts or not. Each attempt
    signs the body it reads, and the `webhook-id` stays the message's; sent and failed deliveries keep their body.

    The endpoints are locked first, in id order, then the deliveries, as in `_redact_pending_deliveries` (see why
    there). Most runs find none pending and lock nothing."""
    deliveries = WebhookDelivery.objects.filter(
        endpoint__project=project,
        endpoint__kind=WebhookKind.STANDARD,
        event=WebhookEvent.DATASET_VERSION_WITHDRAWN,
        status=DeliveryStatus.PENDING,
    )
    if not deliveries.exists():
        return
    list(
        WebhookEndpoint.objects.filter(project=project, kind=WebhookKind.STANDARD)
        .select_for_update(no_key=True, of=("self",))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    rewritten = []
    note = partial(redact_free_text, redactor)
    for delivery in deliveries.select_for_update(of=("self",)).order_by("pk").only("pk", "body"):
        body = with_withdrawal_note(delivery.body, note=note)
        if body != delivery.body:
            delivery.body = body
            rewritten.append(delivery)
    WebhookDelivery.objects.bulk_update(rewritten, ["body"], batch_size=500)


def _redact_pending_deliveries(redactor: engine.Redactor, project: Project, outputs: list[Output]) -> None:
    """Make the texts of the deliveries about these outputs not sent yet (pending, retrying against a failing
    endpoint) again: the transcript from their redacted texts, the flag's note redacted (it goes out with the texts
    because it may quote them). Each attempt signs the body it reads, and the `webhook-id` stays the message's.

    Sent and failed deliveries keep their body, the exact JSON sent. The rows are locked: a worker's claim waits for
    this batch, then reads the new body.

    The project's endpoints that take texts are locked first, in id order, as a worker recording an attempt takes its
    endpoint before its delivery: a worker disabling an endpoint fails all its pending deliveries, and would wait for
    one locked here while this waited for the one it holds (a deadlock, one side aborted)."""
    list(
        WebhookEndpoint.objects.filter(project=project, include_transcripts=True, kind=WebhookKind.STANDARD)
        .select_for_update(no_key=True, of=("self",))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    by_pk = {output.pk: output for output in outputs}
    pending = (
        WebhookDelivery.objects.select_for_update(of=("self",))
        .filter(
            output_id__in=by_pk,
            status=DeliveryStatus.PENDING,
            endpoint__include_transcripts=True,
            endpoint__kind=WebhookKind.STANDARD,
        )
        .order_by("pk")
        .only("pk", "output_id", "body")
    )
    rewritten = []
    for delivery in pending:
        note = partial(redact_free_text, redactor)
        body = with_texts_made_again(delivery.body, by_pk[delivery.output_id], note=note)
        if body != delivery.body:
            delivery.body = body
            rewritten.append(delivery)
    WebhookDelivery.objects.bulk_update(rewritten, ["body"], batch_size=500)


def _versions_holding(project: Project, external_ids: list[str]) -> set[str]:
    """The project's ready dataset versions ("slug/vN") with a row of one of these outputs."""
    if not external_ids:
        return set()
    rows = DatasetRow.objects.filter(version=OuterRef("pk"), external_id__in=external_ids)
    versions = DatasetVersion.objects.filter(dataset__project=project, status=VersionStatus.READY).filter(Exists(rows))
    return {f"{slug}/v{number}" for slug, number in versions.values_list("dataset__slug", "number")}


def _redact_report_excerpts(redactor: engine.Redactor, project: Project, outputs: list[Output]) -> set[int]:
    """Make the excerpts of these outputs in the frozen weekly reports again from their redacted text (flagged and
    tied items, failure-theme examples), and apply the rules to the flag notes and comments quoted with them, so a
    report no longer quotes what was just removed; return those reports' cycle ids."""
    values = {output.pk: output.output for output in outputs}
    by_item = {
        pk: values[output_id]
        for pk, output_id in Item.objects.filter(output_id__in=values).values_list("pk", "output_id")
    }
    by_output = {output.external_id: output.output for output in outputs}
    rewritten = set()
    for cycle in ReviewCycle.objects.filter(project=project).exclude(report={}).locked_newest_first():
        words = partial(redact_free_text, redactor)
        report = with_excerpts_of(cycle.report, by_item=by_item, by_output=by_output, words=words)
        if report != cycle.report:
            ReviewCycle.objects.filter(pk=cycle.pk).update(report=report)
            rewritten.add(cycle.pk)
    return rewritten
