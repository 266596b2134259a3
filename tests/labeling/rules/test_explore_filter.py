"""The explore filter's parser: every parameter's good and bad values, unknown names, limits, and the canonical
query string that parses back to the same filter."""

from datetime import date

import pytest
from django.http import QueryDict

from labeling.exceptions import InvalidFilter
from labeling.rules.explore import (
    MAX_VALUES,
    PARAMETERS,
    ExploreFilter,
    blind_problems,
    facet_filter,
    filter_query,
    has_working_link,
    parse_filter,
    read_pair,
    tags_of,
    typed_pair,
    value_fits,
)

LONG = "x" * 201


def parse(query: str, **kwargs) -> ExploreFilter:
    return parse_filter(QueryDict(query), **kwargs)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ExploreFilter()),
        ("q=refund+date", ExploreFilter(q="refund date")),
        ("q=refund&q=date", ExploreFilter(q="refund date")),  # repeated words are one search
        ("q=%20%20", ExploreFilter()),  # blank values do not filter
        ("from=2026-11-30", ExploreFilter(since=date(2026, 11, 30))),
        ("to=2026-11-30", ExploreFilter(until=date(2026, 11, 30))),
        ("from=2026-11-30&to=2026-11-30", ExploreFilter(since=date(2026, 11, 30), until=date(2026, 11, 30))),
        ("model=gpt-4o&model=mini&model=gpt-4o", ExploreFilter(models=("gpt-4o", "mini"))),
        ("tag=billing&tag=urgent", ExploreFilter(tags=("billing", "urgent"))),
        ("tag=billing&tags=all", ExploreFilter(tags=("billing",), all_tags=True)),
        ("tag=billing&tags=any", ExploreFilter(tags=("billing",))),
        ("meta=topic:billing", ExploreFilter(metadata=(("topic", ("billing",)),))),
        ("meta=url:https://x.test/a", ExploreFilter(metadata=(("url", ("https://x.test/a",)),))),  # first colon
        ("meta=topic:", ExploreFilter(metadata=(("topic", ("",)),))),  # the empty string
        (
            "meta=topic:a&meta=vip:true&meta=topic:b",
            ExploreFilter(metadata=(("topic", ("a", "b")), ("vip", ("true",)))),
        ),
        ("has_meta=0&has_meta=latency_ms", ExploreFilter(metadata_keys=("0", "latency_ms"))),
        ("end_user=alice", ExploreFilter(end_user="alice")),
        ("session=s-1", ExploreFilter(session="s-1")),
        ("event=started&event=+refund+&event=started", ExploreFilter(events=("started", "refund"))),
        ("has_event=yes", ExploreFilter(has_event=True)),
        ("has_event=0", ExploreFilter(has_event=False)),
        ("feedback=down&feedback=NONE&feedback=down", ExploreFilter(feedback=(-1, None))),
        ("feedback=up&feedback=neutral", ExploreFilter(feedback=(1, 0))),
        ("comment=yes", ExploreFilter(has_comment=True)),
        ("comment=No", ExploreFilter(has_comment=False)),
        ("labeled=yes", ExploreFilter(labeled=True)),
        ("labeled=no", ExploreFilter(labeled=False)),
        ("flagged=yes", ExploreFilter(flagged=True)),
        ("disagree=yes", ExploreFilter(disagree=True)),
        ("disagree=0", ExploreFilter(disagree=False)),
        # One rule for every yes/no query parameter (rules.query_booleans): true/false and 1/0 too, in any case.
        ("labeled=1", ExploreFilter(labeled=True)),
        ("flagged=true", ExploreFilter(flagged=True)),
        ("comment=False", ExploreFilter(has_comment=False)),
        ("gold=correct:false&gold=tone: curt", ExploreFilter(gold=(("correct", "false"), ("tone", "curt")))),
        ("queue=sample&queue=triage", ExploreFilter(queues=("sample", "triage"))),
        ("min_chars=0&max_chars=0", ExploreFilter(min_chars=0, max_chars=0)),
        ("min_chars=007&max_chars=10000000", ExploreFilter(min_chars=7, max_chars=10_000_000)),
        ("cursor=abc&limit=5", ExploreFilter()),  # the caller's own parameters, passed over (see `ignore`)
    ],
)
def test_good_values_parse(query, expected):
    assert parse(query, ignore=("cursor", "limit")) == expected


