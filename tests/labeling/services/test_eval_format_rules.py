"""The row rules of the eval formats that the fixture-wide tests in tests/api/test_dataset_formats.py do not reach:
message content that only looks like JSON parts, a dataset that leaves its rubric's verdict question out, and the
card's warning for a question whose kind changed between rubric versions, and the field of its older kind's answers."""

import pytest

from labeling.models import DatasetVersion
from labeling.services.datasets import create_dataset
from labeling.services.eval_formats import hf_questions, openai_ready
from labeling.services.export_rows import RowShape
from labeling.services.rubrics import publish_rubric
from tests.helpers.rubrics import CHOICE

pytestmark = pytest.mark.django_db


def _asked(content: str) -> list[dict]:
    return [{"role": "user", "content": content}]


@pytest.mark.parametrize(
    ("content", "ready"),
    [
        ("[" * 10_000 + "]" * 10_000, True),  # a deep JSON-looking text: msgspec gives up with RecursionError
        ("[]", True),  # text that happens to be JSON
        ('[{"a": 1}, {"b": 2}]', True),  # JSON objects, but not chat parts: the user's own text
        ("null", False),  # a null content stored as JSON text
        ('[{"type": "image_url", "image_url": {"url": "https://x.example/a.png"}}]', False),  # parts beyond text
        ('[{"type": "text", "text": "hi"}, {"type": "input_audio"}]', False),
    ],
    ids=["deep", "empty list", "objects", "null", "image part", "audio part"],
)
def test_only_chat_parts_kept_as_json_text_keep_a_row_out_of_the_openai_files(content, ready):
    assert openai_ready(_asked(content)) is ready


def test_a_dataset_without_the_rubrics_verdict_question_has_no_verdict(project):
    """The verdict is the rubric version's first binary question, as for the pass rate: a dataset that keeps only a
    later binary question has none (that question never stands in for it)."""
    rubric = publish_rubric(
        project=project,
        questions=[
            {"key": "correct", "kind": "binary", "prompt": "Is it correct?"},
            {"key": "safe", "kind": "binary", "prompt": "Is it safe?"},
        ],
    )
    only_safe = create_dataset(project=project, spec={"name": "Safety", "questions": ["safe"]})
    both = create_dataset(project=project, spec={"name": "All"})
    shapes = {
        dataset.slug: RowShape.of(
            DatasetVersion.objects.create(dataset=dataset, number=1, rubric_versions=[rubric.version])
        )
        for dataset in (only_safe, both)
    }
    row = {"rubric_version": rubric.version}

    assert shapes["safety"].verdict_key(row) is None
    assert shapes["all"].verdict_key(row) == "correct"


def test_the_cards_questions_warn_of_a_kind_change_and_name_the_field_of_its_older_kinds_answers(project):
    """`tone` was a choice in rubric v1 and a rating in v2: the typed columns hold it as a rating under `tone` and
    the v1 answers as choices under `tone@choice`, so the card names that field and warns not to compare its values
    across versions."""
    publish_rubric(project=project, questions=[CHOICE])
    publish_rubric(project=project, questions=[{**CHOICE, "kind": "rating", "scale": [1, 3], "options": None}])
    dataset = create_dataset(project=project, spec={"name": "Tone"})
    shape = RowShape.of(DatasetVersion.objects.create(dataset=dataset, number=1, rubric_versions=[1, 2]))

    section = hf_questions(shape)

    assert shape.kinds == {"tone": "rating"}
    assert shape.fields == {"tone": ("tone", "rating"), "tone@choice": ("tone", "choice")}
    assert '- `tone`: choice ("friendly", "curt", "rude") in v1, rating 1–3 in v2 (How does it sound?)' in section
    assert "**Warning:** `tone`: choice" in section and "older kind under `<key>@<kind>`" in section
    assert "`tone@choice`" in section and "null" not in section
