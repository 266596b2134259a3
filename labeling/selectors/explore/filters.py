"""A filter of the explore page or the outputs API turned into SQL (`filter_outputs`), and the search's condition."""

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib.postgres.search import SearchQuery
from django.db import connection
from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform, KeyTransform, KeyTransformExact
from django.db.models.functions import Cast, Concat
from django.db.models.lookups import Exact, IContains

from labeling.exceptions import InvalidFilter, InvalidWeek
from labeling.metrics.agreement import categories_for
from labeling.models import (
    FailureTheme,
    FailureThemeOutput,
    Flag,
    Item,
    Label,
    Output,
    Project,
    QuestionKind,
    Queue,
    Resolution,
    UsageEvent,
)
from labeling.models.outputs import MetadataKey
from labeling.rules.calendar import day_start, week_from_label
from labeling.rules.explore import (
    ExploreFilter,
    blind_problems,
    metadata_text,
    parse_filter,
    read_verdict,
    reads_as_verdict,
    search_groups,
    verdict_word,
)
from labeling.rules.gold import verdict_question

from ..rubrics import lazy_verdict_key, questions_of, rating_scales, verdict_keys


def read_filter(params, project: Project, *, blind: bool = False, ignore: Iterable[str] = ()) -> ExploreFilter:
    """The filter in `params` as the readers of a hand-typed filter take it (the explore page, its facets, export and
    actions, `GET /api/v1/outputs`; saved views and datasets read the canonical queries those wrote): a gold answer
    without its question is refused with the project's verdict question named (`gold=fail` → "did you mean
    gold=correct:fail?"), and a reader who labels blind (`blind`: an expert) may not filter by a gold answer or a
    failure theme. InvalidFilter says what is wrong."""
    spec = parse_filter(params, ignore=ignore, verdict_key=None if blind else lazy_verdict_key(project))
    problems = blind_problems(spec) if blind else {}
    if problems:
        raise InvalidFilter(problems)
    return spec


SEARCH_CONFIGURATION = "expertloop_search"  # migration 0014; services.search_index fills the vectors
_ID_LIKE = re.compile(r"^[\w#./:@-]*\d[\w#./:@-]*$")
_GOLD_KINDS = (QuestionKind.BINARY, QuestionKind.CHOICE, QuestionKind.RATING)


def filter_outputs(project: Project, spec: ExploreFilter, *, verdicts: "Verdicts | None" = None) -> QuerySet[Output]:
    """The project's outputs that meet every condition of the filter (unordered). InvalidFilter for a queue or
    gold question the project does not have. `verdicts`: the filter's `verdict_questions`, when the caller read them
    (a page reads them once for its filter, badges and chips)."""
    outputs = Output.objects.filter(project=project)
    if spec.q:
        outputs = outputs.filter(search_condition(spec.q))
    if spec.since:
        outputs = outputs.filter(occurred_at__gte=day_start(project, spec.since))
    if spec.until:
        outputs = outputs.filter(occurred_at__lt=day_start(project, spec.until + timedelta(days=1)))
    if spec.models:
        outputs = outputs.filter(model__in=spec.models)
    if spec.tags:
        outputs = outputs.filter(_tags_condition(spec.tags, every=spec.all_tags))
    for key, values in spec.metadata:
        outputs = outputs.filter(_metadata_text_in(key, values))
    for key in spec.metadata_keys:
        outputs = outputs.filter(metadata__has_key=key)
    if spec.end_user:
        outputs = outputs.filter(end_user_id=spec.end_user)
    if spec.session:
        outputs = outputs.filter(session_id=spec.session)
    if spec.events:
        outputs = outputs.filter(_had_event(project, spec, names=spec.events))
    if spec.has_event is not None:
        had = _had_event(project, spec)
        outputs = outputs.filter(had) if spec.has_event else outputs.exclude(had)
    if spec.feedback:
        scores = [score for score in spec.feedback if score is not None]
        condition = Q(feedback_score__in=scores)
        if None in spec.feedback:
            condition |= Q(feedback_score__isnull=True)
        outputs = outputs.filter(condition)
    if spec.has_comment is not None:
        outputs = outputs.exclude(feedback_comment="") if spec.has_comment else outputs.filter(feedback_comment="")
    if spec.labeled is not None:
        labeled = Exists(Label.objects.filter(item__output=OuterRef("pk")))
        outputs = outputs.filter(labeled if spec.labeled else ~labeled)
    if spec.disagree is not None:
        disagreed, compared = _experts_disagreed(project)
        # `no` is "the experts agreed", not "no disagreement": an output no two experts answered on one item (never
        # labeled, or by one expert) has no agreement either way, as it is no unit of the agreement figure.
        outputs = outputs.filter(disagreed) if spec.disagree else outputs.filter(compared).exclude(disagreed)
    if spec.flagged is not None:
        flagged = Exists(Flag.objects.filter(item__output=OuterRef("pk")))
        outputs = outputs.filter(flagged if spec.flagged else ~flagged)
    if spec.queues:
        queue_ids = _queue_ids(project, spec.queues)
        outputs = outputs.filter(Exists(Item.objects.filter(output=OuterRef("pk"), queue_id__in=queue_ids)))
    if spec.gold:
        for condition in _gold_conditions(project, spec.gold, verdicts or verdict_questions(project, spec)):
            outputs = outputs.filter(condition)
    if spec.min_chars is not None:
        outputs = outputs.filter(output_chars__gte=spec.min_chars)
    if spec.max_chars is not None:
        outputs = outputs.filter(output_chars__lte=spec.max_chars)
    if spec.theme:
        members = FailureThemeOutput.objects.filter(theme_id=_theme_id(project, spec.theme))
        outputs = outputs.filter(pk__in=members.values("output_id"))
    return outputs