@pytest.mark.parametrize(
    ("query", "parameter", "message"),
    [
        ("colour=red", "colour", "Unknown filter"),
        ("cursor=abc", "cursor", "Unknown filter"),  # not ignored unless the caller says so
        ("Tag=billing", "Tag", "Unknown filter"),  # names are case-sensitive: a typo never widens a result
        ("from=2026-02-30", "from", "is not a date"),
        ("from=yesterday", "from", "is not a date"),
        ("from=1999-12-31", "from", "between the years 2000 and 2100"),
        ("to=2101-01-01", "to", "between the years 2000 and 2100"),
        ("from=2026-12-01&to=2026-11-30", "to", "before the first day"),
        ("from=2026-11-01&from=2026-11-02", "from", "Give this filter once"),
        ("tags=every", "tags", "`any` or `all`"),
        ("tags=any&tags=all", "tags", "Give this filter once"),
        ("meta=topic", "meta", "is not `key:value`"),
        ("meta=:billing", "meta", "is not `key:value`"),
        ("gold=correct", "gold", "is not `key:value`"),
        ("end_user=a&end_user=b", "end_user", "Give this filter once"),
        ("session=a&session=b", "session", "Give this filter once"),
        ("feedback=bad", "feedback", "is not one of: up, neutral, down, none"),
        ("comment=maybe", "comment", "is not yes or no: use yes, true or 1, or no, false or 0."),
        ("flagged=on", "flagged", "is not yes or no"),
        ("has_event=maybe", "has_event", "is not yes or no"),
        ("disagree=some", "disagree", "is not yes or no"),
        ("disagree=yes&disagree=no", "disagree", "Give this filter once"),
        ("comment=yes&comment=no", "comment", "Give this filter once"),
        ("min_chars=-1", "min_chars", "whole number"),
        ("min_chars=1e3", "min_chars", "whole number"),
        ("min_chars=%D9%A1%D9%A2", "min_chars", "whole number"),  # Arabic-Indic digits
        ("max_chars=10000001", "max_chars", "whole number"),
        ("min_chars=5&max_chars=4", "max_chars", "below the shortest"),
        ("min_chars=1&min_chars=2", "min_chars", "Give this filter once"),
        ("model=gpt%00", "model", "NUL"),
        ("q=refund%00", "q", "NUL"),
        (f"model={LONG}", "model", "at most 200 characters"),
        (f"meta=k:{LONG}", "meta", "at most 200 characters"),
        (f"event={LONG}", "event", "at most 200 characters"),
        (f"q={'x' * 501}", "q", "at most 500 characters"),
        ("&".join(f"tag=t{n}" for n in range(MAX_VALUES + 1)), "tag", f"At most {MAX_VALUES} values"),
    ],
)
def test_bad_values_are_refused_naming_the_parameter(query, parameter, message):
    with pytest.raises(InvalidFilter) as refused:
        parse(query)
    assert message in refused.value.problems[parameter]


def test_every_bad_parameter_is_named_at_once():
    with pytest.raises(InvalidFilter) as refused:
        parse("colour=red&from=never&feedback=meh&q=ok")
    assert set(refused.value.problems) == {"colour", "from", "feedback"}
    assert "Known filters: q, from, to" in refused.value.problems["colour"]


def test_a_long_search_of_short_words_is_allowed_up_to_the_limit():
    assert parse(f"q={'x' * 500}").q == "x" * 500  # the per-value limit does not apply to the search
    assert parse_filter({"q": "a plain string"}).q == "a plain string"  # a dict of strings, as the API's tests send


