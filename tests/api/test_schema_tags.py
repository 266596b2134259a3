"""The API docs group operations by resource (outputs, datasets, metrics…), one section each, as the schema's tags
say: every operation sat under one tag, `v1`, drawn as one long section."""

import pytest
from django.conf import settings

# Operation ids, which clients may use and which did not change with the tags, by the section they belong in.
RESOURCES = {
    "outputs": ["ingest_outputs", "list_outputs", "get_output", "get_output_facets"],
    "events": ["ingest_events"],
    "feedback": ["ingest_feedback"],
    "otel": ["otlp_export_traces"],
    "labels": ["export_labels"],
    "rubric": ["get_rubric"],
    "queues": ["list_queues"],
    "datasets": [
        "list_datasets",
        "create_dataset",
        "get_dataset",
        "build_dataset",
        "diff_dataset_versions",
        "list_dataset_versions",
        "get_dataset_version",
        "download_dataset_version",
        "list_dataset_rows",
        "withdraw_dataset_version",
    ],
    "metrics": [
        "get_quality_metrics",
        "get_agreement_metrics",
        "get_throughput_metrics",
        "get_retention_metrics",
        "get_week_changes",
    ],
    "cycles": ["get_cycle_report"],
    "redaction-rules": ["get_redaction_rules"],
    "end-users": ["erase_end_user"],
    "key": ["get_current_key"],
    "platform": ["get_platform_usage"],
}


@pytest.fixture
def schema(client) -> dict:
    return client.get("/api/schema/", HTTP_ACCEPT="application/json").json()


@pytest.fixture
def operations(schema) -> dict[str, dict]:
    return {operation["operationId"]: operation for item in schema["paths"].values() for operation in item.values()}


@pytest.mark.parametrize(("tag", "operation_ids"), RESOURCES.items())
def test_each_operation_is_under_its_resources_tag(operations, tag, operation_ids):
    assert {operation_id: operations[operation_id]["tags"] for operation_id in operation_ids} == {
        operation_id: [tag] for operation_id in operation_ids
    }


def test_every_operation_is_under_one_declared_tag_and_none_under_the_versions(operations):
    declared = [tag["name"] for tag in settings.SPECTACULAR_SETTINGS["TAGS"]]
    assert "v1" not in declared
    assert all(len(operation["tags"]) == 1 and operation["tags"][0] in declared for operation in operations.values())
    # Each declared section has operations: none is drawn empty.
    assert {operation["tags"][0] for operation in operations.values()} == set(declared)


def test_the_docs_sections_come_in_the_declared_order_with_a_description(schema):
    assert [tag["name"] for tag in schema["tags"]] == list(RESOURCES)
    assert all(tag["description"] for tag in schema["tags"])
