"""filter_outputs: each filter and each family of combinations against hand-computed outputs of a small shop
(tests/helpers/explore.py), with a twin project holding the same outputs that must never show; and the
filters that name something the project lacks."""

import pytest
from django.http import QueryDict

from labeling.exceptions import InvalidFilter
from labeling.models import UsageEvent
from labeling.rules.explore import parse_filter
from labeling.selectors.explore import filter_outputs
from tests.factories import ProjectFactory
from tests.helpers.explore import LABELED, NAMES, utc

pytestmark = pytest.mark.django_db

ALL = set(NAMES)
GOLDEN = set(LABELED)


def found(shop, query: str) -> set[str]:
    spec = parse_filter(QueryDict(query))
    return shop.names(filter_outputs(shop.project, spec).values_list("pk", flat=True))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ALL),
        # dates: days in the project's time zone; "a" is 23:59 on the 9th there, "b" midnight on the 10th
        ("from=2026-11-10", ALL - {"a"}),
        ("to=2026-11-09", {"a"}),
        ("from=2026-11-10&to=2026-11-10", {"b"}),
        ("from=2026-11-13&to=2026-11-14", {"g1", "over", "g2"}),
        ("from=2026-11-16", set()),
        # models
        ("model=gpt-4o", {"a", "b"}),
        ("model=gpt-4o-mini", {"c", "e"} | GOLDEN),
        ("model=gpt-4o&model=claude", {"a", "b"}),
        # tags: any (default) or all, compared exactly
        ("tag=billing", {"a", "b"}),
        ("tag=urgent", {"a", "c"}),
        ("tag=billing&tag=urgent", {"a", "b", "c"}),
        ("tag=billing&tag=urgent&tags=all", {"a"}),
        ("tag=Billing", {"e"}),
        ("tag=shipping&tags=all", {"c"} | GOLDEN),
        ("tag=none-such", set()),
        # metadata values, compared as text (a number as its digits, a bool as true/false), and keys
        ("meta=topic:billing", {"a", "b"}),
        ("meta=topic:billing&meta=topic:Billing", {"a", "b", "e"}),
        ("meta=latency_ms:120", {"a", "c"}),  # the number 120 and the string "120"
        ("meta=latency_ms:80", {"b"}),
        ("meta=vip:true", {"a"}),
        ("meta=vip:false", {"b"}),
        ("meta=0:zero", {"a"}),  # a digit-only key is a key, not an array index
        ("meta=0:0", {"e"}),
        ("meta=topic:", set()),
        ("meta=topic:billing&meta=vip:true", {"a"}),
        ("has_meta=latency_ms", {"a", "b", "c"}),
        ("has_meta=0", {"a", "e"}),
        ("has_meta=vip&has_meta=0", {"a"}),
        ("has_meta=topic", ALL - {"d"}),
        # people
        ("end_user=alice", {"a", "b"}),
        ("end_user=ALICE", set()),
        ("session=s2", {"c", "e"}),
        ("session=s3", GOLDEN),
        # feedback
        ("feedback=down", {"a"}),
        ("feedback=up&feedback=neutral", {"b", "c"}),
        ("feedback=none", {"d", "e"} | GOLDEN),
        ("feedback=down&feedback=none", {"a", "d", "e"} | GOLDEN),
        ("comment=yes", {"a", "c"}),
        ("comment=no", ALL - {"a", "c"}),
        # review: labels, queues, flags
        ("labeled=yes", GOLDEN),
        ("labeled=no", {"a", "b", "c", "d", "e"}),  # "a" and "c" are triage items nobody labeled yet
        ("queue=triage", {"a", "c"}),
        ("queue=sample&queue=triage", {"a", "c"} | GOLDEN),
        ("flagged=yes", {"g2"}),
        ("flagged=no", ALL - {"g2"}),
        # the experts disagreed on the verdict: "tie" and "fixed" (a lead's decision ends the tie, not the
        # disagreement); "over" was agreed on, a lead decided otherwise. Agreed: the labeled rest, not the outputs
        # no expert answered (they were found by `no` too, "No disagreement" being mostly unlabeled outputs)
        ("disagree=yes", {"tie", "fixed"}),
        ("disagree=no", GOLDEN - {"tie", "fixed"}),
        ("disagree=yes&gold=correct:false", {"fixed"}),
        # gold: a lead's adjudication wins, a tie is no answer
        ("gold=correct:true", {"g1"}),
        ("gold=correct:yes", {"g1"}),
        ("gold=correct:false", {"g2", "over", "fixed"}),
        ("gold=helpful:4", {"g1", "over"}),
        ("gold=helpful:3", {"tie", "fixed"}),
        ("gold=tone:friendly", {"g1", "over"}),
        ("gold=tone:curt", set()),
        ("gold=correct:false&gold=helpful:3", {"fixed"}),
        # output length in characters (string values only: b's "assistant" role counts, c's numbers do not)
        ("min_chars=30", {"a", "b", "e"}),
        ("max_chars=29", {"c", "d"} | GOLDEN),
        ("min_chars=29&max_chars=32", {"a", "c"}),
        ("max_chars=2", {"d"}),
        # search, as both databases read it (PostgreSQL's own semantics: test_explore_search.py)
        ("q=refund", {"a", "b"}),  # a's output and comment, b's chat message
        ("q=ORD-48213", {"c"}),
        ("q=fine", {"c"}),  # a feedback comment
        ("q=parcel+-friday", {"c"}),
        ("q=Zürich", {"e"}),
        ("q=s1", {"a", "b"}),  # a session id
        ("q=carol", {"e"}),  # an end user id
        # combinations, one per family
        ("from=2026-11-10&model=gpt-4o&tag=urgent", set()),  # date × model × tag: "a" is the day before
        ("to=2026-11-11&tag=urgent&meta=latency_ms:120", {"a", "c"}),
        ("session=s1&feedback=up&comment=no", {"b"}),
        ("labeled=yes&flagged=no&gold=correct:false", {"over", "fixed"}),
        ("queue=triage&labeled=no&min_chars=30", {"a"}),
        ("has_meta=0&tag=Billing&end_user=carol", {"e"}),
        ("q=refund&tag=billing&feedback=down", {"a"}),
        ("q=parcel&gold=correct:false&from=2026-11-14", {"g2", "fixed"}),
    ],
)
def test_each_filter_finds_exactly_its_outputs_in_this_project(shop, query, expected):
    assert found(shop, query) == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("queue=nope", "no queue 'nope'"),
        ("queue=sample&queue=nope", "no queue 'nope'"),
        ("gold=verdict:true", "No pass/fail, choice or rating question 'verdict'"),
        ("gold=issues:wrong", "No pass/fail, choice or rating question 'issues'"),  # multi-choice has no one answer
        ("gold=critique:x", "No pass/fail, choice or rating question 'critique'"),
        ("gold=correct:maybe", "'maybe' is not an answer to 'correct'"),
        ("gold=helpful:4.5", "'4.5' is not an answer to 'helpful'"),
        ("gold=helpful:--5", "'--5' is not an answer to 'helpful'"),
        ("gold=helpful:²", "'²' is not an answer to 'helpful'"),
        ("gold=tone:loud", "'loud' is not an answer to 'tone'"),
    ],
)
def test_a_queue_or_question_the_project_lacks_is_refused_naming_it(shop, query, message):
    spec = parse_filter(QueryDict(query))
    with pytest.raises(InvalidFilter) as refused:
        filter_outputs(shop.project, spec)
    assert message in refused.value.problems[next(iter(refused.value.problems))]