ROUND_TRIPS = [
    "q=refund+OR+%22promise+date%22+-policy&from=2026-11-01&to=2026-11-30",
    "model=gpt-4o&model=gpt-4o-mini&tag=billing&tag=urgent&tags=all",
    "meta=topic:billing&meta=vip:true&meta=topic:Billing&has_meta=0&meta=url:https://x.test/?a=1%26b",
    "end_user=alice&session=s1&feedback=down&feedback=none&comment=no&labeled=yes&flagged=no",
    "gold=correct:false&gold=helpful:4&queue=sample&queue=triage&min_chars=0&max_chars=400",
    "meta=topic:billing&meta=topic:+billing",  # the same pair written twice
    "tags=all",  # all of no tags
    "q=%C3%A9t%C3%A9+%E2%80%9Cquoted%E2%80%9D&end_user=%F0%9F%A6%8A",
    # values whose spaces at their ends (or quotes) are part of them, in quotes
    "model=%22gpt+%22&tag=%22+vip%22&meta=%22+plan%22:%22+pro+%22&meta=%22k:y%22:v&has_meta=%22+plan%22",
    "end_user=%22u-9+%22&session=%22%22s%22%22",
    "from=2026-11-30&to=2026-12-06&event=return_started&event=%22+vip_visit%22&has_event=no",
    "from=2026-11-09&to=2026-11-15&disagree=yes",  # the meeting's agreement tile's link
    "labeled=yes&disagree=no&flagged=no",
]


@pytest.mark.parametrize("query", ROUND_TRIPS)
def test_the_canonical_query_string_parses_back_to_the_same_filter(query):
    spec = parse(query)
    canonical = filter_query(spec)
    assert parse(canonical) == spec
    assert filter_query(parse(canonical)) == canonical  # and is a fixed point


def test_the_canonical_query_string_orders_parameters_as_the_allow_list_and_adds_extras():
    spec = parse("flagged=yes&tag=b&q=x&tag=a&from=2026-11-01")
    assert filter_query(spec, cursor="c1", empty="") == "q=x&from=2026-11-01&tag=b&tag=a&flagged=yes&cursor=c1"
    assert filter_query(ExploreFilter()) == ""
    order = [name for name in PARAMETERS if name in filter_query(parse(ROUND_TRIPS[3]))]
    assert order == ["end_user", "session", "feedback", "comment", "labeled", "flagged"]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("meta=topic:+billing", ExploreFilter(metadata=(("topic", ("billing",)),))),
        ("meta=topic:billing+", ExploreFilter(metadata=(("topic", ("billing",)),))),
        ("meta=+topic+:+billing+", ExploreFilter(metadata=(("topic", ("billing",)),))),
        ("meta=topic:%22+billing%22", ExploreFilter(metadata=(("topic", (" billing",)),))),
        ("meta=%22+topic%22+:+billing", ExploreFilter(metadata=((" topic", ("billing",)),))),
        (
            "tag=+vip+&model=gpt-4o+&end_user=u-7+&session=+s-1&has_meta=+plan",
            ExploreFilter(tags=("vip",), models=("gpt-4o",), end_user="u-7", session="s-1", metadata_keys=("plan",)),
        ),
        ("tag=%22+vip%22&tag=vip", ExploreFilter(tags=(" vip", "vip"))),
        ("tag=%22%22", ExploreFilter()),  # empty quotes are no condition, as a blank value
    ],
)
def test_a_typed_value_is_read_without_the_spaces_around_it_and_a_quoted_one_exactly(typed, expected):
    assert parse(typed) == expected


@pytest.mark.parametrize(
    ("parameter", "key", "value"),
    [("tag", "", " vip"), ("model", "", "gpt-4o "), ("session", "", '"s"'), ("meta", "topic", " billing "),
     ("meta", " plan", "pro"), ("meta", "k:y", "v"), ("meta", '"q', ""), ("has_meta", "", " plan")],
)  # fmt: skip
def test_a_facets_filter_finds_exactly_its_value(parameter, key, value):
    spec = parse_filter({parameter: [facet_filter(parameter, key, value)]})
    found = {"tag": spec.tags, "model": spec.models, "session": (spec.session,), "has_meta": spec.metadata_keys}
    assert (spec.metadata == ((key, (value,)),)) if parameter == "meta" else found[parameter] == (value,)


# Pieces of metadata keys and values that have meant something to the pair's reading: its colon, quotes (around a key
# or value, before a colon), spaces at the ends, a backslash, unicode and its spaces.
TRICKY = ["x", ":", '"', '":', ' "', " ", "\\", '\\"', "é", "日本", "\u00a0", "a b", ""]
TRICKY_KEYS = sorted({a + b + c for a in TRICKY for b in TRICKY for c in TRICKY} - {""})  # a pair names its key
TRICKY_VALUES = sorted({a + b for a in TRICKY for b in TRICKY})


