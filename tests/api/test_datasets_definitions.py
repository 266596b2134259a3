"""Defining a dataset over REST: one 400 naming every bad field, names in any script, and a definition read from
GET posted back as it is."""

import pytest

from labeling.models import AuditEvent, Dataset, Queue
from labeling.services.api_keys import create_api_key
from tests.conftest import Api

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

DATASETS = "/api/v1/projects/support-bot/datasets"


@pytest.fixture
def builder(client, project):
    return Api(client, create_api_key(project=project, name="builder", scopes=["read", "datasets"]).secret)


def fields_named(response) -> set[str]:
    return {error["field"] for error in response.json()["errors"]}


# One 400 for every bad field ---------------------------------------------------------------------------------------


def test_one_400_names_every_bad_field_type_and_meaning_alike(builder, rubric):
    """The type checks (name, only_resolved) answered first; fixing them gave a second 400 for splits and queues."""
    response = builder.post(
        DATASETS, {"name": 5, "queues": ["nope"], "splits": {"train": 50}, "only_resolved": "false"}
    )

    assert response.status_code == 400
    assert fields_named(response) == {"name", "queues", "splits", "only_resolved"}, response.json()
    assert not Dataset.objects.exists() and not AuditEvent.objects.filter(action="dataset.created").exists()


def test_a_taken_name_and_an_unknown_question_are_named_beside_a_bad_type(builder, rubric):
    assert builder.post(DATASETS, {"name": "Nightly"}).status_code == 201

    response = builder.post(DATASETS, {"name": "Nightly", "questions": ["corect"], "auto_rebuild": "yes"})

    assert response.status_code == 400
    assert fields_named(response) == {"name", "questions", "auto_rebuild"}, response.json()
    assert Dataset.objects.count() == 1


# Names in any script ------------------------------------------------------------------------------------------------


def test_a_name_without_latin_letters_gets_a_generated_slug_and_keeps_its_name(builder, client, project, engineer):
    """ "日本語" was refused as having no letter or digit."""
    first = builder.post(DATASETS, {"name": "日本語"})
    second = builder.post(DATASETS, {"name": "Ελληνικά δεδομένα"})

    assert first.status_code == 201, first.json()
    assert (first.json()["slug"], first.json()["name"]) == ("dataset-1", "日本語")
    assert first.headers["Location"] == f"http://testserver{DATASETS}/dataset-1"
    assert (second.json()["slug"], second.json()["name"]) == ("dataset-2", "Ελληνικά δεδομένα")
    assert builder.get(f"{DATASETS}/dataset-1").json()["name"] == "日本語"
    client.force_login(engineer)
    page = client.get(f"/p/{project.slug}/datasets/dataset-1/").content.decode()
    assert "日本語" in page and "<code>dataset-1</code>" in page


def test_a_name_without_latin_letters_posted_twice_makes_one_dataset_and_another_spec_is_told_it_is_taken(
    client, engineer
):
    """A generated slug is no slug taken: the twin is found by the name and the same spec."""
    client.force_login(engineer)
    first = client.post(DATASETS, {"name": "日本語"}, content_type="application/json")
    again = client.post(DATASETS, {"name": "日本語"}, content_type="application/json")
    other = client.post(DATASETS, {"name": "日本語", "description": "x"}, content_type="application/json")

    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["slug"] == again.json()["slug"] == "dataset-1"
    assert other.status_code == 409 and fields_named(other) == {"name"}, other.json()
    assert Dataset.objects.count() == 1


def test_a_name_with_some_latin_letters_keeps_its_ascii_slug(builder):
    response = builder.post(DATASETS, {"name": "Café 日本 eval"})

    assert response.status_code == 201 and response.json()["slug"] == "cafe-eval"


def test_a_generated_slug_skips_one_taken_by_a_name(builder):
    assert builder.post(DATASETS, {"name": "Dataset 1"}).json()["slug"] == "dataset-1"

    assert builder.post(DATASETS, {"name": "日本語"}).json()["slug"] == "dataset-2"


