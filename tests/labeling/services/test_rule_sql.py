"""The routing rule has one interpretation: its SQL form (the preview) selects what rule_matches accepts.

Both are run on the same stored outputs, including the awkward ones: 1 against 1.0 and true, "1" against
1, a list where a scalar is wanted, digit-only keys, exponents (which jsonb spells out in digits), no tags,
JSON null tags, an empty comment, answers in other cases and scripts ("İ", "ß", a final sigma) and as JSON.
The preview itself reads a bounded window with a fixed number of queries.
"""

import itertools
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from labeling.models import Output, Queue
from labeling.rules import calendar
from labeling.services import routing
from labeling.services.routing import is_sampled, preview_rule, rule_filter, rule_matches, sample_filter, validate_rule
from tests.factories import OutputFactory

pytestmark = pytest.mark.postgres

METADATA = [
    {},
    {"topic": "returns", "tier": 1, "vip": True},
    {"topic": "billing", "tier": 1.0, "vip": 1},
    {"topic": ["returns"], "tier": "1", "vip": "true"},
    {"topic": "Returns", "tier": 2.5, "0": "zero", "vip": False},
    {"tier": -3, "0": 0, "score": 0.1},
    {"tier": 1.5, "score": 0.10, "nested": {"topic": "returns"}},
]
# Written as JSON text, as a product app may send it: jsonb keeps 1.0 but spells 1e2 as 100.
RAW_METADATA = ['{"tier": 1e2, "score": 2.50}', '{"tier": 100.0, "topic": "returns"}', '{"tier": -0, "vip": null}']
TAGS = [[], ["billing"], ["billing", "vip"], ["vip", "refund"], ["Billing"], "null"]  # "null": JSON null
MODELS = ["gpt-4o", "claude", ""]
FEEDBACK = [(None, ""), (-1, "Useless"), (1, ""), (0, "ok"), (-1, "")]
# Answers, given to the outputs in turn: text in several cases and scripts, LIKE's wildcards, JSON with the text in
# a value or only in a key, and JSON null.
ANSWERS = [
    "Your refund will arrive by 14 March.",
    "YOUR REFUND WILL ARRIVE BY 14 MARCH.",
    "Our İstanbul office answers.",
    "Our istanbul office answers.",
    "Die Straße ist gesperrt.",
    "DIE STRASSE IST GESPERRT.",
    "ΤΟ ΚΑΣΤΡΟ ΚΑΙ Ο ΟΔΥΣΣΕΑΣ",
    "το καστρο και ο οδυσσεας",
    "Save 50% off_now, Džungla",
    "ǅUNGLA at 3 \u212a",  # a titlecase digraph and the Kelvin sign
    {"role": "assistant", "content": "Refund will arrive soon"},
    [{"content": "Sorry."}, {"content": ["refund", "will arrive"]}],
    {"Refund will arrive": "a key is not the answer"},
    "",
    "null",  # stored as JSON null
    "İSTANBUL'DA İADE",
]

RULES = [
    {},
    {"tags_any": ["billing", "vip"]},
    {"tags_any": ["billing"]},
    {"tags_all": ["billing", "vip"]},
    {"models": ["gpt-4o", ""]},
    {"feedback_scores": [-1]},
    {"feedback_scores": [0, 1]},
    {"has_comment": True},
    {"has_comment": False},
    {"metadata": {"topic": "returns"}},
    {"metadata": {"topic": ["billing", "returns"]}},
    {"metadata": {"tier": 1}},
    {"metadata": {"tier": 1.0}},
    {"metadata": {"tier": "1"}},
    {"metadata": {"tier": [1, 2.5]}},
    {"metadata": {"tier": 100}},
    {"metadata": {"tier": 100.0}},
    {"metadata": {"tier": 0}},
    {"metadata": {"tier": -3}},
    {"metadata": {"score": 0.1}},
    {"metadata": {"score": 2.5}},
    {"metadata": {"vip": True}},
    {"metadata": {"vip": 1}},
    {"metadata": {"vip": False}},
    {"metadata": {"vip": "true"}},
    {"metadata": {"0": "zero"}},
    {"metadata": {"0": 0}},
    {"metadata": {"missing": "x"}},
    {"metadata": {"topic": "returns", "tier": 1}},
    {"tags_any": ["vip"], "feedback_scores": [-1], "has_comment": True, "models": ["gpt-4o"]},
    {"tags_all": ["billing"], "metadata": {"vip": [True, 1]}},
    {"text_any": ["refund will arrive"]},
    {"text_any": ["REFUND will ARRIVE by 14"]},
    {"text_any": ["İstanbul"]},
    {"text_any": ["ISTANBUL"]},
    {"text_any": ["i̇stanbul"]},
    {"text_any": ["strasse"]},
    {"text_any": ["STRAßE"]},
    {"text_any": ["ΚΑΣ"]},
    {"text_any": ["ΑΣΤ", "οδυσσεασ"]},
    {"text_any": ["ΟΔΥΣΣΕΑΣ"]},
    {"text_any": ["50%", "f_n"]},
    {"text_any": ["džungla"]},
    {"text_any": ["\u212a", "k"]},
    {"text_any": ["answer", "sorry"]},
    {"text_any": ["refund"], "models": ["claude"], "feedback_scores": [-1]},
]


