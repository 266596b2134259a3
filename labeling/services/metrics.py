"""Compute a week's metric rows from its items, labels and gold answers, and store them.

A week's figures are about the items of that cycle week (the week their outputs occurred in): quality
from their gold answers, agreement and per-expert figures from their labels, throughput against the
queues' quotas. Recomputing a week replaces its rows, so running it twice changes nothing.
"""

import statistics
from collections import Counter, defaultdict
from datetime import date

from django.db import transaction

from labeling.metrics.agreement import gold_agreement, question_agreement
from labeling.metrics.quality import question_quality
from labeling.models import (
    AgreementMetric,
    ExpertWeek,
    Flag,
    Item,
    Label,
    Project,
    QualityMetric,
    QueueWeek,
    Resolution,
    Rubric,
    Skip,
)
from labeling.rules.calendar import week_end
from labeling.rules.gold import (
    answers_as_asked,
    asked_as,
    gold_answers,
    is_of_kind,
    questions_asked,
    too_few_answers,
)
from labeling.selectors.metrics import queue_week_figures

# Questions whose answers can agree or disagree; text and corrections are read, not counted.
COMPARABLE_KINDS = ("binary", "rating", "choice")


@transaction.atomic
def refresh_week_metrics(*, project: Project, week: date) -> None:
    """Recompute and store the week's quality, agreement, per-expert and per-queue rows."""
    # Two recomputes at once (twin closes, a refresh during a close) would both delete and then both
    # insert the week's rows; the project row lock makes the second wait and then replace the first's.
    Project.objects.lock(project.pk)
    items = Item.objects.filter(project=project, week=week)
    label_rows = list(
        Label.objects.filter(item__project=project)
        .on_items_of_week(week)
        .values_list("item_id", "expert_id", "answers", "seconds_spent", "rubric_id", "rubric__version")
    )
    versions = list(
        Rubric.objects.filter(pk__in={row[4] for row in label_rows})
        .order_by("-version")
        .values_list("pk", "questions", "created_at")
    )
    asked = {pk: questions for pk, questions, _ in versions}
    # Figures are about the questions the week's labels were asked, each as the newest version in force during the
    # week that asked it asks it (`questions_asked`): a question a version published since, or mid-week, dropped keeps
    # the figures of the labels that answered it. A version published after the week (late labels of a leftover item
    # on it) comes after every version in force then, so it changes none of the week's figures; it adds only the
    # questions no version of the week asked. An answer (or a gold answer, resolved under the newest version its
    # item's labels answered) counts only where its version asked it alike.
    ends = week_end(project, week)
    questions = questions_asked(
        [
            *(questions for _, questions, created_at in versions if created_at < ends),
            *(questions for _, questions, created_at in versions if created_at >= ends),
        ]
    )
    labels = [
        (item_id, expert_id, answers_as_asked(questions, asked[rubric_id], answers), spent)
        for item_id, expert_id, answers, spent, rubric_id, _ in label_rows
    ]
    newest: dict[int, tuple[int, int]] = {}
    for item_id, *_, rubric_id, version in label_rows:
        if version > newest.get(item_id, (0, 0))[0]:
            newest[item_id] = (version, rubric_id)
    gold_rows = Resolution.objects.filter(item__in=items).values_list(
        "item_id", "item__queue_id", "automatic", "adjudicated"
    )
    gold = {
        item_id: (
            queue_id,
            answers_as_asked(questions, asked[newest[item_id][1]], gold_answers(automatic, adjudicated))
            if item_id in newest
            else {},
        )
        for item_id, queue_id, automatic, adjudicated in gold_rows
    }

    for model in (QualityMetric, AgreementMetric, ExpertWeek, QueueWeek):
        model.objects.filter(project=project, week=week).delete()
    QualityMetric.objects.bulk_create(_quality_rows(project, week, questions, gold))
    AgreementMetric.objects.bulk_create(_agreement_rows(project, week, questions, labels))
    ExpertWeek.objects.bulk_create(_expert_rows(project, week, questions, labels, gold, items))
    QueueWeek.objects.bulk_create(_queue_rows(project, week, items, labels))


