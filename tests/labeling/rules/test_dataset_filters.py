"""A dataset's filters: their checks, the Python-side match, and the explore filter translated into them."""

from datetime import date

import pytest

from labeling.rules.dataset_filters import (
    filter_problems,
    from_explore,
    from_explore_query,
    keeps_output,
    metadata_text,
    stored_filters,
)
from labeling.rules.explore import parse_filter
from labeling.rules.queue_from_filter import rule_from_filter

TOO_MANY = " OR ".join(f"w{number}" for number in range(21))  # one phrase more than a rule may hold


def _translated(**params):
    return from_explore(
        parse_filter({name: value if isinstance(value, list) else [value] for name, value in params.items()})
    )


def test_the_planted_regression_translates_whole_with_the_search_named_as_changed():
    """The demo's saved view: `q="refund will arrive by"&model=gpt-4.1-mini-2025-04-14`."""
    translation = _translated(q='"refund will arrive by"', model="gpt-4.1-mini-2025-04-14")

    assert translation.initial == {"models": "gpt-4.1-mini-2025-04-14", "text_any": "refund will arrive by"}
    assert translation.left_out == ()
    (changed,) = translation.changed
    assert 'The search "refund will arrive by" becomes “Answer contains any of”' in changed
    assert "not by word stems" in changed


def test_models_tags_metadata_days_and_queues_carry_over():
    translation = _translated(
        model=["a", "b"], tag=["vip", "eu"], meta=["plan:pro", "plan:team", '" region":"eu "'],
        queue="sample", **{"from": "2026-11-02", "to": "2026-11-08"},
    )  # fmt: skip

    assert translation.initial == {
        "models": "a, b",
        "tags_any": "vip, eu",
        "metadata": 'plan:pro\nplan:team\n" region":"eu "',
        "since": date(2026, 11, 2),
        "until": date(2026, 11, 9),  # explore's last day is included, a dataset's is not
        "queues": ["sample"],
    }
    assert translation.left_out == translation.changed == ()


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"tag": ["vip", "eu"], "tags": "all"}, "all of the tags"),
        ({"has_meta": "plan"}, "having a metadata key"),
        ({"end_user": "u1"}, "the end user"),
        ({"session": "s1"}, "the session"),
        ({"feedback": "down"}, "end-user feedback"),
        ({"comment": "yes"}, "a feedback comment"),
        ({"gold": "correct:false"}, "a gold answer"),
        ({"flagged": "yes"}, "flagged by an expert"),
        ({"min_chars": "10"}, "the shortest output length"),
        ({"max_chars": "10"}, "the longest output length"),
        ({"theme": "2026-W48.1"}, "a failure theme"),
        ({"labeled": "no"}, "not labeled"),
        ({"comment": "no"}, "a feedback comment"),
        ({"flagged": "no"}, "flagged by an expert"),
        ({"disagree": "yes"}, "the experts' disagreement"),
        ({"disagree": "no"}, "the experts' disagreement"),
        ({"event": "signup"}, "a usage event"),
        ({"has_event": "no"}, "having a usage event"),
        ({"q": "-late"}, "The search “-late”: no phrase can stand for it, as a phrase is found in the answer"),
        ({"q": "-late OR refund"}, "The search “-late OR refund”: no phrase can stand for it"),
        ({"q": TOO_MANY}, "as phrases, 21 phrases; use at most 20."),
    ],
)
def test_what_a_dataset_cannot_carry_is_named_never_dropped(params, named):
    translation = _translated(**params)

    (left_out,) = translation.left_out
    assert named in left_out
    assert "text_any" not in translation.initial and "tags_any" not in translation.initial


def test_words_alone_become_one_phrase_and_labeled_yes_is_what_a_dataset_holds_anyway():
    translation = _translated(q="refund   will arrive", labeled="yes")

    assert translation.initial == {"text_any": "refund will arrive"}
    assert translation.left_out == ()
    (changed,) = translation.changed
    assert "Words searched together became one phrase, in the order typed." in changed


@pytest.mark.parametrize(
    "q",
    ['"refund will arrive by"', "refund will arrive", "refund OR return", 'refund -late OR "guaranteed by"',
     '"refund" arrives', "Straße OR STRASSE", "refund OR refund", "-late", TOO_MANY],
)  # fmt: skip
def test_a_search_becomes_the_phrases_a_queue_made_from_it_takes(q):
    """One translation of the search (rules.answer_text.phrases_from_search): the dataset's phrases are the rule's,
    and what the queue names as not carried the dataset names too."""
    dataset = _translated(q=q)
    queue = rule_from_filter(parse_filter({"q": [q]}))

    assert dataset.initial.get("text_any", "").splitlines() == queue.rule.get("text_any", [])
    assert len(dataset.left_out) == len(queue.not_carried)