# Rules listing nothing, refused since (rules.listed_values) but kept by the queues saved before: they still route.
STORED_BEFORE = [
    {"tags_any": []},
    {"tags_all": []},
    {"models": []},
    {"feedback_scores": []},
    {"metadata": {"topic": []}},
    {"metadata": {"topic": "returns", "tier": []}},
]


def every_rule() -> list[dict]:
    """The rules as routing reads them: each of RULES as validate_rule gives it, and the ones saved before."""
    return [*map(validate_rule, RULES), *STORED_BEFORE]


def combos_again():
    return itertools.product(range(len(METADATA)), range(len(TAGS)), range(len(MODELS)), range(len(FEEDBACK)))


@pytest.fixture
def outputs(project):
    made = []
    # A minute apart, newest first, all in this week (the preview's): closer together in a week's first hours.
    now, combos = timezone.now(), list(combos_again())
    began = calendar.week_start(project, calendar.current_week(project, now))
    step = min(timedelta(minutes=1), (now - began) / (len(combos) + 1))
    for n, (m, t, mo, f) in enumerate(combos):
        score, comment = FEEDBACK[f]
        made.append(
            OutputFactory(
                project=project,
                metadata=METADATA[m],
                tags=[] if TAGS[t] == "null" else TAGS[t],
                model=MODELS[mo],
                feedback_score=score,
                feedback_comment=comment,
                output=ANSWERS[n % len(ANSWERS)],
                occurred_at=now - n * step,
            )
        )
    with connection.cursor() as cursor:
        for output, raw in zip(made, RAW_METADATA, strict=False):
            cursor.execute("UPDATE labeling_output SET metadata = %s::jsonb WHERE id = %s", [raw, output.pk])
        nulls = [o.pk for o, (_, t, _, _) in zip(made, combos_again(), strict=True) if TAGS[t] == "null"]
        cursor.execute("UPDATE labeling_output SET tags = 'null'::jsonb WHERE id = ANY(%s)", [nulls])
        nulls = [o.pk for n, o in enumerate(made) if ANSWERS[n % len(ANSWERS)] == "null"]
        cursor.execute("UPDATE labeling_output SET output = 'null'::jsonb WHERE id = ANY(%s)", [nulls])
    return list(Output.objects.filter(project=project))  # as the database gives them back


def test_the_sql_form_of_a_rule_selects_exactly_what_rule_matches_accepts(project, outputs):
    # One test over every rule: the 630 outputs are made once.
    disagreements = {}
    for rule in every_rule():
        in_python = {output.pk for output in outputs if rule_matches(rule, output)}
        in_sql = set(Output.objects.filter(rule_filter(rule), project=project).values_list("pk", flat=True))
        if in_sql != in_python:
            disagreements[str(rule)] = {"sql_only": in_sql - in_python, "python_only": in_python - in_sql}
    assert disagreements == {}


def test_the_rules_above_tell_the_outputs_apart(outputs):
    """The agreement test means something only if the rules match different, non-trivial sets."""
    sizes = {len([o for o in outputs if rule_matches(rule, o)]) for rule in every_rule()}
    assert len(sizes) > 10 and 0 in sizes and len(outputs) in sizes


def test_the_sql_sample_draws_what_is_sampled_draws(project, outputs):
    differ = []
    for rate, queue_id in itertools.product([0.0, 1e-9, 0.1, 0.5, 0.731, 0.999999, 1.0], [0, 7, 123456]):
        probe = Queue(pk=queue_id, sample_rate=rate)
        in_python = {output.pk for output in outputs if is_sampled(probe, output)}
        query = Output.objects.filter(sample_filter(queue_id, rate), project=project)
        if set(query.values_list("pk", flat=True)) != in_python:
            differ.append((rate, queue_id))
    assert differ == []


def test_the_preview_counts_what_rule_matches_and_is_sampled_accept(project, outputs):
    """Every rule at every sample rate, counted by the preview's SQL, as Python counts it: a rule or a sample that
    can match nothing ({"tags_any": []} saved before, a rate of 0) included, which Django selects as the integer 0."""
    differ = []
    for rule, rate in itertools.product(every_rule(), [0.0, 0.5, 1.0]):
        matching = [output for output in outputs if rule_matches(rule, output)]
        expected = (len(matching), sum(is_sampled(Queue(pk=7, sample_rate=rate), output) for output in matching))
        counts = preview_rule(project=project, rule=rule, sample_rate=rate, queue_id=7)
        if (counts["matched"], counts["sampled"]) != expected:
            differ.append((rule, rate))
    assert differ == []