NOTHING_TO_SEARCH = "Nothing to search for: words as common as “the” or “don't”, and punctuation, are not indexed."


def search_condition(q: str) -> Q:
    """The search words as a condition on Output (see the module's docstring). InvalidFilter when the words are
    all too common to be indexed ("the", "don't"), so the person learns why nothing matched."""
    word = q.strip()
    # One word may be an id: an output's, a session's or an end user's (each an index lookup).
    ids = Q(external_id=word) | Q(session_id=word) | Q(end_user_id=word) if " " not in word else Q(pk__in=[])
    if connection.vendor == "postgresql":
        _check_searchable(q)
        condition = Q(search_vector=tsquery(q))
        if _ID_LIKE.match(word):
            # The parser splits "ORD-1234" into parts that other texts share: ask for the exact string too. Left out
            # ("-ORD-1234"), the outputs left out are those the word alone would find.
            excluded = word.startswith("-") and len(word) > 1
            term = word[1:] if excluded else word
            found = Q(search_vector=tsquery(term)) & Q(IContains(_searched_text(), term))
            condition = ~found if excluded else found
        return condition | ids
    groups = search_groups(q)
    if not groups:  # '""' or "OR" alone: refused as PostgreSQL refuses them
        raise InvalidFilter({"q": NOTHING_TO_SEARCH})
    condition = Q()
    for number, group in enumerate(groups):
        every = Q()
        for term, excluded in group:
            # SQLite keeps JSON as text with non-ASCII letters and quotes escaped ("Z\u00fcrich"): look for the
            # term written the same way there, and as typed in the comment.
            escaped = json.dumps(term)[1:-1]
            found = Q(output__icontains=escaped) | Q(input__icontains=escaped) | Q(context__icontains=escaped)
            found |= Q(feedback_comment__icontains=term)
            every &= ~found if excluded else found
        condition = every if number == 0 else condition | every
    return condition | ids


