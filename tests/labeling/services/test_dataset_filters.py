"""A dataset's filters beyond tags and days: models, metadata values and the answer's phrases (`text_any`, a queue
rule's condition), checked in one place and applied by a build the same way whatever the database."""

import json

import pytest

from labeling.exceptions import InvalidSpec
from labeling.models import Dataset, Item, Output, Queue
from labeling.rules.dataset_filters import from_explore
from labeling.rules.explore import parse_filter
from labeling.selectors.explore.filters import filter_outputs
from labeling.services.datasets import build_version, create_dataset, definition_fingerprint
from labeling.services.datasets.rows import RowMaker
from labeling.services.routing import rule_filter
from tests.helpers.labeling import label_outputs

REGRESSED = "gpt-4.1-mini-2025-04-14"
PROMISE = "Your refund will arrive by 14 March."


def _refund_outputs(project) -> None:
    """Six labeled outputs: the regressed model's refund promises (two of them for vip customers), the same
    promise from the older model, and the regressed model's other answers."""
    label_outputs(project, 2, model=REGRESSED, metadata={"plan": "vip", "seats": 3}, texts=[f"Sorry. {PROMISE}"] * 2)
    label_outputs(project, 1, model=REGRESSED, metadata={"plan": "free", "seats": 1.5}, texts=[PROMISE.upper()])
    label_outputs(project, 1, model="gpt-4o-mini", metadata={"plan": "vip"}, texts=[PROMISE])
    label_outputs(project, 2, model=REGRESSED, metadata={"plan": "vip", "vip": True}, texts=["It ships Friday."] * 2)


def _ids(dataset: Dataset) -> list[str]:
    version = build_version(dataset_id=dataset.pk, full=True)
    return [json.loads(text)["id"] for text in version.rows.order_by("position").values_list("line__text", flat=True)]


def test_the_regressed_models_refund_answers_become_a_dataset_with_their_gold(project):
    _refund_outputs(project)
    dataset = create_dataset(
        project=project, spec={"name": "Refund promises", "models": [REGRESSED], "text_any": ["refund will arrive"]}
    )

    assert dataset.filters == {"models": [REGRESSED], "text_any": ["refund will arrive"]}
    version = build_version(dataset_id=dataset.pk)
    rows = [json.loads(text) for text in version.rows.order_by("position").values_list("line__text", flat=True)]
    assert [row["id"] for row in rows] == ["out-00000", "out-00001", "out-00002"]  # any case; not gpt-4o-mini's
    assert all(row["model"] == REGRESSED and row["label"]["correct"]["value"] is True for row in rows)


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"plan": ["vip"]}, ["out-00000", "out-00001", "out-00003", "out-00004", "out-00005"]),
        ({"plan": ["vip", "free"], "seats": ["3", "1.5"]}, ["out-00000", "out-00001", "out-00002"]),
        ({"vip": ["true"]}, ["out-00004", "out-00005"]),
        ({"plan": ["VIP"]}, []),  # values are compared as stored
    ],
)
def test_metadata_values_are_compared_as_text_every_key_holding(project, metadata, expected):
    _refund_outputs(project)
    dataset = create_dataset(project=project, spec={"name": "Meta", "metadata": metadata})

    if expected:
        assert _ids(dataset) == expected
    else:
        assert build_version(dataset_id=dataset.pk, full=True).row_count == 0


@pytest.mark.parametrize("value", ["0.0000001", "1e-07", "10000000000000000", "1e+16", "2.5", "2.50"])
def test_a_dataset_from_an_explore_metadata_filter_on_a_number_keeps_what_explore_found(project, value):
    """Explore and the dataset read a number's metadata value as one text (rules.explore.metadata_text): a float
    Python writes as 1e-07 is "0.0000001" to both, so `meta=dose:…` finds in explore what the dataset keeps."""
    label_outputs(project, 1, metadata={"dose": 1e-07})
    label_outputs(project, 1, metadata={"dose": 1e16})
    label_outputs(project, 1, metadata={"dose": 2.5})
    label_outputs(project, 1, metadata={"dose": "1e-07"})
    found = filter_outputs(project, parse_filter({"meta": [f"dose:{value}"]}))
    translation = from_explore(parse_filter({"meta": [f"dose:{value}"]}))
    dataset = create_dataset(project=project, spec={"name": "Dose", "metadata": {"dose": [value]}})

    assert translation.initial == {"metadata": f"dose:{value}"}
    assert sorted(found.values_list("external_id", flat=True)) == _ids(dataset)


def test_the_filters_combine_with_tags_and_queues(project):
    _refund_outputs(project)
    label_outputs(project, 1, model=REGRESSED, texts=[PROMISE], tags=["billing"], queue="billing")
    spec = {"models": [REGRESSED], "text_any": ["REFUND", "no such"], "tags_any": ["billing"], "queues": ["billing"]}

    assert _ids(create_dataset(project=project, spec={"name": "Billing refunds", **spec})) == ["out-00006"]


