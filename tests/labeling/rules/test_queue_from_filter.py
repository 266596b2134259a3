"""An explore filter as a routing rule: what a rule can say is carried, everything else is named, never dropped."""

import pytest
from django.http import QueryDict

from labeling.demo.project import SAVED_VIEWS
from labeling.models import Output
from labeling.rules.explore import NOT_CONDITIONS, ExploreFilter, parse_filter
from labeling.rules.queue_from_filter import rule_from_filter
from labeling.selectors.explore import filter_outputs
from labeling.services.routing import rule_matches, validate_rule
from tests.factories import OutputFactory

GPT_NEXT = "gpt-4.1-mini-2025-04-14"


def translated(query: str):
    return rule_from_filter(parse_filter(QueryDict(query)))


@pytest.mark.parametrize(
    "query, rule",
    [
        # The demo's finding, as its saved view has it: the model's answers promising a refund date.
        (f'q="refund will arrive by"&model={GPT_NEXT}', {"text_any": ["refund will arrive by"], "models": [GPT_NEXT]}),
        ("q=refund will arrive", {"text_any": ["refund will arrive"]}),  # words searched together: one phrase
        ('q=refund OR "money back" OR REFUND', {"text_any": ["refund", "money back", "REFUND"]}),
        ("q=refund or -shipping refund", {"text_any": ["refund"]}),  # one phrase twice is once
        ("tag=billing&tag=vip", {"tags_any": ["billing", "vip"]}),
        ("tag=billing&tag=vip&tags=all", {"tags_all": ["billing", "vip"]}),
        ("feedback=down&feedback=neutral", {"feedback_scores": [-1, 0]}),
        ("comment=yes", {"has_comment": True}),
        ("comment=no", {"has_comment": False}),
        (
            "meta=plan:pro&meta=tier:3&meta=tier:x&meta=vip:true&meta=score:2.5&meta=code:007&meta=neg:-0",
            {
                "metadata": {
                    "plan": "pro",
                    "tier": ["3", 3, "x"],
                    "vip": ["true", True],
                    "score": ["2.5", 2.5],
                    "code": "007",
                    "neg": "-0",
                }
            },
        ),  # fmt: skip
        ('meta="region":" eu "', {"metadata": {"region": " eu "}}),
        ("", {}),
    ],
)
def test_what_a_rule_can_say_is_carried_and_nothing_is_named(query, rule):
    result = translated(query)

    assert result.rule == rule
    assert validate_rule(result.rule) == rule  # a rule the queue editor saves as it is
    if "-shipping" not in query:
        assert result.not_carried == ()


def test_the_carried_parts_say_what_became_which_rule_field():
    result = translated(f'q="refund will arrive by"&model={GPT_NEXT}&tag=billing&feedback=down&comment=yes')

    assert [(part.part, part.field) for part in result.carried] == [
        ('the search "refund will arrive by"', "text_any"),
        (f"the model {GPT_NEXT}", "models"),
        ("the tags any of billing", "tags_any"),
        ("the feedback down", "feedback_scores"),
        ("with a comment", "has_comment"),
    ]
    assert "not by word stems" in result.carried[0].note and "only" in result.carried[0].note


@pytest.mark.parametrize(
    "query, named",
    [
        ("from=2026-11-01&to=2026-11-30", "the date range (from 2026-11-01 to 2026-11-30)"),
        ("to=2026-11-30", "the date range (to 2026-11-30)"),
        ("has_meta=plan", "the metadata key plan being there"),
        ("end_user=u-42", "the end user u-42"),
        ("session=s-7", "the session s-7"),
        ("labeled=yes", "labeled"),
        ("labeled=no", "not labeled yet"),
        ("gold=correct:false", "the gold answers correct:false"),
        ("queue=thumbs-down&queue=sample", "being in the queue thumbs-down or sample"),
        ("flagged=yes", "flagged"),
        ("min_chars=10&max_chars=900", "the output length (at least 10 and at most 900 characters)"),
        ("theme=2026-W48.1", "the failure theme 2026-W48.1"),
        ("feedback=down&feedback=none", "the feedback down or none (a rule cannot ask for outputs without feedback)"),
        ("q=-shipping", "the search “-shipping” (no phrase can stand for it, as a phrase is found"),
        ("q=refund OR -shipping", "the search “refund OR -shipping”"),
        ("meta=topic:a|b", "the metadata topic: a|b (the queue editor separates values by |)"),
        ('meta="a=b":x', "the metadata a=b: x (the queue editor cannot write this key as a key=value line)"),
        ('meta="%23note":x', "the metadata #note: x (the queue editor cannot write this key"),
        ('tag="a,b"', "the tags any of a,b (the queue editor lists tags by commas, trimmed)"),
        ('model=" gpt"', "the model  gpt (the queue editor lists models by commas, trimmed)"),
        ("q=" + "+OR+".join(f"w{n}" for n in range(21)), "(as phrases, 21 phrases; use at most 20.)"),
        ("q=" + "x" * 201, "has 201 characters; use at most 200."),
        ('q="refund%0Awill"', "a phrase is one line"),
    ],
)
def test_what_a_rule_cannot_say_is_named_and_left_out(query, named):
    result = translated(query)

    assert any(named in part for part in result.not_carried), result.not_carried
    assert result.rule == {}
    assert result.carried == ()