def _check_searchable(q: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT numnode(websearch_to_tsquery(%s::regconfig, %s))", [SEARCH_CONFIGURATION, q])
        if cursor.fetchone()[0] == 0:
            raise InvalidFilter({"q": NOTHING_TO_SEARCH})


def tsquery(q: str) -> SearchQuery:
    return SearchQuery(q, config=SEARCH_CONFIGURATION, search_type="websearch")


def _searched_text() -> Concat:
    text = [
        Cast("output", TextField()),
        Cast("input", TextField()),
        F("feedback_comment"),
        Cast("context", TextField()),
    ]
    return Concat(*(piece for part in text for piece in (part, Value(" "))), output_field=TextField())


def substring_terms(q: str) -> list[tuple[str, bool]]:
    """The SQLite fallback's terms, every group's (`rules.explore.search_groups`), in order: what a result marks."""
    return [term for group in search_groups(q) for term in group]


def _tags_condition(tags: Iterable[str], *, every: bool) -> Q:
    if connection.vendor == "postgresql":
        if every:
            return Q(tags__contains=list(tags))
        condition = Q()
        for tag in tags:
            condition |= Q(tags__contains=[tag])
        return condition
    # SQLite has no JSON containment: ask json_each for the tag.
    has = [RawSQL("EXISTS (SELECT 1 FROM json_each(labeling_output.tags) WHERE value = %s)", [tag]) for tag in tags]
    condition = Q()
    for test in has:
        condition = condition & Q(Exact(test, True)) if every else condition | Q(Exact(test, True))
    return condition


def _metadata_text_in(key: str, values: Iterable[str]) -> Q:
    """metadata[key], read as text (a number as its digits, true as "true"), is one of the values."""
    values = list(values)
    if connection.vendor != "postgresql":
        # SQLite: json_each names the key as a key (a JSON path would read "0" as an array index), and its
        # `type` spells booleans out as PostgreSQL's ->> does. A real is read as its JSON text (-> by the key's
        # path: CAST gives 15 digits and its own exponent, "1.0e+16"), which Python wrote ("1e-07"): it is compared
        # with the JSON text of the floats whose digits (metadata_text, PostgreSQL's reading) are a value.
        reals = [text for value in values if (text := _float_json_text(value)) is not None]
        real = "CAST(value AS TEXT)"
        if connection.Database.sqlite_version_info >= (3, 38):  # -> came in 3.38 (Django takes 3.37)
            real = f"COALESCE(labeling_output.metadata -> fullkey, {real})"
        sql = (
            "EXISTS (SELECT 1 FROM json_each(labeling_output.metadata) WHERE key = %s AND CASE type "
            f"WHEN 'real' THEN {real} IN ({', '.join(['%s'] * len(reals)) or 'NULL'}) "
            "WHEN 'true' THEN 'true' IN ({0}) WHEN 'false' THEN 'false' IN ({0}) "
            "ELSE CAST(value AS TEXT) IN ({0}) END)"
        ).replace("{0}", ", ".join(["%s"] * len(values)))
        return Q(Exact(RawSQL(sql, [key, *reals, *values, *values, *values]), True))
    text = MetadataKey(key, as_text=True)
    condition = Q()
    for value in values:
        condition |= Q(Exact(text, value))
    return condition


def _float_json_text(value: str) -> str | None:
    """The JSON text Python writes for the float whose metadata text is this value, if one's is."""
    try:
        number = float(value)
    except ValueError:
        return None
    return repr(number) if metadata_text(number) == value else None


def _had_event(project: Project, spec: ExploreFilter, *, names: Iterable[str] = ()) -> Q:
    """The output's end user had a usage event (one of `names`, when given) within the filter's days (any time when it
    names none): the way from usage events to the outputs of the people behind them (an event has an end user, not an
    output). An output without an end user is nobody's: it never had one."""
    events = UsageEvent.objects.filter(project=project, end_user_id=OuterRef("end_user_id"))
    if names:
        events = events.filter(name__in=names)
    if spec.since:
        events = events.filter(occurred_at__gte=day_start(project, spec.since))
    if spec.until:
        events = events.filter(occurred_at__lt=day_start(project, spec.until + timedelta(days=1)))
    return Q(Exists(events)) & ~Q(end_user_id="")


def _queue_ids(project: Project, slugs: Iterable[str]) -> list[int]:
    found = dict(Queue.objects.filter(project=project, slug__in=list(slugs)).values_list("slug", "pk"))
    missing = [slug for slug in slugs if slug not in found]
    if missing:
        raise InvalidFilter({"queue": f"This project has no queue {missing[0][:64]!r}."})
    return list(found.values())


def _theme_id(project: Project, theme: tuple[str, int]) -> int:
    """The stored failure theme a filter names (week label, rank); InvalidFilter when the project has none such."""
    label, rank = theme
    missing = InvalidFilter(
        {"theme": f"This project has no failure theme {label}.{rank} (a week has themes once it has enough failures)."}
    )
    try:
        week = week_from_label(project, label)
    except InvalidWeek:
        raise missing from None
    found = FailureTheme.objects.filter(project=project, week=week, rank=rank).values_list("pk", flat=True).first()
    if found is None:
        raise missing
    return found


NO_VERDICT_TO_DISAGREE_ON = "This project's rubric has no pass/fail question for the experts to disagree on."


def _experts_disagreed(project: Project) -> tuple[Exists, Exists]:
    """Two conditions on Output: one of its items (any queue, any week) has labels giving two different answers to the
    verdict question, a tie as much as a majority (the experts disagreed); one of its items has two such answers or
    more (the experts compared: they agreed, when they did not disagree). The second is the units the agreement figure
    counts (`metrics.agreement`: an item, its labels' answers among the question's categories), the first those that
    fall short of unanimous (`rules.gold.combine`); a lead's adjudication decides the gold answer, not what the experts
    said.

    An answer counts when it is one of the question's categories (`metrics.agreement.categories_for`: true or false),
    compared as JSON (true is not 1): a value of another kind, from a rubric version that asked the key otherwise, is
    no answer, as in the figure. Two categories are never the same answer (`rules.gold.same_answer`), so two distinct
    ones among an item's labels are a disagreement. Counted per item in a subquery the planner cannot turn into a scan
    of every label: it probes the labels of the project's items by their item (their index); no index on outputs.
    InvalidFilter when the rubric has no verdict question."""
    question = verdict_question(questions_of(project))
    if question is None:
        raise InvalidFilter({"disagree": NO_VERDICT_TO_DISAGREE_ON})
    verdict = KeyTransform(question["key"], "answers")  # a label's answer to the verdict question
    given = Q()
    for category in categories_for(question):
        given |= Q(KeyTransformExact(verdict, Value(category, output_field=JSONField())))
    # Per item, its labels that answer the verdict question: how many, and how many different answers they give.
    answering = Label.objects.filter(given, item=OuterRef("pk")).order_by().values("item")
    different = answering.annotate(different=Count(verdict, distinct=True)).values("different")
    answered = answering.annotate(answered=Count("pk")).values("answered")
    # Two conditions, each an item's count in an Exists over the output's items, rather than one grouped subquery of
    # the output giving its state (an item disagreed, or one compared): PostgreSQL turns an Exists over items into a
    # semi-join (`no`'s `exclude` into an anti-join) driven by the items' output index; a grouped subquery, compared
    # with a value or in an Exists, is run once for every output scanned, items or not (EXPLAIN on a few thousand
    # labeled outputs: about three times the estimated cost; compared with a value, a row estimate 70 times low).
    items = Item.objects.filter(project=project, output=OuterRef("pk"))
    disagreed = items.alias(different=Subquery(different, output_field=IntegerField())).filter(different__gt=1)
    compared = items.alias(answered=Subquery(answered, output_field=IntegerField())).filter(answered__gt=1)
    return Exists(disagreed), Exists(compared)


def _gold_conditions(project: Project, pairs: Iterable[tuple[str, str]], verdicts: "Verdicts") -> list[Exists]:
    """Per (question, answer): a condition on Output that one of its items' gold answer (adjudicated over automatic,
    a tie being no answer, as rules.gold decides) is that answer. A pass on a verdict question also needs no fail in
    another queue: by the project's one rule (`rules.gold.output_verdict`) that output failed. A verdict question is
    the current rubric's or an earlier version's (`verdicts.former`), even one the rubric no longer asks: a closed
    week's "Passed outputs" link names the one its report froze, and a view saved while a key was the verdict question
    keeps meaning what it did; a yes/no question never the verdict is filtered by its items' gold answers alone (its
    "yes" need not be a pass)."""
    questions = {question["key"]: question for question in verdicts.questions}
    rated = any(questions.get(key, {}).get("kind") == QuestionKind.RATING for key, _ in pairs)
    scales = rating_scales(project) if rated else {}
    conditions = []
    for key, answer in pairs:
        question = questions.get(key) or verdicts.former.get(key)
        if question is None or question["kind"] not in _GOLD_KINDS:
            raise InvalidFilter({"gold": _no_gold_question(project, key, verdicts)})
        typed = _typed_answer(question, answer, scales.get(key))
        conditions.append(_has_gold(key, typed))
        if typed is True and (question is verdicts.current or key in verdicts.former):
            conditions.append(~_has_gold(key, False))
    return conditions


def _no_gold_question(project: Project, key: str, verdicts: "Verdicts") -> str:
    """Why `gold=<key>:…` is refused, with every key the filter takes: the current rubric's pass/fail, choice and
    rating questions, and with a pass or fail an earlier version's verdict question (`verdicts.former`; read here
    when the filter named no pass or fail, so one query more on this refusal only)."""
    keys = [question["key"] for question in verdicts.questions if question["kind"] in _GOLD_KINDS]
    former = verdicts.former or _former_verdicts(project, verdicts.questions, verdicts.current)
    earlier = [former_key for former_key in former if former_key not in keys]
    message = f"No pass/fail, choice or rating question {key[:64]!r}; use one of {keys}"
    if earlier:
        message += f", or an earlier rubric version's verdict question with pass or fail: {earlier}"
    return message + "."


@dataclass(frozen=True)
class Verdicts:
    """The verdict questions a filter reads (`verdict_questions`): what its gold conditions, a page's badges and
    verdict facet, and its chips go by."""

    questions: list[dict]  # the current rubric's
    current: dict | None  # the current rubric's verdict question (the filter bar's verdict select)
    judged: dict | None  # the one a page's badges and verdict facet read
    # Earlier versions' verdict questions the filter names with a pass or fail, by key (their chips read pass or fail):
    # as the current rubric asks them when it still asks them pass/fail, else as the newest version that did.
    former: dict[str, dict] = field(default_factory=dict)


def verdict_questions(project: Project, spec: ExploreFilter) -> Verdicts:
    """The current rubric's verdict question, and the one a page's badges and verdict facet read: the current one,
    unless the filter asks for a gold answer to an earlier version's verdict question and none to the current one (a
    closed week's "Passed outputs" link, `gold=correct:true`, from before a rubric change): then that one, the first
    named, as the outputs it finds were judged on it. One query for the rubric, one more (`verdict_keys`) only for
    a filter naming a pass or fail on another question than the current verdict: per page, never per row."""
    questions = questions_of(project)
    current = verdict_question(questions)
    key_now = current["key"] if current else None
    # A pass or fail on another yes/no question than the current verdict, or on one the rubric no longer asks.
    named = [
        key for key, answer in spec.gold if key != key_now and verdict_word(answer) and reads_as_verdict(key, questions)
    ]
    if not named:
        return Verdicts(questions, current, current)
    former = _former_verdicts(project, questions, current)
    judged = current
    if not any(key == key_now for key, _ in spec.gold):
        judged = next((former[key] for key in named if key in former), current)
    return Verdicts(questions, current, judged, former)


def _former_verdicts(project: Project, questions: list[dict], current: dict | None) -> dict[str, dict]:
    """Earlier rubric versions' verdict questions other than `current`, by key (`Verdicts.former`): as the current
    rubric (`questions`) asks them when it still asks them pass/fail, else as the newest version that did; none the
    rubric asks now as another kind of question (`rules.explore.reads_as_verdict`). One query."""
    asked = {question["key"]: question for question in questions}
    key_now = current["key"] if current else None
    return {
        key: asked.get(key, question)
        for key, question in verdict_keys(project).items()
        if key != key_now and reads_as_verdict(key, questions)
    }


def _has_gold(key: str, answer: Any) -> Exists:
    """The output has an item whose gold answer to the question `key` is `answer`."""
    # As JSON: a bare Python value would reach PostgreSQL as `jsonb = boolean` (no such operator).
    value = Value(answer, output_field=JSONField())
    adjudicated = KeyTransform("value", KeyTransform(key, "adjudicated"))
    automatic = KeyTransform("value", KeyTransform(key, "automatic"))
    tie = Exact(KeyTextTransform("method", KeyTransform(key, "automatic")), "tie")
    decided_by_lead = Q(adjudicated__has_key=key)
    is_answer = (decided_by_lead & Q(KeyTransformExact(adjudicated, value))) | (
        ~decided_by_lead & Q(KeyTransformExact(automatic, value)) & ~Q(tie)
    )
    return Exists(Resolution.objects.filter(is_answer, item__output=OuterRef("pk")))


def _typed_answer(question: dict, answer: str, scale: tuple[int, int] | None) -> Any:
    """The answer as labels store it; InvalidFilter when the question could not have it (a rating outside `scale`,
    its widest over the rubric's versions, would only ever find nothing)."""
    kind, text = question["kind"], answer.strip().lower()
    if kind == QuestionKind.BINARY:
        verdict = read_verdict(text)
        if verdict is not None:
            return verdict
    if kind == QuestionKind.RATING and re.fullmatch(r"-?[0-9]{1,6}", text):
        if scale is None or scale[0] <= int(text) <= scale[1]:
            return int(text)
    if kind == QuestionKind.CHOICE and answer in question.get("options", []):
        return answer
    expected = {
        QuestionKind.BINARY: "true or false",
        QuestionKind.RATING: f"{scale[0]} to {scale[1]}" if scale else "a whole number",
        QuestionKind.CHOICE: f"one of {question.get('options', [])}",
    }[kind]
    raise InvalidFilter({"gold": f"{answer[:40]!r} is not an answer to {question['key']!r}: use {expected}."})
