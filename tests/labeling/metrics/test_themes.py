"""Failure themes on text: planted kinds of failure are found, the same input gives the same themes.

Pure functions: no database, so no django_db mark.
"""

import random
from collections import Counter

import pytest

from labeling.metrics.themes import EXAMPLES, MAX_THEMES, MIN_DOCUMENTS, MIN_THEMES, evenly_spread, find_themes
from tests.helpers.themes import KINDS, NOISE, planted_corpus


def purity(themes, truth: dict[int, str]) -> float:
    """The share of documents in the majority kind of their theme."""
    majority = sum(Counter(truth[doc_id] for doc_id in theme.member_ids).most_common(1)[0][1] for theme in themes)
    return majority / sum(theme.size for theme in themes)


@pytest.mark.parametrize(
    ("seed", "sizes"),
    [
        (1, {"refund": 40, "tracking": 40, "account": 40}),
        (2, {"refund": 70, "tracking": 25, "account": 12}),
        (3, {"refund": 15, "tracking": 15, "account": 15}),
        (4, {"refund": 300, "tracking": 150, "account": 60}),
    ],
)
def test_planted_failure_kinds_become_themes(seed, sizes):
    """Purity ≥ 0.8 and each planted kind is the majority of a theme of its own, whatever the sizes."""
    documents, truth = planted_corpus(seed, sizes)
    themes = find_themes(documents)
    assert MIN_THEMES <= len(themes) <= MAX_THEMES
    assert purity(themes, truth) >= 0.8
    majorities = [Counter(truth[doc_id] for doc_id in theme.member_ids).most_common(1)[0][0] for theme in themes]
    assert set(majorities) == set(KINDS)
    # A kind's own words, not the shared noise, name its theme.
    for theme, kind in zip(themes, majorities, strict=True):
        assert theme.terms and all(not set(term.split()) & set(NOISE) for term in theme.terms[:3])
        assert any(word in KINDS[kind] for term in theme.terms[:3] for word in term.split())


def test_every_document_is_in_exactly_one_theme_and_themes_are_ranked_by_size():
    documents, _ = planted_corpus(5, {"refund": 30, "tracking": 20, "account": 10})
    themes = find_themes(documents)
    members = [doc_id for theme in themes for doc_id in theme.member_ids]
    assert sorted(members) == sorted(doc_id for doc_id, _ in documents)
    assert [theme.rank for theme in themes] == list(range(1, len(themes) + 1))
    assert [theme.size for theme in themes] == sorted((theme.size for theme in themes), reverse=True)
    for theme in themes:
        assert list(theme.member_ids) == sorted(theme.member_ids)
        assert len(theme.example_ids) == min(EXAMPLES, theme.size)
        assert set(theme.example_ids) <= set(theme.member_ids)


def test_the_same_documents_in_any_order_give_identical_themes():
    documents, _ = planted_corpus(6, {"refund": 50, "tracking": 35, "account": 20})
    first = find_themes(documents)
    shuffled = list(documents)
    random.Random(99).shuffle(shuffled)
    assert find_themes(shuffled) == first
    assert find_themes(documents) == first


def test_too_few_failures_give_no_themes():
    documents, _ = planted_corpus(7, {"refund": 2, "tracking": 2, "account": MIN_DOCUMENTS - 5})
    assert len(documents) == MIN_DOCUMENTS - 1
    assert find_themes(documents) == []
    assert find_themes([]) == []


def test_failures_that_all_say_the_same_are_one_theme():
    documents = [(n, "Your refund was sent to your bank today.") for n in range(1, 10)]
    themes = find_themes(documents)
    assert len(themes) == 1 and themes[0].member_ids == tuple(range(1, 10))
    assert "refund" in " ".join(themes[0].terms)


def test_texts_without_words_give_no_themes():
    assert find_themes([(n, f"#{n} 12.50 -- !!") for n in range(10)]) == []


def test_duplicate_ids_are_refused():
    with pytest.raises(ValueError, match="unique"):
        find_themes([(1, "refund money")] * 8)


@pytest.mark.parametrize(("count", "limit"), [(10, 20), (20, 20), (21, 20), (12_345, 5_000)])
def test_evenly_spread_keeps_at_most_the_limit_from_across_the_range(count, limit):
    ids = list(range(1000, 1000 + count))
    random.Random(count).shuffle(ids)
    chosen = evenly_spread(ids, limit)
    assert len(chosen) == min(count, limit) and chosen == sorted(set(chosen)) and set(chosen) <= set(ids)
    assert chosen[0] == 1000 and chosen[-1] >= 1000 + count - count // limit - 1
    assert evenly_spread(list(reversed(ids)), limit) == chosen