def test_the_demos_saved_views_become_rules_whole():
    """The demo's finding (the new model's refund-date promises) and its other saved view carry over entirely."""
    for name, query in SAVED_VIEWS:
        result = translated(query)
        assert result.rule and result.not_carried == (), name
    assert translated(SAVED_VIEWS[0][1]).rule == {"text_any": ["refund will arrive by"], "models": [GPT_NEXT]}


def test_words_left_out_of_the_search_are_named_and_the_rest_carried():
    result = translated("q=refund -shipping -delay")

    assert result.rule == {"text_any": ["refund"]}
    assert result.not_carried == (
        "the words left out of the search, “-shipping”, “-delay” (a rule finds text, it cannot leave text out)",
    )


def test_every_part_of_a_filter_is_either_carried_or_named():
    """A filter using every parameter: each shows up on one side, none is dropped."""
    query = (
        "q=refund&from=2026-11-01&to=2026-11-30&model=gpt&tag=a&tags=all&meta=plan:pro&has_meta=k&end_user=u"
        "&session=s&feedback=down&comment=yes&labeled=no&gold=correct:false&queue=q&flagged=yes&min_chars=1"
        "&max_chars=9&theme=2026-W48.1&event=signup&has_event=no&disagree=yes"
    )
    result = translated(query)

    assert [part.field for part in result.carried] == [
        "text_any", "models", "tags_all", "metadata", "feedback_scores", "has_comment",
    ]  # fmt: skip
    # dates, has_meta, end user, session, labeled, disagree, gold, queue, flagged, length, theme, event, has_event
    assert len(result.not_carried) == 13
    assert "the experts disagreed" in result.not_carried
    assert set(ExploreFilter.__dataclass_fields__) - NOT_CONDITIONS == {
        "q", "since", "until", "models", "tags", "all_tags", "metadata", "metadata_keys", "end_user", "session",
        "feedback", "has_comment", "labeled", "disagree", "gold", "queues", "flagged", "min_chars", "max_chars",
        "theme", "events", "has_event",
    }, "a new filter field: carry it into the rule, or name it in not_carried"  # fmt: skip


@pytest.mark.postgres
def test_the_carried_metadata_finds_what_the_filter_found(project):
    """Explore compares metadata as text, a rule as JSON values: the translation lists the values the text stands
    for, so the queue finds the outputs the filter found (a number written with other digits aside)."""
    stored = [{"tier": 3}, {"tier": "3"}, {"tier": 3.5}, {"tier": "3.5"}, {"tier": 30}, {"vip": True},
              {"vip": "true"}, {"vip": 1}, {"code": "007"}, {"code": 7}, {"plan": "pro"}, {"plan": "Pro"},
              {}]  # fmt: skip
    for metadata in stored:
        OutputFactory(project=project, metadata=metadata)
    outputs = list(Output.objects.filter(project=project))
    for query in ("meta=tier:3", "meta=tier:3.5", "meta=vip:true", "meta=code:007", "meta=plan:pro", "meta=tier:30"):
        spec = parse_filter(QueryDict(query))
        found = set(filter_outputs(project, spec).values_list("pk", flat=True))
        rule = validate_rule(rule_from_filter(spec).rule)
        assert {output.pk for output in outputs if rule_matches(rule, output)} == found, query
