"""A dataset's filters beyond tags and days: models, metadata values and a text, checked in one place and applied by
a build the same way whatever the database."""

import json

import pytest

from labeling.exceptions import InvalidSpec
from labeling.models import Dataset
from labeling.services.datasets import build_version, create_dataset, definition_fingerprint
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
        project=project, spec={"name": "Refund promises", "models": [REGRESSED], "text": "refund will arrive"}
    )

    assert dataset.filters == {"models": [REGRESSED], "text": "refund will arrive"}
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


def test_the_filters_combine_with_tags_and_queues(project):
    _refund_outputs(project)
    label_outputs(project, 1, model=REGRESSED, texts=[PROMISE], tags=["billing"], queue="billing")
    spec = {"models": [REGRESSED], "text": "REFUND", "tags_any": ["billing"], "queues": ["billing"]}

    assert _ids(create_dataset(project=project, spec={"name": "Billing refunds", **spec})) == ["out-00006"]


@pytest.mark.parametrize(
    ("spec", "field", "says"),
    [
        ({"models": "gpt"}, None, "Expected `array`, got `str` - at `$.models`"),
        ({"metadata": {"plan": "vip"}}, None, "Expected `array`, got `str` - at `$.metadata[...]`"),
        ({"metadata": ["plan:vip"]}, None, "Expected `object`"),
        ({"text": 5}, None, "at `$.text`"),
        ({"model": ["gpt"]}, None, "unknown field `model`"),
        ({"models": [" "]}, "models", "Models: a value is blank."),
        ({"metadata": {"plan": []}}, "metadata", "give 'plan' at least one value"),
        ({"text": "x" * 501}, "text", "at most 500 characters"),
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


def test_a_changed_filter_changes_the_definition(project):
    dataset = create_dataset(project=project, spec={"name": "Eval", "models": ["a"]})
    before = definition_fingerprint(dataset)

    for filters in ({"models": ["b"]}, {"models": ["a"], "text": "x"}, {"models": ["a"], "metadata": {"k": ["v"]}}):
        dataset.filters = filters
        assert definition_fingerprint(dataset) != before
