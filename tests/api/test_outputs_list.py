"""GET /api/v1/outputs and /api/v1/outputs/facets: the explore filters over the key's project, cursor-paged,
against hand-computed expected ids; bad parameters are 400s naming them; another project never shows."""

from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

import pytest
from django.db import transaction

from labeling.models import Queue, UsageEvent
from labeling.rules.explore import PARAMETERS
from labeling.services.api_keys import create_api_key
from labeling.services.labels import flag_item
from labeling.services.routing import route_outputs
from labeling.services.rubrics import publish_rubric
from labeling.services.search_index import index_outputs
from tests.conftest import Api
from tests.factories import OutputFactory, ProjectFactory
from tests.helpers.labeling import AGREE, TIE, label_outputs
from tests.helpers.rubrics import QUESTIONS

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

URL = "/api/v1/outputs"


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


# The project is in Los Angeles (UTC-8 in November): `refund-date` happened on 10 November in UTC but on the
# 9th there. `delayed` and `menu` share a moment, as do out-00000 and out-00001 (ties for the cursor).
PLAIN = {
    "refund-date": dict(
        occurred_at=at(10, 7), model="gpt-4o", tags=["billing", "refund"], session_id="s-1", end_user_id="u-1",
        metadata={"topic": "billing", "latency_ms": 900, "vip": True}, feedback_score=-1, feedback_comment="wrong date",
        output="Your refund will arrive by 14 March, I promise.",  # 47 characters
    ),
    "refunded": dict(
        occurred_at=at(10, 9), model="gpt-4o-mini", tags=["billing"], session_id="s-1", end_user_id="u-1",
        metadata={"topic": "billing", "latency_ms": 300}, feedback_score=1,
        output="Your payment was refunded yesterday.",  # 36
    ),
    "order": dict(
        occurred_at=at(11, 12), model="gpt-4o-mini", tags=["shipping"], session_id="s-2", end_user_id="u-2",
        metadata={"topic": "shipping", "locale": "en-GB"},
        output="Order ORD-48213 left the warehouse.",  # 35
    ),
    "delayed": dict(
        occurred_at=at(12, 12), model="gpt-4o", tags=["shipping", "refund"], session_id="s-3", end_user_id="u-2",
        metadata={"topic": "shipping"}, feedback_score=0, feedback_comment="meh",
        output="Order ORD-48214 is delayed; a refund is possible.",  # 49
    ),
    "menu": dict(
        occurred_at=at(12, 12), model="claude-3", tags=[], session_id="s-4", end_user_id="u-3",
        output="The crème brûlée is back on the menu.",  # 37 characters, 40 bytes
    ),
}  # fmt: skip
# Labeled through the real services (tests/helpers/labeling.py): "Parcel n arrives Friday." (24 characters),
# gpt-4o-mini, tag shipping, metadata topic=shipping, no feedback, all in the queue `sample`.
GOLD_TRUE, TIED, GOLD_FALSE = {"out-00000", "out-00001"}, {"out-00002"}, {"out-00003"}
LABELED = GOLD_TRUE | TIED | GOLD_FALSE
FLAGGED = {"out-00001"}
ALL = set(PLAIN) | LABELED
NEWEST_FIRST = [
    "out-00003", "out-00002", "out-00001", "out-00000", "menu", "delayed", "order", "refunded", "refund-date",
]  # fmt: skip


@pytest.fixture(scope="module")
def shop(django_db_setup, django_db_blocker):
    """Project `shop` (the data above) and `twin` (the same plain outputs), made once for the module inside a
    transaction that is rolled back at its end; each test's own writes roll back to a savepoint."""
    with django_db_blocker.unblock(), transaction.atomic():
        projects = {}
        for slug in ("shop", "twin"):
            project = ProjectFactory(slug=slug, time_zone="America/Los_Angeles")
            made = [
                OutputFactory(project=project, external_id=name, input="Hi", **fields) for name, fields in PLAIN.items()
            ]
            index_outputs(project_id=project.pk, output_ids=[output.pk for output in made])
            projects[slug] = project
        project = projects["shop"]
        items = label_outputs(project, 2, answers=AGREE, start=0, occurred_at=at(13, 12))
        label_outputs(project, 1, answers=TIE, start=2, occurred_at=at(14, 12))
        wrong = {"correct": False, "helpful": 2, "tone": "curt"}
        label_outputs(project, 1, answers=(wrong, wrong), start=3, occurred_at=at(15, 12))
        flag_item(expert=items[1].labels.first().expert, item=items[1], note="Discuss this one.")
        # `order` goes to both queues (empty rules match every output); nobody labels it.
        Queue.objects.create(project=project, slug="backlog", name="Backlog")
        route_outputs(project_id=project.pk, output_ids=[project.outputs.get(external_id="order").pk])
        yield {
            "project": project,
            "twin": projects["twin"],
            "read": create_api_key(project=project, name="reader", scopes=["read"]).secret,
            "ingest": create_api_key(project=project, name="app", scopes=["ingest"]).secret,
            "twin_read": create_api_key(project=projects["twin"], name="twin", scopes=["read"]).secret,
        }
        transaction.set_rollback(True)