@pytest.mark.parametrize("name", ["---", "!!!", "  "])
def test_a_name_without_any_letter_or_digit_is_still_refused(builder, name):
    response = builder.post(DATASETS, {"name": name})

    assert response.status_code == 400 and fields_named(response) == {"name"}
    assert not Dataset.objects.exists()


# A definition from GET posted back ---------------------------------------------------------------------------------


def test_a_definition_copied_from_get_creates_the_same_dataset(builder, project, rubric):
    """GET shows `filters: {tags_any, since, until}`; POST refused that shape as "filters: Unknown field"."""
    Queue.objects.create(project=project, slug="sample", name="Sample")
    made = builder.post(
        DATASETS,
        {"name": "Billing", "queues": ["sample"], "questions": ["correct"], "tags_any": ["billing"],
         "since": "2026-11-01T00:00:00Z", "until": "2026-12-01T00:00:00Z", "splits": {"train": 90, "test": 10}},
    )  # fmt: skip
    shown = builder.get(made.headers["Location"]).json()
    copy = {
        name: value for name, value in shown.items() if name not in ("slug", "latest_version", "build", "created_at")
    }

    response = builder.post(DATASETS, {**copy, "name": "Billing copy"})

    assert response.status_code == 201, response.json()
    again = response.json()
    assert again["filters"] == shown["filters"] == {
        "tags_any": ["billing"], "since": "2026-11-01T00:00:00Z", "until": "2026-12-01T00:00:00Z",
    }  # fmt: skip
    assert {name: again[name] for name in copy if name != "name"} == {
        name: shown[name] for name in copy if name != "name"
    }


def test_filters_nested_and_top_level_with_the_same_values_agree(builder):
    response = builder.post(DATASETS, {"name": "Tagged", "tags_any": ["vip"], "filters": {"tags_any": ["vip"]}})

    assert response.status_code == 201, response.json()
    assert response.json()["filters"] == {"tags_any": ["vip"]}


def test_filters_nested_and_top_level_with_different_values_is_a_400_naming_the_conflict(builder):
    response = builder.post(
        DATASETS,
        {"name": "Tagged", "tags_any": ["vip"], "filters": {"tags_any": ["free"], "since": "2026-11-01T00:00:00Z"}},
    )

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "filters" and "tags_any" in error["message"], error
    assert not Dataset.objects.exists()


@pytest.mark.parametrize(
    ("filters", "field", "message"),
    [
        ({"tag_any": ["vip"]}, "filters.tag_any", "Unknown filter."),
        ({"since": "yesterday"}, "filters.since", "Not a moment"),
        ({"models": "gpt-4.1"}, "filters.models", "list"),
        (["vip"], "filters", "object"),
    ],
    ids=["an unknown filter", "a bad moment", "a bad type", "not an object"],
)
def test_bad_nested_filters_are_a_400_naming_the_nested_field(builder, filters, field, message):
    """A nested filter's problem names it by its path (`filters.models`), not `filters` with the name in the text."""
    response = builder.post(DATASETS, {"name": "Tagged", "filters": filters})

    assert response.status_code == 400
    assert any(e["field"] == field and message in e["message"] for e in response.json()["errors"]), response.json()
    assert not Dataset.objects.exists()


@pytest.mark.parametrize("moment", ["yesterday", "2026-13-01", "2026-02-30T00:00:00Z", "2026-11-01T25:00"])
def test_a_moment_that_is_none_is_told_what_a_moment_is_not_that_its_format_is_wrong(builder, moment):
    """DRF said "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm…" of `2026-13-01`
    too, which is in that format: the month is what does not exist."""
    response = builder.post(DATASETS, {"name": "November", "since": moment})

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "since" and error["message"].startswith("Not a moment: write an ISO 8601 date and time")
    assert "project's time zone" in error["message"] and not Dataset.objects.exists()