def test_a_project_without_a_rubric_refuses_every_gold_filter(shop):
    other = ProjectFactory(slug="no-rubric")
    with pytest.raises(InvalidFilter, match="use one of \\[\\]"):
        filter_outputs(other, parse_filter(QueryDict("gold=correct:true")))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("event=return_started", {"a", "b"}),  # alice's outputs; carol's event is another project's
        ("event=Return_started", set()),  # names compared as stored
        ("event=return_started&event=refund_asked", {"a", "b", "c"}),
        ("event=refund_asked&from=2026-11-11&to=2026-11-12", set()),  # bob's event was on the 14th
        ("event=refund_asked&from=2026-11-11&to=2026-11-14", {"c"}),
        ("event=return_started&tag=urgent", {"a"}),
        ("event=anonymous_visit", set()),  # an output without an end user is nobody's
        ("has_event=yes", {"a", "b", "c"}),  # any event
        ("has_event=no", ALL - {"a", "b", "c"}),
        ("has_event=yes&to=2026-11-12", {"a", "b"}),  # bob's only event came later
        ("has_event=yes&from=2026-11-13", set()),  # bob's event, but his output came before
    ],
)
def test_the_event_filter_finds_the_outputs_of_end_users_who_had_the_event_in_its_days(shop, query, expected):
    twin = ProjectFactory(slug="event-twin")
    for project, user, name, day in (
        (shop.project, "alice", "return_started", 10),
        (shop.project, "bob", "refund_asked", 14),
        (shop.project, "", "anonymous_visit", 12),
        (twin, "carol", "return_started", 12),
    ):
        UsageEvent.objects.create(
            project=project, end_user_id=user, name=name, occurred_at=utc(day, 15), received_at=utc(day, 15)
        )
    assert found(shop, query) == expected