def test_every_metadata_pair_is_written_so_that_it_reads_back_as_itself():
    """Property over every key of up to three tricky pieces and value of up to two: two different pairs are never
    written alike, so every one can be filtered on (`x:":y` holding `c` was once read as `x:` holding `y":c`)."""
    written = {}
    for key in TRICKY_KEYS:
        for value in TRICKY_VALUES:
            text = typed_pair(key, value)
            assert read_pair(text) == (key, value), text
            assert written.setdefault(text, (key, value)) == (key, value), text
    assert typed_pair('x:":y', "c") != typed_pair("x:", 'y":c')


@pytest.mark.parametrize(
    ("key", "value"), [('x:":y', "c"), ("x:", 'y":c'), ('"', '"'), ('a" :b', " v "), ("\\", '\\"'), ("é:日", "\u00a0")]
)
def test_a_tricky_pair_survives_the_canonical_query(key, value):
    spec = ExploreFilter(metadata=((key, (value,)),))
    assert parse(filter_query(spec)) == spec


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ('"a"b:c":v', ('a"b:c', "v")),
        ('"k:y":v', ("k:y", "v")),
        ('" plan" : pro', (" plan", "pro")),
        ("k:v", ("k", "v")),
    ],
)
def test_a_quoted_key_written_before_quotes_were_doubled_reads_as_it_did(typed, expected):
    """Saved views keep their canonical queries: a key holding a quote was written in quotes as it was."""
    assert read_pair(typed) == expected


@pytest.mark.parametrize(
    ("key", "value", "fits"),
    [('"' * 120, "v", False), ('"' * 98, "v", True), ('"' * 99, "v", False), ("k" * 198, "v", True)],
)
def test_a_metadata_pair_is_limited_as_links_write_it_with_a_quoted_keys_quotes_doubled(key, value, fits):
    """A pair's limit holds on its canonical query (what the page redirects to, links and saved views keep), where a
    quoted key's quotes are doubled: a key of 120 quotes takes 244 characters there."""
    spec = ExploreFilter(metadata=((key, (value,)),))
    written = typed_pair(key, value)
    if fits:
        assert len(written) <= 200 and parse(filter_query(spec)) == spec
        return
    with pytest.raises(InvalidFilter) as refused:
        parse(filter_query(spec))
    assert "at most 200" in refused.value.problems["meta"]


def test_a_pair_typed_short_that_a_link_writes_too_long_is_refused_as_typed():
    """Typed as before quotes were doubled (124 characters), the key `""…x` was read; the page then redirected to its
    canonical query (243 characters), which it refused with "at most 200 characters", more than was typed."""
    key = '"' * 119 + "x"
    with pytest.raises(InvalidFilter) as refused:
        parse(filter_query(ExploreFilter(), meta=f'"{key}":v'))
    assert "takes 243 characters as a link writes it" in refused.value.problems["meta"]


@pytest.mark.parametrize("query", ["disagree=yes", "disagree=no", "gold=correct:false", "theme=2026-W48.1"])
def test_an_expert_is_refused_the_experts_disagreement_either_way_as_a_gold_answer(query):
    """Experts label blind: `disagree=no` tells them as much as `yes` about how the others answered."""
    problems = blind_problems(parse(query))
    assert list(problems) == [query.partition("=")[0]] and problems[query.partition("=")[0]].startswith(
        "Experts label blind"
    )
    assert blind_problems(parse("labeled=no&flagged=no")) == {}


@pytest.mark.parametrize(
    ("stored", "read"),
    [(["refund", "vip", "refund"], {"refund", "vip"}), (["a", ["b"], {"c": 1}, 2, None], {"a"}), (None, set()),
     ({"refund": True}, set()), ("refund", set())],
)  # fmt: skip
def test_an_outputs_tags_are_read_once_each_and_only_as_strings(stored, read):
    """Every count of tags (facets, the filter bar, the movers, what changed) reads them alike: a tag counts once an
    output, and whatever is not a list of strings counts nothing rather than failing the page."""
    assert tags_of(stored) == read