def test_the_sample_threshold_is_the_exact_cut_of_the_float_comparison():
    for rate in (0.1, 0.5, 1 / 3, 0.999999):
        cut = routing.sample_threshold(rate)
        assert (cut - 1) / 2**64 < rate <= cut / 2**64


def test_the_preview_reads_a_bounded_window_in_a_fixed_number_of_queries(project, outputs, monkeypatch):
    rule = validate_rule({"tags_any": ["vip"]})
    with CaptureQueriesContext(connection) as small:
        exact = preview_rule(project=project, rule=rule, sample_rate=0.5, queue_id=3)
    matching = [o for o in outputs if rule_matches(rule, o)]
    assert (exact["outputs"], exact["matched"], exact["estimated"]) == (len(outputs), len(matching), False)
    assert exact["sampled"] == sum(is_sampled(Queue(pk=3, sample_rate=0.5), o) for o in matching)
    # The counts over a LIMITed window, the examples within its time range, the queue's items this week (what its
    # quota leaves a backfill); no row walked in Python.
    counts_sql, examples_sql, quota_sql = (query["sql"] for query in small.captured_queries)
    assert '"labeling_item"."week" =' in quota_sql
    assert f"LIMIT {routing.PREVIEW_SCAN_LIMIT}) subquery" in counts_sql and "COUNT(" in counts_sql
    assert f"LIMIT {routing.PREVIEW_EXAMPLES}" in examples_sql and examples_sql.count('"occurred_at" >=') == 2
    newest = sorted(matching, key=lambda o: (o.occurred_at, o.pk), reverse=True)[: routing.PREVIEW_EXAMPLES]
    assert [e["external_id"] for e in exact["examples"]] == [o.external_id for o in newest]

    # Past the window, the counts are estimates scaled from it, with one more (EXPLAIN) query.
    monkeypatch.setattr(routing, "PREVIEW_SCAN_LIMIT", 100)
    connection.cursor().execute("ANALYZE labeling_output")
    with CaptureQueriesContext(connection) as big:
        estimate = preview_rule(project=project, rule=rule, sample_rate=1.0)
    assert len(big.captured_queries) == 3
    assert "LIMIT 100) subquery" in big.captured_queries[0]["sql"]
    assert re.match(r"EXPLAIN", big.captured_queries[2]["sql"])
    assert estimate["estimated"] and estimate["scanned"] == 100
    assert len(outputs) * 0.5 <= estimate["outputs"] <= len(outputs) * 2
    assert 0 < estimate["matched"] < estimate["outputs"]


@pytest.mark.parametrize(
    "answer, phrase, found",
    [
        ("Your Refund will arrive", "REFUND WILL", True),
        ("Save 50% now", "50%", True),
        ("Save 500 now", "50%", False),  # a plain substring: no wildcard, no regex
        ("a.b", ".", True),
        ("ab", ".", False),
        # Unicode's full lowercase mapping, as Python's str.lower and ICU's root locale apply it: "İ" lowers to "i"
        # with a combining dot above, so neither finds the other's dotless spelling ...
        ("İstanbul", "İSTANBUL", True),
        ("İstanbul", "istanbul", False),
        ("istanbul", "İstanbul", False),
        # ... "ß" has no upper-case letter that lowers to it, so it is not "ss" ...
        ("Straße", "STRAßE", True),
        ("Straße", "strasse", False),
        ("STRASSE", "strasse", True),
        # ... and a capital sigma lowers to a final sigma at a word's end, in the answer and in the phrase alike.
        ("ΟΔΥΣΣΕΑΣ", "οδυσσεας", True),
        ("ΟΔΥΣΣΕΑΣ", "οδυσσεασ", False),
        ("ΚΑΣΤΡΟ", "ΚΑΣ", False),
        ("ΚΑΣΤΡΟ", "κασ", True),
    ],
)
def test_text_is_compared_in_lower_case_as_unicode_lowers_it(project, answer, phrase, found):
    """The chosen semantics, documented by example: the same answer in Python (routing at ingest, backfill) and in
    PostgreSQL (the preview)."""
    output = OutputFactory(project=project, output=answer)
    rule = validate_rule({"text_any": [phrase]})

    assert rule_matches(rule, Output.objects.get(pk=output.pk)) is found
    assert Output.objects.filter(rule_filter(rule), pk=output.pk).exists() is found