@pytest.mark.parametrize(
    ("spec", "field", "says"),
    [
        ({"models": "gpt"}, None, "Expected `array`, got `str` - at `$.models`"),
        ({"metadata": {"plan": "vip"}}, None, "Expected `array`, got `str` - at `$.metadata[...]`"),
        ({"metadata": ["plan:vip"]}, None, "Expected `object`"),
        ({"text_any": "refund"}, None, "Expected `array`, got `str` - at `$.text_any`"),
        ({"model": ["gpt"]}, None, "unknown field `model`"),
        ({"models": [" "]}, "models", "Models: a value is blank."),
        ({"metadata": {"plan": []}}, "metadata", "give 'plan' at least one value"),
        ({"text_any": ["x" * 201]}, "text_any", "has 201 characters; use at most 200"),
        ({"text_any": ["refund", " "]}, "text_any", "Answer contains any of: a phrase is empty"),
    ],
)
def test_a_bad_filter_is_refused_naming_it_and_nothing_is_stored(project, spec, field, says):
    with pytest.raises(InvalidSpec) as refused:
        create_dataset(project=project, spec={"name": "Bad", **spec})

    assert says in refused.value.message, refused.value.message
    if field:
        assert refused.value.fields == [field]
    assert not Dataset.objects.exists()


def test_the_old_filters_are_stored_as_they_always_were(project):
    spec = {"tags_any": ["vip", "eu"], "since": "2026-11-01T00:00:00Z", "until": "2026-12-01T00:00:00+01:00"}
    dataset = create_dataset(project=project, spec={"name": "Old", **spec})

    assert json.dumps(dataset.filters) == (
        '{"tags_any": ["vip", "eu"], "since": "2026-11-01T00:00:00+00:00", "until": "2026-12-01T00:00:00+01:00"}'
    )
    assert create_dataset(project=project, spec={"name": "None"}).filters == {}


@pytest.mark.parametrize(
    ("spec", "read_per_row"),
    [
        ({}, {}),
        ({"models": ["a"], "since": "2026-11-01T00:00:00Z", "until": "2026-12-01T00:00:00Z"}, {}),  # all SQL
        ({"models": ["a"], "text_any": ["refund"]}, {"text_any": ["refund"]}),
        ({"tags_any": ["vip"], "metadata": {"plan": ["pro"]}}, {"tags_any": ["vip"], "metadata": {"plan": ["pro"]}}),
    ],
)
def test_a_build_reads_per_row_only_the_filters_set_that_sql_cannot(project, spec, read_per_row):
    """A dataset without tags, metadata or phrases decodes nothing extra per row, nor encodes its answer."""
    dataset = create_dataset(project=project, spec={"name": "Eval", **spec})

    assert RowMaker(dataset).row_filters == read_per_row


def test_a_changed_filter_changes_the_definition(project):
    dataset = create_dataset(project=project, spec={"name": "Eval", "models": ["a"]})
    before = definition_fingerprint(dataset)

    for filters in (
        {"models": ["b"]},
        {"models": ["a"], "text_any": ["x"]},
        {"models": ["a"], "metadata": {"k": ["v"]}},
    ):
        dataset.filters = filters
        assert definition_fingerprint(dataset) != before


# The same phrases, the same outputs: a dataset's `text_any` is a queue rule's -------------------------------------

PHRASES = ["straße", "Refund will arrive"]
ANSWERS = [
    "Die Straße ist gesperrt.",  # out-00000: ß as written
    "DIE STRASSE IST GESPERRT.",  # out-00001: not ß in lower case ("strasse"): neither takes it
    {"straße": "gesperrt", "Refund will arrive": False},  # out-00002: the phrases are keys only: neither takes it
    {"reply": ["Your REFUND will Arrive soon."], "n": 2},  # out-00003: a string value, mixed case
    "rEFUND WILL ARRIVE by Friday",  # out-00004: mixed case
    "Your refund is on its way.",  # out-00005
]
TAKEN = ["out-00000", "out-00003", "out-00004"]


def test_a_queue_rule_and_a_dataset_filter_with_the_same_phrases_take_the_same_outputs(project):
    queue = Queue.objects.create(project=project, slug="phrases", name="Phrases", rule={"text_any": PHRASES})
    label_outputs(project, len(ANSWERS), texts=ANSWERS)
    dataset = create_dataset(project=project, spec={"name": "Phrases", "queues": ["sample"], "text_any": PHRASES})

    routed = Item.objects.filter(queue=queue).order_by("output__external_id").values_list("output__external_id")
    assert [external_id for (external_id,) in routed] == TAKEN  # routing, in Python (rule_matches)
    assert _ids(dataset) == TAKEN


@pytest.mark.postgres  # rule_filter is the rule preview's SQL, PostgreSQL's (elsewhere it walks rule_matches)
def test_the_rule_previews_sql_takes_the_same_outputs_for_the_phrases_as_routing(project):
    label_outputs(project, len(ANSWERS), texts=ANSWERS)

    matched = Output.objects.filter(rule_filter({"text_any": PHRASES}), project=project).order_by("external_id")
    assert list(matched.values_list("external_id", flat=True)) == TAKEN