@pytest.mark.parametrize(
    ("typed", "verdict"),
    [("pass", True), (" FAIL ", False), ("true", True), ("no", False), ("1", True), ("0", False), ("maybe", None)],
)
def test_one_reading_of_a_pass_fail_answer_serves_the_filter_and_the_pages_words(typed, verdict):
    """`gold=` typed answers (selectors.explore's `_typed_answer`) and the pages' pass/fail words read one rule: the
    filter repeated `verdict_word`'s map and its yes/no words."""
    from labeling.rules.explore import read_verdict, verdict_word

    assert read_verdict(typed) is verdict
    assert verdict_word(typed) == (None if verdict is None else "pass" if verdict else "fail")


@pytest.mark.parametrize(
    ("asked_now", "reads"),
    [
        ({"key": "correct", "kind": "binary"}, True),  # still yes/no, the verdict or not
        (None, True),  # no longer asked: read as the version that made it the verdict asked it
        ({"key": "correct", "kind": "text"}, False),
        ({"key": "correct", "kind": "choice", "options": ["all", "some"]}, False),
        ({"key": "correct", "kind": "rating", "scale": [1, 5]}, False),
    ],
)
def test_a_former_verdict_key_reads_as_a_verdict_unless_the_rubric_asks_it_now_as_another_kind(asked_now, reads):
    """`correct` was a version's verdict question: a pass or fail on it still reads as one while the rubric asks it as
    yes/no or not at all; asked now as another kind, explore reads it as the rubric asks it (the one rule of explore's
    gold filter, its refusal message and the meeting page's links)."""
    from labeling.rules.explore import reads_as_verdict

    questions_now = [{"key": "accurate", "kind": "binary"}, *([asked_now] if asked_now else [])]

    assert reads_as_verdict("correct", questions_now) is reads
    assert reads_as_verdict("accurate", questions_now) is True


@pytest.mark.parametrize(
    ("parameter", "field"),
    [("model", "models"), ("tag", "tags"), ("has_meta", "metadata_keys"), ("event", "events"), ("session", "session")],
)
@pytest.mark.parametrize(
    ("value", "fits"),
    [("x" * 200, True), (" " + "x" * 198 + " ", True), ('"' + "x" * 198 + '"', True), (" " + "x" * 199 + " ", False)],
)
def test_a_value_matched_as_stored_is_read_back_from_its_link_up_to_the_limit_as_read(parameter, field, value, fits):
    """A value whose spaces or quotes at its ends count is written in quotes, 2 characters more, and read off again:
    any value ingest takes (200 characters) is a link that reloads it (a pair, read as written, is limited so)."""
    spec = ExploreFilter(**{field: value if field == "session" else (value,)})
    assert value_fits(value) is fits
    if fits:
        assert parse(filter_query(spec)) == spec
        return
    with pytest.raises(InvalidFilter) as refused:
        parse(filter_query(spec))
    assert "at most 200 characters" in refused.value.problems[parameter]


@pytest.mark.parametrize(
    ("parameter", "key", "value"),
    [
        ("gold", "correct", "x" * 192),  # `correct:` and the answer: 200
        ("gold", "correct", "x" * 193),
        ("gold", "k" * 194, "false"),
        ("gold", "k" * 195, "false"),
        ("feedback", "", "down"),
        ("meta", "k" * 100, "v" * 99),
        ("meta", "k" * 100, "v" * 100),
        ("meta", "k:" + "k" * 97, "v"),  # in quotes: 102 characters of key
        ("model", "", " " + "x" * 198 + " "),
        ("model", "", " " + "x" * 199 + " "),
        ("tag", "", " " + "x" * 198 + " "),
        ("has_meta", "", "x" * 200),
    ],
)
def test_a_facet_lists_a_value_exactly_when_the_parser_takes_its_link(parameter, key, value):
    """`has_working_link` measures what the parser measures: a gold answer as its whole `key:answer` (it measured only
    the answer), a pair as `key:value`, a value matched as stored in quotes where spaces at its ends count."""
    try:
        parse_filter({parameter: [facet_filter(parameter, key, value)]})
    except InvalidFilter:
        taken = False
    else:
        taken = True
    assert has_working_link(parameter, key, value) is taken