@pytest.fixture
def reader(client, shop):
    return Api(client, shop["read"])


def listed(api: Api, params) -> list[str]:
    response = api.get(f"{URL}?{urlencode(params, doseq=True)}")
    assert response.status_code == 200, response.json()
    return [output["external_id"] for output in response.json()["results"]]


CASES = {
    # one filter each
    "no filter": ({}, ALL),
    "q: stems": ({"q": "refund"}, {"refund-date", "refunded", "delayed"}),
    "q: an order number exactly": ({"q": "ORD-48213"}, {"order"}),
    "q: a session id": ({"q": "s-1"}, {"refund-date", "refunded"}),
    "q: a phrase": ({"q": '"refund will arrive"'}, {"refund-date"}),
    "q: -word": ({"q": "refund -promise"}, {"refunded", "delayed"}),
    "from: the project's day": ({"from": "2026-11-10"}, ALL - {"refund-date"}),
    "to: the 9th there, the 10th in UTC": ({"to": "2026-11-09"}, {"refund-date"}),
    "one day": ({"from": "2026-11-10", "to": "2026-11-10"}, {"refunded"}),
    "model": ({"model": "gpt-4o"}, {"refund-date", "delayed"}),
    "models": ({"model": ["gpt-4o", "claude-3"]}, {"refund-date", "delayed", "menu"}),
    "tag": ({"tag": "refund"}, {"refund-date", "delayed"}),
    "tags: any": ({"tag": ["billing", "refund"]}, {"refund-date", "refunded", "delayed"}),
    "tags: all": ({"tag": ["billing", "refund"], "tags": "all"}, {"refund-date"}),
    "meta: value": ({"meta": "topic:billing"}, {"refund-date", "refunded"}),
    "meta: values of one key": ({"meta": ["topic:billing", "topic:shipping"]}, ALL - {"menu"}),
    "meta: a number as text": ({"meta": "latency_ms:900"}, {"refund-date"}),
    "meta: true as text": ({"meta": "vip:true"}, {"refund-date"}),
    "meta: two keys": ({"meta": ["topic:billing", "latency_ms:300"]}, {"refunded"}),
    "has_meta": ({"has_meta": "latency_ms"}, {"refund-date", "refunded"}),
    "meta and has_meta": ({"meta": "topic:shipping", "has_meta": "locale"}, {"order"}),
    "end_user": ({"end_user": "u-2"}, {"order", "delayed"}),
    "session": ({"session": "s-3"}, {"delayed"}),
    "feedback: down": ({"feedback": "down"}, {"refund-date"}),
    "feedback: up": ({"feedback": "up"}, {"refunded"}),
    "feedback: neutral": ({"feedback": "neutral"}, {"delayed"}),
    "feedback: none": ({"feedback": "none"}, {"order", "menu"} | LABELED),
    "feedback: up or none": ({"feedback": ["up", "none"]}, {"refunded", "order", "menu"} | LABELED),
    "comment: yes": ({"comment": "yes"}, {"refund-date", "delayed"}),
    "comment: no": ({"comment": "no"}, ALL - {"refund-date", "delayed"}),
    "feedback and comment": ({"feedback": ["none", "down"], "comment": "no"}, {"order", "menu"} | LABELED),
    "labeled": ({"labeled": "yes"}, LABELED),
    "not labeled": ({"labeled": "no"}, set(PLAIN)),
    "flagged": ({"flagged": "yes"}, FLAGGED),
    "not flagged": ({"flagged": "no"}, ALL - FLAGGED),
    "flagged: true": ({"flagged": "true"}, FLAGGED),
    "not labeled: false": ({"labeled": "FALSE"}, set(PLAIN)),
    "the experts disagreed": ({"disagree": "yes"}, TIED),
    "the experts agreed": ({"disagree": "no"}, LABELED - TIED),  # not the unlabeled outputs: no agreement either way
    "disagreed and gold": ({"disagree": "true", "gold": "correct:true"}, set()),  # a tie has no gold answer
    "comment: 1": ({"comment": "1"}, {"refund-date", "delayed"}),
    "comment: 0": ({"comment": "0"}, ALL - {"refund-date", "delayed"}),
    "queue": ({"queue": "sample"}, LABELED | {"order"}),
    "queue: other": ({"queue": "backlog"}, {"order"}),
    "queues": ({"queue": ["backlog", "sample"]}, LABELED | {"order"}),
    "gold: true": ({"gold": "correct:true"}, GOLD_TRUE),
    "gold: yes means true": ({"gold": "correct:yes"}, GOLD_TRUE),
    "gold: 1 means true": ({"gold": "correct:1"}, GOLD_TRUE),
    "gold: a rating at the top of its scale": ({"gold": "helpful:5"}, set()),
    "gold: false": ({"gold": "correct:false"}, GOLD_FALSE),
    "gold: a rating": ({"gold": "helpful:2"}, GOLD_FALSE),
    "gold: a choice": ({"gold": "tone:curt"}, GOLD_FALSE),
    "gold: two questions": ({"gold": ["correct:false", "tone:curt"]}, GOLD_FALSE),
    "gold: two questions, one differs": ({"gold": ["correct:true", "tone:curt"]}, set()),
    "min_chars": ({"min_chars": "40"}, {"refund-date", "delayed"}),
    "max_chars": ({"max_chars": "30"}, LABELED),
    "chars, not bytes": ({"min_chars": "35", "max_chars": "37"}, {"order", "refunded", "menu"}),
    # combinations
    "q and model": ({"q": "refund", "model": "gpt-4o"}, {"refund-date", "delayed"}),
    "q and tag": ({"q": "refund", "tag": "shipping"}, {"delayed"}),
    "q, feedback and day": ({"q": "refund", "feedback": "down", "to": "2026-11-09"}, {"refund-date"}),
    "q and meta": ({"q": "order", "meta": "locale:en-GB"}, {"order"}),
    "queue and not labeled": ({"queue": "sample", "labeled": "no"}, {"order"}),
    "gold and not flagged": ({"gold": "correct:true", "flagged": "no"}, {"out-00000"}),
    "queue and labeled": ({"queue": "backlog", "labeled": "yes"}, set()),
    "labeled and a day": ({"labeled": "yes", "from": "2026-11-14"}, TIED | GOLD_FALSE),
}