# Models, metadata and phrases ----------------------------------------------------------------------------------------


def test_models_metadata_and_text_are_stored_shown_and_post_back_nested(builder):
    spec = {
        "models": ["gpt-4.1-mini-2025-04-14"],
        "metadata": {"plan": ["vip", "team"]},
        "text_any": ["refund will arrive", "Straße"],
    }
    made = builder.post(DATASETS, {"name": "Refund promises", **spec})

    assert made.status_code == 201, made.json()
    assert made.json()["filters"] == spec
    again = builder.post(DATASETS, {"name": "Refund promises copy", "filters": made.json()["filters"]})
    assert again.status_code == 201, again.json()
    assert again.json()["filters"] == spec


@pytest.mark.parametrize("body", [{"tags_any": [], "models": []}, {"filters": {"tags_any": [], "models": []}}])
def test_no_tag_or_model_listed_takes_any_as_the_api_has_always_said(builder, body):
    """`tags_any: []` and `models: []` are documented as "any" and clients send their defaults so: they stay a
    dataset without those filters (a queue rule refuses them: there, no tag meant no output)."""
    made = builder.post(DATASETS, {"name": "Every output", **body})

    assert made.status_code == 201, made.json()
    assert made.json()["filters"] == {}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"models": "gpt"}, "models", "list"),
        ({"models": [" "]}, "models", "Models: a value is blank."),
        ({"metadata": {"plan": "vip"}}, "metadata", "list"),
        ({"metadata": {"plan": []}}, "metadata", "give 'plan' at least one value"),
        ({"metadata": {"plan": ["x" * 201]}}, "metadata", "more than 200 characters"),
        ({"text_any": "refund"}, "text_any", "list"),
        ({"text_any": [5]}, "text_any", "Not a valid string."),
        ({"text_any": []}, "text_any", "give at least one phrase, or leave the condition out."),
        ({"filters": {"text_any": []}}, "text_any", "give at least one phrase, or leave the condition out."),
        ({"text_any": ["x" * 201]}, "text_any", "use at most 200"),
        ({"text_any": ["x"] * 21}, "text_any", "21 phrases; use at most 20."),
        ({"filters": {"text": "refund"}}, "filters.text", "Unknown filter."),
        ({"filters": {"model": ["gpt"]}}, "filters.model", "Unknown filter."),
        ({"filters": {"metadata": ["plan:vip"]}}, "filters.metadata", "dictionary"),
        ({"model": ["gpt"]}, "model", "Unknown field."),
    ],
)
def test_a_bad_model_metadata_or_text_filter_is_a_400_naming_it(builder, body, field, message):
    response = builder.post(DATASETS, {"name": "Refund promises", **body})

    assert response.status_code == 400, response.json()
    assert any(e["field"] == field and message in e["message"] for e in response.json()["errors"]), response.json()
    assert not Dataset.objects.exists()


def test_the_schema_types_the_filters(builder, client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    filters = schema["components"]["schemas"]["DatasetFiltersOut"]["properties"]
    assert set(filters) == {"tags_any", "since", "until", "models", "metadata", "text_any"}
    assert filters["metadata"]["additionalProperties"] == {"type": "array", "items": {"type": "string"}}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"splits": {"train": 0, "test": 100}}, "splits",
         "The share of 'train': Ensure this value is greater than or equal to 1."),
        ({"metadata": {"plan": "vip"}}, "metadata", "'plan': Expected a list of items but got type \"str\"."),
    ],
)  # fmt: skip
def test_a_bad_value_of_a_keyed_field_is_one_message_naming_its_key(builder, body, field, message):
    response = builder.post(DATASETS, {"name": "Keyed", **body})

    assert response.status_code == 400, response.json()
    assert [e["message"] for e in response.json()["errors"] if e["field"] == field] == [message], response.json()
