"""Exporting an explore filter's outputs: JSONL round-trips, CSV cells are escaped like the dataset exports'."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from labeling.rules.explore import ExploreFilter, parse_filter
from labeling.services.output_exports import COLUMNS, csv_chunks, jsonl_chunks
from tests.factories import OutputFactory

pytestmark = pytest.mark.django_db

INJECTIONS = ['=HYPERLINK("http://evil.example","click")', "+1", "-2", "@SUM(A1:A9)", "\tx", "\rx"]


@pytest.fixture
def outputs(project, other_project):
    OutputFactory(project=other_project, external_id="theirs", model="support-bot-2.4")
    nested = OutputFactory(
        project=project,
        external_id="conv-1",
        occurred_at=datetime(2026, 11, 20, 9, 15, tzinfo=UTC),
        model="support-bot-2.4",
        end_user_id="u-1",
        session_id="s-1",
        input=[{"role": "user", "content": "Where is my refund?"}],
        output={"text": "Your refund will arrive by 14 March.", "citations": [1]},
        context=[{"doc": "refunds", "text": "Refunds take 5–7 days."}],
        metadata={"latency_ms": 812, "topic": "returns", "vip": True},
        tags=["refund", "multi_turn"],
        feedback_score=-1,
        feedback_comment="That date is made up",
    )
    plain = OutputFactory(
        project=project,
        external_id="conv-2",
        occurred_at=datetime(2026, 11, 21, 9, 15, tzinfo=UTC),
        model="support-bot-2.4",
        input="plain text",
        output=INJECTIONS[0],
        context=None,
        metadata={},
        tags=[],
        feedback_comment=INJECTIONS[1],
        end_user_id=INJECTIONS[3],
    )
    OutputFactory(project=project, external_id="conv-3", model="support-bot-2.3")
    return nested, plain


def test_jsonl_round_trips_the_filters_outputs_newest_first(project, outputs):
    spec = parse_filter({"model": ["support-bot-2.4"]})

    lines = b"".join(jsonl_chunks(project, spec)).decode().splitlines()

    rows = [json.loads(line) for line in lines]
    assert [row["external_id"] for row in rows] == ["conv-2", "conv-1"]
    assert list(rows[1]) == sorted(COLUMNS)
    nested = outputs[0]
    assert rows[1] == {
        "external_id": "conv-1",
        "occurred_at": "2026-11-20T09:15:00Z",
        "model": "support-bot-2.4",
        "end_user_id": "u-1",
        "session_id": "s-1",
        "input": nested.input,
        "output": nested.output,
        "context": nested.context,
        "metadata": nested.metadata,
        "tags": nested.tags,
        "feedback_score": -1,
        "feedback_comment": "That date is made up",
    }
    assert rows[0]["output"] == INJECTIONS[0] and rows[0]["context"] is None  # JSONL is data: nothing escaped


def test_csv_has_the_columns_nested_values_as_json_and_formula_cells_escaped(project, outputs):
    body = b"".join(csv_chunks(project, ExploreFilter(models=("support-bot-2.4",)))).decode()

    header, plain, nested = list(csv.reader(io.StringIO(body)))
    assert tuple(header) == COLUMNS
    row = dict(zip(header, nested, strict=True))
    assert json.loads(row["input"]) == outputs[0].input
    assert json.loads(row["output"]) == outputs[0].output
    assert row["metadata"] == '{"latency_ms":812,"topic":"returns","vip":true}'
    assert row["tags"] == '["refund","multi_turn"]'
    assert row["feedback_score"] == "-1"
    row = dict(zip(header, plain, strict=True))
    assert row["input"] == "plain text" and row["context"] == "" and row["feedback_score"] == ""
    assert row["output"] == "'" + INJECTIONS[0]
    assert row["feedback_comment"] == "'" + INJECTIONS[1]
    assert row["end_user_id"] == "'" + INJECTIONS[3]


@pytest.mark.parametrize("cell", INJECTIONS)
def test_every_formula_prefix_is_escaped(project, cell):
    OutputFactory(project=project, output=cell)

    body = b"".join(csv_chunks(project, ExploreFilter())).decode()

    row = dict(zip(COLUMNS, list(csv.reader(io.StringIO(body)))[1], strict=True))
    assert row["output"] == "'" + cell