@pytest.mark.parametrize(("params", "expected"), CASES.values(), ids=CASES.keys())
def test_each_filter_finds_the_expected_outputs(reader, params, expected):
    found = listed(reader, params)

    assert set(found) == expected
    assert found == [name for name in NEWEST_FIRST if name in expected]  # newest first


def test_the_response_is_the_documented_shape(reader, shop):
    body = reader.get(f"{URL}?q=ORD-48213").json()

    assert body["next"] is None and body["total"] == 1 and body["total_estimated"] is False
    (output,) = body["results"]
    assert output["output"] == "Order ORD-48213 left the warehouse."
    assert output["metadata"] == {"topic": "shipping", "locale": "en-GB"}


def test_the_other_project_with_the_same_texts_never_shows(client, shop):
    """Each key reads its own project only: the twin's key sees its five outputs, never the shop's."""
    for secret, expected in ((shop["read"], ALL), (shop["twin_read"], set(PLAIN))):
        api = Api(client, secret)
        assert set(listed(api, {})) == expected
        assert set(listed(api, {"q": "refund"})) == {"refund-date", "refunded", "delayed"}
    twin = Api(client, shop["twin_read"])
    assert listed(twin, {"labeled": "yes"}) == []
    assert twin.get(f"{URL}?queue=sample").status_code == 400  # the shop's queue is not the twin's
    assert twin.get(f"{URL}/facets").json()["total"] == len(PLAIN)


