"""The redaction engine: measured on 208 hand-labelled support-chat strings, and its custom-rule guard.

`tests/fixtures/redaction_cases.jsonl` holds one case per line: the text, the default phone region, and
every span that must be redacted with its kind. Tricky negatives (order numbers, tracking ids, dates,
prices, SKUs, versions, 16-digit non-Luhn numbers, IMEIs, phone-like ids, `logo@2x.png`, `lodash@4.17.21`)
expect nothing. A predicted span counts only when its kind and both ends are exactly right.
"""

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from labeling.exceptions import InvalidInput
from labeling.rules import redaction as engine

CASES = [json.loads(line) for line in (Path(__file__).parents[2] / "fixtures" / "redaction_cases.jsonl").open()]
TARGETS = {"email": (1.0, 1.0), "card": (1.0, 1.0), "phone": (0.95, 0.95), "iban": (1.0, 1.0)}


def _builtins(region: str) -> engine.Redactor:
    return engine.compile_rules(builtins=engine.BUILTINS, custom=[], phone_region=region)


def test_recall_and_precision_per_kind_meet_the_targets():
    """E-mails, cards and IBANs: 100 % recall and precision; phones: at least 95 % of each."""
    assert len(CASES) >= 200
    found, wanted, right = Counter(), Counter(), Counter()
    misses = []
    for case in CASES:
        predicted = {(span.start, span.end, span.kind) for span in _builtins(case["region"]).spans(case["text"])}
        expected = {(span["start"], span["end"], span["kind"]) for span in case["expected"]}
        for kind in engine.BUILTINS:
            found[kind] += sum(1 for span in predicted if span[2] == kind)
            wanted[kind] += sum(1 for span in expected if span[2] == kind)
            right[kind] += sum(1 for span in predicted & expected if span[2] == kind)
        misses += [(case["text"], "missed", span) for span in expected - predicted]
        misses += [(case["text"], "wrong", span) for span in predicted - expected]
    print(f"\n{'kind':<6} {'expected':>8} {'found':>6} {'right':>6} {'recall':>7} {'precision':>9}")
    for kind in engine.BUILTINS:
        recall = right[kind] / wanted[kind]
        precision = right[kind] / found[kind] if found[kind] else 1.0
        print(f"{kind:<6} {wanted[kind]:>8} {found[kind]:>6} {right[kind]:>6} {recall:>7.1%} {precision:>9.1%}")
    for text, what, span in misses:
        print(f"  {what}: {span[2]} {text[span[0] : span[1]]!r} in {text!r}")
    for kind, (min_recall, min_precision) in TARGETS.items():
        assert right[kind] / wanted[kind] >= min_recall, kind
        assert right[kind] / max(found[kind], 1) >= min_precision, kind


def test_placeholders_are_typed_and_counted():
    redactor = engine.compile_rules(
        builtins=engine.BUILTINS, custom=[{"name": "account", "pattern": r"\bACCT-\d{6}\b"}], phone_region="US"
    )
    counts = Counter()
    text = "jane@example.com, bob@example.org, 415-555-0100, 4111 1111 1111 1111, GB82WEST12345698765432, ACCT-123456"

    redacted = redactor.redact_text(text, counts)

    assert redacted == "[EMAIL], [EMAIL], [PHONE], [CARD], [IBAN], [CUSTOM:account]"
    assert counts == {"email": 2, "phone": 1, "card": 1, "iban": 1, "custom:account": 1}


def test_json_values_are_redacted_and_keys_kept():
    redactor = _builtins("US")
    counts = Counter()
    value = {"jane@example.com": "write to jane@example.com", "n": 4111111111111111, "list": ["x", "415-555-0100"]}

    redacted = redactor.redact_value(value, counts)

    assert redacted == {"jane@example.com": "write to [EMAIL]", "n": 4111111111111111, "list": ["x", "[PHONE]"]}
    assert counts == {"email": 1, "phone": 1}


def test_a_json_key_that_names_an_id_keeps_its_value():
    """A 14-digit DPD tracking number passes Luhn; under `tracking_number` it is an id, under `card` a card."""
    redactor = _builtins("GB")
    counts = Counter()
    value = {"tracking_number": "62680267432304", "card": "62680267432304", "order_id": "02079460958"}

    redacted = redactor.redact_value(value, counts)

    assert redacted == {"tracking_number": "62680267432304", "card": "[CARD]", "order_id": "02079460958"}
    assert counts == {"card": 1}