def test_left_out_words_are_named_beside_the_phrases():
    translation = _translated(q="refund -late OR return")

    assert translation.initial == {"text_any": "refund\nreturn"}
    assert translation.left_out == ("The words left out of the search, “-late”: a dataset finds text, it cannot leave "
                                    "text out.",)  # fmt: skip


def test_a_query_explore_would_refuse_carries_nothing_and_names_each_problem():
    translation = from_explore_query({"model": ["a"], "feedback": ["sideways"], "modle": ["b"]})

    assert translation.initial == {} and translation.changed == ()
    assert len(translation.left_out) == 2
    assert any(note.startswith("“modle”: Unknown filter.") for note in translation.left_out)


def test_one_tag_with_all_is_any():
    assert _translated(tag="vip", tags="all").initial == {"tags_any": "vip"}


@pytest.mark.parametrize(
    ("value", "text"),
    [("pro", "pro"), (True, "true"), (False, "false"), (3, "3"), (2.5, "2.5"), (1e-07, "0.0000001"), (None, None),
     ([1], None), ({"a": 1}, None)],
)  # fmt: skip
def test_a_metadata_value_is_compared_as_explore_writes_it(value, text):
    assert metadata_text(value) == text


def test_keeps_output_reads_tags_metadata_and_text():
    filters = {"tags_any": ["vip"], "metadata": {"plan": ["pro", "true"]}, "text_any": ["Refund WILL arrive", "by x"]}
    kept = {"tags": ["vip"], "metadata": {"plan": "pro"}, "answer": "Your refund will arrive by Friday."}

    assert keeps_output(filters, **kept)
    assert keeps_output(filters, **{**kept, "metadata": {"plan": True}})
    assert not keeps_output(filters, **{**kept, "tags": ["free"]})
    assert not keeps_output(filters, **{**kept, "metadata": {"plan": "team"}})
    assert not keeps_output(filters, **{**kept, "metadata": {}})
    assert not keeps_output(filters, **{**kept, "metadata": None})
    assert not keeps_output(filters, **{**kept, "answer": "Your refund will come."})
    assert keeps_output(filters, **{**kept, "answer": {"reply": ["It arrives BY X."]}})
    assert not keeps_output(filters, **{**kept, "answer": {"refund will arrive": 1}})  # a key is not the answer's text
    assert keeps_output({}, tags=None, metadata=None, answer="")


def test_stored_filters_keep_the_old_shape_and_add_only_what_is_set():
    old = stored_filters(
        tags_any=["vip"], since="2026-11-01T00:00:00+00:00", until=None, models=[], metadata={}, text_any=[]
    )
    assert old == {"tags_any": ["vip"], "since": "2026-11-01T00:00:00+00:00"}
    assert stored_filters(tags_any=[], since=None, until=None, models=[], metadata={}, text_any=[]) == {}
    new = stored_filters(
        tags_any=[], since=None, until=None, models=["b", "a", "b"], metadata={"z": ["1", "1"], "a": ["x"]},
        text_any=["hi", "ho", "hi"],
    )  # fmt: skip
    assert new == {"models": ["b", "a"], "metadata": {"a": ["x"], "z": ["1"]}, "text_any": ["hi", "ho"]}
    assert list(new["metadata"]) == ["a", "z"]


@pytest.mark.parametrize(
    ("filters", "field", "says"),
    [
        ({"models": [""]}, "models", "Models: a value is blank."),
        ({"models": ["m"] * 201}, "models", "at most 200 values"),
        ({"tags_any": ["x" * 201]}, "tags_any", "more than 200 characters"),
        ({"metadata": {"plan": []}}, "metadata", "give 'plan' at least one value"),
        ({"metadata": {" ": ["x"]}}, "metadata", "a key is blank"),
        ({"metadata": {"plan": ["a\x00"]}}, "metadata", "NUL"),
        ({"text_any": ["x" * 201]}, "text_any", "Answer contains any of: the phrase “xxx"),
        ({"text_any": ["x"] * 21}, "text_any", "21 phrases; use at most 20."),
        ({"text_any": [" "]}, "text_any", "a phrase is empty"),
        ({"text_any": ["a\nb"]}, "text_any", "has a line break"),
        ({"text_any": ["a\x00b"]}, "text_any", "NUL"),
    ],
)
def test_bad_filter_values_are_named_with_their_field(filters, field, says):
    ((named, problem),) = filter_problems(**filters)
    assert named == field and says in problem, problem


def test_every_explore_filter_field_is_carried_or_named():
    """A new explore filter field fails here until the dataset translation carries it or names it."""
    from labeling.rules.dataset_filters import _NOT_CARRIED
    from labeling.rules.explore import NOT_CONDITIONS, ExploreFilter

    carried = {"q", "since", "until", "models", "tags", "all_tags", "metadata", "queues", "labeled"}
    assert set(ExploreFilter.__dataclass_fields__) - NOT_CONDITIONS == carried | set(_NOT_CARRIED)