@pytest.mark.parametrize("size", [1, 2, 4])
def test_cursor_paging_walks_everything_once_in_order(reader, size):
    walked, url, pages = [], f"{URL}?page_size={size}", 0
    while url:
        body = reader.get(url).json()
        assert body["total"] == len(ALL)
        walked += [output["external_id"] for output in body["results"]]
        url = body["next"] and urlsplit(body["next"])._replace(scheme="", netloc="").geturl()
        pages += 1

    assert walked == NEWEST_FIRST
    assert pages == -(-len(ALL) // size)


def test_the_next_link_keeps_the_filter(reader):
    body = reader.get(f"{URL}?tag=shipping&q=order&page_size=1").json()
    following = reader.get(urlsplit(body["next"])._replace(scheme="", netloc="").geturl()).json()

    assert [o["external_id"] for o in body["results"] + following["results"]] == ["delayed", "order"]
    assert following["next"] is None


BAD = {
    "unknown filter": ("colour=red", "colour", "Unknown parameter: use `q`, `from`"),
    "a typo of a filter": ("tagz=billing", "tagz", "`cursor`, `page_size`, `project`."),
    "bad date": ("from=10/11/2026", "from", "not a date"),
    "to before from": ("from=2026-11-10&to=2026-11-09", "to", "before the first day"),
    "bad feedback": ("feedback=meh", "feedback", "not one of"),
    "bad yes/no": ("labeled=maybe", "labeled", "'maybe' is not yes or no: use yes, true or 1, or no, false or 0."),
    "bad tags mode": ("tags=some", "tags", "`any` or `all`"),
    "meta without a colon": ("meta=topic", "meta", "key:value"),
    "negative length": ("min_chars=-1", "min_chars", "whole number"),
    "unknown queue": ("queue=nope", "queue", "no queue"),
    "unknown gold question": ("gold=nope:true", "gold", "No pass/fail"),
    "bad gold answer": ("gold=correct:perhaps", "gold", "not an answer"),
    "gold rating above its scale": ("gold=helpful:9", "gold", "'9' is not an answer to 'helpful': use 1 to 5."),
    "gold rating below its scale": ("gold=helpful:0", "gold", "'0' is not an answer to 'helpful': use 1 to 5."),
    "only stop words": ("q=the", "q", "Nothing to search for"),
    "NUL": ("q=refund%00", "q", "NUL"),
    "disagree: not yes or no": ("disagree=often", "disagree", "is not yes or no"),
    "a long search": ("q=" + "refund+" * 1500, "q", "at most 500 characters"),
    "bad cursor": ("cursor=not-a-cursor", "cursor", "not handed out by this endpoint"),
    "NUL in a cursor": ("cursor=a%00b", "cursor", "NUL"),
    "page size 0": ("page_size=0", "page_size", "1 to 200"),
    "page size too big": ("page_size=201", "page_size", "1 to 200"),
    "page size not a number": ("page_size=1e3", "page_size", "1 to 200"),
    # Past Python's 4,300-digit limit for int(): was a ValueError, a 500.
    "page size of 5,000 digits": ("page_size=" + "9" * 5000, "page_size", "1 to 200"),
}


@pytest.mark.parametrize(("query", "field", "message"), BAD.values(), ids=BAD.keys())
def test_bad_parameters_are_400s_naming_them(reader, query, field, message):
    response = reader.get(f"{URL}?{query}")

    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["field"] == field and error["index"] is None
    assert message in error["message"]


def test_facets_refuse_bad_filters_and_list_parameters(reader):
    """A parameter the endpoint does not take is refused before any value is read."""
    unknown = reader.get(f"{URL}/facets?feedback=meh&cursor=abc").json()["errors"]
    bad = reader.get(f"{URL}/facets?feedback=meh").json()["errors"]

    assert [error["field"] for error in unknown] == ["cursor"]
    assert [error["field"] for error in bad] == ["feedback"]


@pytest.mark.parametrize(
    "q", ["'", "\\", ":*", "a:*b", "!", "&|", '"unbalanced', "(((", "refund & | !", "' OR 1=1 --", "x" * 500]
)
def test_hostile_searches_answer_results_or_a_400(reader, q):
    response = reader.get(f"{URL}?{urlencode({'q': q})}")

    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert response.json()["errors"][0]["field"] == "q"


def test_a_forged_cursor_far_in_the_past_or_future_is_a_400(reader):
    import base64

    for moment in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        cursor = base64.urlsafe_b64encode(f"{moment}|999999999999999999".encode()).decode()
        response = reader.get(f"{URL}?cursor={cursor}")
        assert response.status_code == 400, response.json()
        assert "not handed out by this endpoint" in response.json()["errors"][0]["message"]


def test_it_needs_the_read_scope(client, shop):
    ingest_only = Api(client, shop["ingest"])

    for path in (URL, f"{URL}/facets"):
        response = ingest_only.get(path)
        assert response.status_code == 403
        assert "read" in response.json()["errors"][0]["message"]
        assert Api(client, None).get(path).status_code == 401


def test_a_read_key_still_cannot_ingest_on_the_same_path(reader):
    response = reader.post(URL, {"outputs": []})

    assert response.status_code == 403
    assert "ingest" in response.json()["errors"][0]["message"]


def test_facets_count_the_filtered_outputs(reader):
    body = reader.get(f"{URL}/facets?tag=billing").json()

    assert (body["total"], body["sample"], body["estimated"]) == (2, 2, False)
    facets = {(facet["parameter"], facet["key"]): facet for facet in body["facets"]}
    counts = {key: {v["value"]: v["count"] for v in facet["values"]} for key, facet in facets.items()}
    assert counts[("model", "")] == {"gpt-4o": 1, "gpt-4o-mini": 1}
    assert counts[("tag", "")] == {"billing": 2, "refund": 1}
    assert counts[("feedback", "")] == {"down": 1, "up": 1}
    assert counts[("meta", "topic")] == {"billing": 2}
    (length,) = body["histograms"]  # latency_ms has two values: too few for a histogram
    assert length["title"] == "Output length (characters)"
    assert sum(b["count"] for b in length["bins"]) == 2 and set(length["percentiles"]) == {"p50", "p90", "p99"}
    assert length["bins"][0]["low"] == 36


def test_facets_read_the_extreme_doubles_and_leave_out_a_number_no_double_holds(reader, shop):
    """Ingest refuses a metadata integer past a double's range; one stored before that rule is left out of the
    histogram, and doubles a whole range apart (whose difference is no double) still make one."""
    for n, tokens in enumerate([10**309, 1e308, -1e308, 5, 6, 7]):
        OutputFactory(project=shop["project"], external_id=f"tokens-{n}", metadata={"tokens": tokens}, tags=["t"])

    response = reader.get(f"{URL}/facets?tag=t")

    assert response.status_code == 200, response.content
    (tokens,) = [h for h in response.json()["histograms"] if h["title"] == "tokens"]
    assert sum(b["count"] for b in tokens["bins"]) == 5
    counts = [b["count"] for b in tokens["bins"]]
    assert (tokens["bins"][0]["low"], tokens["bins"][-1]["high"]) == (-1e308, 1e308)
    assert (counts[0], counts[len(counts) // 2], counts[-1]) == (1, 3, 1)  # -1e308; 5, 6 and 7; 1e308


def test_facets_show_gold_verdicts_and_feed_the_list(reader):
    facets = reader.get(f"{URL}/facets?labeled=yes").json()["facets"]

    (gold,) = [facet for facet in facets if facet["parameter"] == "gold"]
    assert {v["value"]: v["count"] for v in gold["values"]} == {"true": 2, "false": 1}
    value = next(v["value"] for v in gold["values"] if v["count"] == 1)
    assert set(listed(reader, {"gold": f"{gold['key']}:{value}"})) == GOLD_FALSE


def test_an_output_named_facets_is_found_by_the_list(reader, shop):
    OutputFactory(project=shop["project"], external_id="facets", output="Anything at all.")

    assert "facets" in listed(reader, {"q": "facets"})
    assert "results" not in reader.get(f"{URL}/facets").json()  # the path is the facets endpoint


@pytest.mark.parametrize("query", ["", "?tag=billing"])
def test_facets_with_a_trailing_slash_is_the_slip_every_endpoint_answers_not_an_output_id(reader, query):
    """`/api/v1/outputs/facets/` read as the output whose external id is "facets/": a 404 about no such output, or
    with a filter a 400 calling `tag` unknown. A slash after an endpoint is no route (POST /api/v1/outputs/ is a 404
    saying "Did you mean /api/v1/outputs?"), and so it is here."""
    response = reader.get(f"{URL}/facets/{query}")

    assert response.status_code == 404
    [error] = response.json()["errors"]
    assert error["message"].startswith("No API endpoint has this URL")
    assert "Did you mean /api/v1/outputs/facets?" in error["message"]


def test_an_output_id_that_only_starts_or_ends_like_facets_is_still_an_output(reader, shop):
    for external_id in ("facets/x", "my-facets/", "facets//"):
        OutputFactory(project=shop["project"], external_id=external_id)

        response = reader.get(f"{URL}/{external_id}")

        assert response.status_code == 200, external_id
        assert response.json()["external_id"] == external_id


@pytest.mark.parametrize(
    ("params", "queries"),
    [
        # key, the page, the bounded count in its own savepoint with a time budget (savepoint, budget set,
        # count, budget reset, release)
        ({}, 7),
        # + the search's "anything to search for?" check
        ({"q": "refund"}, 8),
        # + the queue's and the gold question's lookups
        ({"queue": "sample", "gold": "correct:true"}, 9),
    ],
)
def test_the_list_query_count_does_not_grow_with_the_page(reader, django_assert_num_queries, params, queries):
    reader.get(URL)  # the key's last use is written at most once a minute: here, before counting
    for size in (1, 200):
        with django_assert_num_queries(queries):
            listed(reader, {**params, "page_size": size})


def test_the_facets_query_count_is_pinned(reader, django_assert_num_queries):
    reader.get(URL)
    # key, the sample, the rubric's verdict question, the gold of the sample
    with django_assert_num_queries(4):
        assert reader.get(f"{URL}/facets").status_code == 200


def test_every_filter_parameter_is_documented_in_the_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    paths = (("/api/v1/outputs", {"cursor", "page_size", "project"}), ("/api/v1/outputs/facets", {"project"}))
    for path, extra in paths:
        operation = schema["paths"][path]["get"]
        documented = {p["name"]: p.get("description", "") for p in operation["parameters"] if p["in"] == "query"}
        assert set(documented) == set(PARAMETERS) | extra
        assert all(documented[name] == help_text for name, help_text in PARAMETERS.items())
        schemas = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "query"}
        assert schemas["disagree"]["enum"] == schemas["labeled"]["enum"]  # yes/no and their other words
        assert {"200", "400", "403"} <= set(operation["responses"])
    assert "post" in schema["paths"]["/api/v1/outputs"]  # ingest kept its place
    assert "facets" in schema["paths"]["/api/v1/outputs/{external_id}"]["get"]["description"]


def test_the_gold_filters_help_says_a_pass_on_a_verdict_needs_no_fail_elsewhere(client):
    """`gold=correct:true` leaves out an output that passed in one queue and failed in another (rules.gold's one
    rule, `verdict_keys`): the help said only "the gold answer to a rubric question"."""
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    parameters = schema["paths"]["/api/v1/outputs"]["get"]["parameters"]
    gold = next(p["description"] for p in parameters if p["name"] == "gold")

    assert "needs no fail on it in another queue or week" in gold
    assert "earlier version's" in gold  # a closed week's verdict question counts as one too


def test_a_metadata_key_whose_filter_would_be_too_long_is_a_400_not_a_link_that_fails(client, shop):
    """A key of 120 quotes is written with 240 in its filter (`"` doubled in a quoted key): the facets offered that
    244-character filter, which the list then refused; typed undoubled (124 characters) the list answered, and its
    next page, whose cursor link holds the canonical pair, was refused."""
    record = {"external_id": "quotes", "output": "x", "tags": ["quotes"], "metadata": {'"' * 120: "v", "k": "w"}}
    assert Api(client, shop["ingest"]).post(URL, {"outputs": [record]}).json()["created"] == 1
    reader = Api(client, shop["read"])

    facets = reader.get(f"{URL}/facets?tag=quotes").json()["facets"]
    undoubled = '"' + '"' * 119 + 'x":v'  # the key `""…x` (120 characters), its quotes not doubled
    typed = reader.get(f"{URL}?{urlencode({'meta': undoubled})}")

    offered = {f["key"]: [v["filter"] for v in f["values"]] for f in facets if f["parameter"] == "meta"}
    assert offered.get('"' * 120, []) == [] and offered["k"] == ["k:w"]  # every value listed has a working filter
    assert typed.status_code == 400
    assert typed.json()["errors"][0]["field"] == "meta"
    assert "takes 243 characters as a link writes it" in typed.json()["errors"][0]["message"]


def test_a_value_ingest_stored_with_spaces_at_its_ends_is_found_by_the_facet_that_counts_it(client, shop):
    """Ingest keeps models, tags, ids and metadata values as sent, spaces included, and a typed filter value is read
    without the spaces at its ends: each facet value comes with its `filter`, quoted where those spaces count, which
    finds exactly the outputs it counts."""
    record = {"external_id": "odd-ends", "output": "x", "model": "gpt-4o ", "tags": [" vip", "spaced"],
              "session_id": " s-9", "end_user_id": "u-9 ",
              "metadata": {"topic": " billing", " plan": "pro"}}  # fmt: skip
    assert Api(client, shop["ingest"]).post(URL, {"outputs": [record]}).json()["created"] == 1
    reader = Api(client, shop["read"])

    facets = reader.get(f"{URL}/facets?tag=spaced").json()["facets"]

    offered = {(f["parameter"], f["key"], v["value"], v["filter"]) for f in facets for v in f["values"]}
    assert {
        ("model", "", "gpt-4o ", '"gpt-4o "'),
        ("tag", "", " vip", '" vip"'),
        ("tag", "", "spaced", "spaced"),
        ("meta", "topic", " billing", 'topic:" billing"'),
    } <= offered
    for parameter, _key, value, typed in offered - {("feedback", "", "none", "none")}:
        assert listed(reader, {parameter: typed}) == ["odd-ends"], (parameter, value)
    for params in ({"session": '" s-9"'}, {"end_user": '"u-9 "'}, {"has_meta": '" plan"'}, {"meta": '" plan":pro'}):
        assert listed(reader, params) == ["odd-ends"], params
    # Unquoted, a value is read without the spaces at its ends: another tag, model or id, which no output has.
    for params in ({"tag": " vip"}, {"model": "gpt-4o "}, {"meta": "topic: billing"}, {"session": " s-9"}):
        assert "odd-ends" not in listed(reader, params), params


@pytest.mark.parametrize("number", [1e16, 1e-07, 1.5e-05, 0.1, 1 / 3, 2.0, 12, 10**15])
def test_a_metadata_number_facet_finds_the_outputs_it_counts(client, shop, number):
    """A key holding text and numbers lists its numbers as values, written as the filter reads them: a number as
    PostgreSQL writes it (0.0000001, not Python's 1e-07), so its `meta=` finds the outputs it counts."""
    records = [{"external_id": f"n-{n}", "output": "x", "tags": ["numbers"], "metadata": {"score": value}}
               for n, value in enumerate(["high", number, number])]  # fmt: skip
    assert Api(client, shop["ingest"]).post(URL, {"outputs": records}).json()["created"] == 3
    reader = Api(client, shop["read"])

    facets = reader.get(f"{URL}/facets?tag=numbers").json()["facets"]

    (score,) = [facet for facet in facets if facet["parameter"] == "meta" and facet["key"] == "score"]
    counted = {value["value"]: value["count"] for value in score["values"]}
    assert counted.pop("high") == 1 and list(counted.values()) == [2]
    (value,) = counted
    assert sorted(listed(reader, {"meta": f"score:{value}"})) == ["n-1", "n-2"]


def test_a_gold_rating_is_checked_against_the_scale_of_every_rubric_version(reader, shop):
    """A rating outside the scale found nothing (a 200 with no results) where a bad yes/no was a 400; a scale that
    shrank in a later version still finds the answers given on the older one."""
    narrowed = [{**question, "scale": [1, 3]} if question["key"] == "helpful" else question for question in QUESTIONS]
    publish_rubric(project=shop["project"], questions=narrowed)

    older_answer = reader.get(f"{URL}?gold=helpful:5")
    outside_both = reader.get(f"{URL}?gold=helpful:6")

    assert older_answer.status_code == 200, older_answer.content
    assert outside_both.status_code == 400
    assert outside_both.json()["errors"] == [
        {"index": None, "field": "gold", "message": "'6' is not an answer to 'helpful': use 1 to 5."}
    ]


def test_the_event_filter_finds_the_outputs_of_end_users_who_had_the_event(reader, shop):
    """As the meeting page's link to a usage event's change: the outputs of the end users behind the events."""
    for project, user in ((shop["project"], "u-2"), (shop["twin"], "u-1")):
        UsageEvent.objects.create(
            project=project, end_user_id=user, name="return_started", occurred_at=at(12, 9), received_at=at(12, 9)
        )

    assert set(listed(reader, {"event": "return_started"})) == {"order", "delayed"}
    assert listed(reader, {"event": "return_started", "to": "2026-11-11"}) == []  # the event came on the 12th
    assert set(listed(reader, {"has_event": "yes"})) == {"order", "delayed"}
    assert reader.get(f"{URL}?has_event=maybe").json()["errors"][0]["field"] == "has_event"
    assert reader.get(f"{URL}?event={'x' * 201}").json()["errors"][0]["field"] == "event"


def test_facets_leave_out_a_metadata_value_or_tag_too_long_to_be_a_category(reader, shop):
    """A 4 MB metadata string is no category: the facets (value, label and filter each) would carry it three times.
    Values longer than a filter value may be are left out; the short values of the same key are still counted."""
    long = "x" * 4_000_000
    for n, topic in enumerate([long, long, "short"]):
        OutputFactory(project=shop["project"], external_id=f"long-{n}", metadata={"topic": topic}, tags=["t", long])

    response = reader.get(f"{URL}/facets?tag=t")

    assert response.status_code == 200
    assert len(response.content) < 10_000
    facets = response.json()["facets"]
    counts = {(f["parameter"], f["key"]): {v["value"]: v["count"] for v in f["values"]} for f in facets}
    assert counts[("meta", "topic")] == {"short": 1}
    assert counts[("tag", "")] == {"t": 3}


def test_an_unknown_external_id_is_a_404_naming_it(reader, shop):
    response = reader.get(f"{URL}/does-not-exist")

    assert response.status_code == 404
    [error] = response.json()["errors"]
    assert error["message"] == "No output with external id 'does-not-exist' in this project."


def test_an_external_id_with_a_slash_added_is_a_404_naming_the_url_of_the_output_meant(reader, shop):
    """`GET /api/v1/outputs/menu/` looked up the external id "menu/" and said only that there was none: a client that
    adds a slash after every path saw its output as missing. The id is any text, so the slash stays part of it (a
    redirect would hide a later output "menu/"), and the 404 names the URL of the output the id without it is."""
    response = reader.get(f"{URL}/menu/")

    assert response.status_code == 404
    [error] = response.json()["errors"]
    assert error["message"] == (
        "No output with external id 'menu/' in this project (a slash at the end of the URL is part of the id). "
        "Did you mean /api/v1/outputs/menu?"
    )
    OutputFactory(project=shop["twin"], external_id="only-in-twin")
    assert "Did you mean" not in reader.get(f"{URL}/only-in-twin/").json()["errors"][0]["message"]

    OutputFactory(project=shop["project"], external_id="menu/")  # an id that ends with a slash is found as it is
    found = reader.get(f"{URL}/menu/")
    assert found.status_code == 200 and found.json()["external_id"] == "menu/"


def test_the_facets_say_an_estimated_total_by_the_lists_name_and_keep_the_old_one(reader, monkeypatch):
    """The list said `total_estimated`, the facets `estimated` for the same flag: the facets now say both, `estimated`
    marked deprecated in the schema, so a client written for either keeps working."""
    exact_list, exact_facets = reader.get(f"{URL}?tag=billing").json(), reader.get(f"{URL}/facets?tag=billing").json()
    # A limit of 1 makes the two matches an estimate, as 10,001 would.
    monkeypatch.setattr("labeling.selectors.explore.results.EXACT_LIMIT", 1)
    monkeypatch.setattr("labeling.selectors.explore.facets.EXACT_LIMIT", 1)
    estimate_list, estimate_facets = (
        reader.get(f"{URL}?tag=billing").json(),
        reader.get(f"{URL}/facets?tag=billing").json(),
    )

    assert exact_list["total_estimated"] is exact_facets["total_estimated"] is exact_facets["estimated"] is False
    assert (
        estimate_list["total_estimated"] is estimate_facets["total_estimated"] is estimate_facets["estimated"] is True
    )
    schema = reader.get("/api/schema/?format=json").json()["components"]["schemas"]["FacetsOut"]
    assert "deprecated" not in schema["properties"]["total_estimated"]
    assert schema["properties"]["estimated"]["deprecated"] is True
    assert "total_estimated" in schema["properties"]["estimated"]["description"]
    assert "total_estimated" in schema["required"]


@pytest.mark.parametrize("sort", ["newest", "oldest", "longest"])
def test_past_the_limit_the_facets_count_the_first_matches_in_the_sort_order_unscaled(reader, monkeypatch, sort):
    """The facets' `sample` is the list's first matches in the same `sort`, counted as they are (not scaled to
    `total`): with room for one, its model is the first listed output's, counted once."""
    monkeypatch.setattr("labeling.selectors.explore.facets.EXACT_LIMIT", 1)
    [first] = reader.get(f"{URL}?sort={sort}&page_size=1").json()["results"]

    found = reader.get(f"{URL}/facets?sort={sort}").json()

    assert (found["total"], found["sample"], found["estimated"]) == (len(ALL), 1, True)
    models = next(facet for facet in found["facets"] if facet["parameter"] == "model")
    assert [(value["value"], value["count"]) for value in models["values"]] == [(first["model"], 1)]


def test_disagree_in_a_project_without_a_pass_fail_question_is_a_400_naming_it(client, shop):
    """Nothing to disagree on: said, rather than every output found (or none)."""
    twin = Api(client, shop["twin_read"])
    publish_rubric(project=shop["twin"], questions=[q for q in QUESTIONS if q["kind"] != "binary"])
    response = twin.get(f"{URL}?disagree=yes")
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["field"] == "disagree" and "no pass/fail question" in error["message"]