def test_only_the_chosen_builtins_run():
    redactor = engine.compile_rules(builtins=["email"], custom=[], phone_region="US")
    assert redactor.redact_text("jane@example.com 415-555-0100", Counter()) == "[EMAIL] 415-555-0100"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(unclosed", "does not compile: missing ), unterminated subpattern at position 0"),
        ("[z-a]", "does not compile: bad character range z-a at position 1"),
        ("a*", "matches empty text"),
        ("(a+)+$", "catastrophic backtracking"),
        (r"(\w+\s?)+$", "catastrophic backtracking"),
        (r"^(\d*)*x", "catastrophic backtracking"),
        ("x" * 501, "at most 500"),
        ("", "the pattern is empty"),
        ("a{4294967296}", "a repeat count in the pattern is too large"),
    ],
)
def test_a_bad_custom_pattern_is_refused_with_the_reason(pattern, message):
    with pytest.raises(InvalidInput) as caught:
        engine.check_custom_rule(name="acct", pattern=pattern)
    assert message in caught.value.message
    assert "'acct'" in caught.value.message


@pytest.mark.parametrize("name", ["Acct", "1acct", "a b", "x" * 41, "a:b"])
def test_a_bad_custom_name_is_refused(name):
    with pytest.raises(InvalidInput, match="lowercase letters"):
        engine.check_custom_rule(name=name, pattern=r"\d+")


def test_rule_sets_are_checked_whole():
    with pytest.raises(InvalidInput, match="Unknown built-in"):
        engine.check_rules(builtins=["email", "ssn"], custom=[], phone_region="US")
    with pytest.raises(InvalidInput, match="not a region"):
        engine.check_rules(builtins=["phone"], custom=[], phone_region="XX")
    with pytest.raises(InvalidInput, match="given twice"):
        engine.check_rules(
            builtins=[], custom=[{"name": "a", "pattern": "x"}, {"name": "a", "pattern": "y"}], phone_region="US"
        )


def test_a_custom_pattern_that_runs_away_at_ingest_withholds_the_whole_string():
    """A slow pattern that slipped past the checks fails closed: the string is replaced, not stored raw."""
    slow = engine.Redactor(builtins=(), custom=(engine.CustomRule("slow", r"(a|aa)+$"),), phone_region="US")
    slow.timeout = 0.01
    counts = Counter()
    started = time.perf_counter()

    redacted = slow.redact_text("a" * 5000 + "! jane@example.com", counts)

    assert time.perf_counter() - started < 1
    assert redacted == "[REDACTED]"
    assert counts == {"timeout": 1}


def test_overlapping_matches_are_replaced_once():
    redactor = engine.compile_rules(
        builtins=engine.BUILTINS, custom=[{"name": "digits", "pattern": r"\d{4}"}], phone_region="US"
    )
    counts = Counter()
    assert redactor.redact_text("card 4111 1111 1111 1111 pin 1234", counts) == "card [CARD] pin [CUSTOM:digits]"
    assert counts == {"card": 1, "custom:digits": 1}


def test_when_the_batch_time_for_slow_work_is_spent_strings_needing_it_are_withheld():
    redactor = _builtins("US")
    redactor.budget = [0.0]
    counts = Counter()

    assert redactor.redact_text("call 415-555-0100 or mail jane@example.com", counts) == "[REDACTED]"
    assert redactor.redact_text("mail jane@example.com, no digits", counts) == "mail [EMAIL], no digits"
    assert counts == {"timeout": 1, "email": 1}


def test_a_batch_of_runaway_custom_patterns_stops_within_its_time():
    """Each string gets the pattern's timeout, and the batch as a whole no more than its budget."""
    slow = engine.Redactor(builtins=(), custom=(engine.CustomRule("slow", r"(a|aa)+$"),), phone_region="US")
    slow.timeout, slow.budget = 0.05, [0.3]
    counts = Counter()
    started = time.perf_counter()

    redacted = [slow.redact_text("a" * 5000 + "!", counts) for _ in range(100)]

    assert time.perf_counter() - started < 2  # 100 strings × 50 ms would be 5 s
    assert set(redacted) == {"[REDACTED]"} and counts == {"timeout": 100}