def _quality_rows(project, week, questions, gold) -> list[QualityMetric]:
    by_queue: dict[int, list[dict]] = defaultdict(list)
    for queue_id, answers in gold.values():
        by_queue[queue_id].append(answers)
    rows = []
    for queue_id, answer_sets in sorted(by_queue.items()):
        for question in questions:
            # A gold answer resolved under a rubric version that asked the key as another kind is left out.
            values = [answers.get(question["key"]) for answers in answer_sets]
            figures = question_quality(question, [value for value in values if is_of_kind(question["kind"], value)])
            if figures is not None:
                rows.append(
                    QualityMetric(
                        project=project,
                        week=week,
                        queue_id=queue_id,
                        question=question["key"],
                        kind=question["kind"],
                        scale=asked_as(question),
                        **figures,
                    )
                )
    return rows


def _units(labels, key: str) -> dict[int, dict[int, object]]:
    units: dict[int, dict[int, object]] = defaultdict(dict)
    for item_id, expert_id, answers, _ in labels:
        if answers.get(key) is not None:
            units[item_id][expert_id] = answers[key]
    return units


def _agreement_rows(project, week, questions, labels) -> list[AgreementMetric]:
    rows = []
    for question in questions:
        if question["kind"] not in COMPARABLE_KINDS:
            continue
        figures = question_agreement(question, _units(labels, question["key"]))
        if figures is not None and figures["units"]:
            rows.append(
                AgreementMetric(project=project, week=week, question=question["key"], kind=question["kind"], **figures)
            )
    return rows


def _expert_rows(project, week, questions, labels, gold, items) -> list[ExpertWeek]:
    seconds: dict[int, list[int]] = defaultdict(list)
    for _, expert_id, _, spent in labels:
        seconds[expert_id].append(spent)
    # An expert's agreement with the gold is measured only where another expert answered the question too (alike:
    # `labels` hold the answers as asked), on the units alpha counts: with one answer the gold is that answer, or
    # a lead's decision on a question nobody else could answer (one new since the other label's rubric version).
    # The gold rule's `too_few_answers` says when one answer of several is no agreement; an item of one label, whose
    # gold is that label's own answer, has nobody to agree with either.
    labeled = Counter(item_id for item_id, *_ in labels)
    agreement: dict[int, dict] = defaultdict(dict)
    for question in questions:
        if question["kind"] not in COMPARABLE_KINDS:
            continue
        key, kind = question["key"], question["kind"]
        given = [(e, i, a[key]) for i, e, a, _ in labels if is_of_kind(kind, a.get(key))]
        answered = Counter(item_id for _, item_id, _ in given)
        shared = [
            (e, i, value)
            for e, i, value in given
            if labeled[i] > 1 and not too_few_answers(kind, answered=answered[i], labels=labeled[i])
        ]
        question_gold = {
            item_id: answers[key] for item_id, (_, answers) in gold.items() if answers.get(key) is not None
        }
        for expert_id, counts in gold_agreement(shared, question_gold).items():
            if counts["compared"]:
                agreement[expert_id][key] = counts
    skips = _count_by_expert(Skip.objects.filter(item__in=items), "expert_id")
    flags = _count_by_expert(Flag.objects.filter(item__in=items), "expert_id")
    rows = []
    for expert_id in sorted(set(seconds) | set(skips) | set(flags)):
        per_question = agreement.get(expert_id, {})
        compared = sum(c["compared"] for c in per_question.values())
        rows.append(
            ExpertWeek(
                project=project,
                week=week,
                expert_id=expert_id,
                labels=len(seconds.get(expert_id, [])),
                skips=skips.get(expert_id, 0),
                flags=flags.get(expert_id, 0),
                median_seconds=statistics.median(seconds[expert_id]) if seconds.get(expert_id) else None,
                gold_rate=sum(c["agree"] for c in per_question.values()) / compared if compared else None,
                gold_agreement=per_question,
            )
        )
    return rows


def _count_by_expert(queryset, field: str) -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    for expert_id in queryset.values_list(field, flat=True):
        counts[expert_id] += 1
    return counts


def _queue_rows(project, week, items, labels) -> list[QueueWeek]:
    # The counts are the selector's, which the dashboard reads live for the running week; only the median is added.
    # The labels are those this refresh read, which its per-expert rows and the medians count too.
    item_queue = dict(items.values_list("pk", "queue_id"))
    seconds: dict[int, list[int]] = defaultdict(list)
    for item_id, _, _, spent in labels:
        seconds[item_queue[item_id]].append(spent)
    labels_by_queue = {queue_id: len(spent) for queue_id, spent in seconds.items()}
    rows = []
    for figures in queue_week_figures(project=project, week=week, labels_by_queue=labels_by_queue):
        spent = seconds.get(figures["queue_id"])
        rows.append(
            QueueWeek(project=project, week=week, median_seconds=statistics.median(spent) if spent else None, **figures)
        )
    return rows
