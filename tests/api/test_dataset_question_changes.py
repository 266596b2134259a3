"""A version holding rows labeled under several rubric versions: what each question meant in each of them, and a
warning where a key changed meaning (scale, options, kind), in the version's API answer and in the Hugging Face card.
The card is derived at download time: the version's stored rows and checksum are those of any build."""

import io
import zipfile

import pytest

from labeling.services.datasets import build_version, create_dataset
from labeling.services.rubrics import publish_rubric
from tests.conftest import Api
from tests.helpers.labeling import label_outputs
from tests.helpers.rubrics import CHOICE, QUESTIONS, RATING
from tests.helpers.version_files import rendered

EVAL = "/api/v1/projects/support-bot/datasets/support-eval"
WIDER = [{**RATING, "scale": [1, 7]} if question is RATING else question for question in QUESTIONS]
WARNING = "`helpful`: rating 1–5 in v1, 1–7 in v2: filter on `rubric_version` before you compare values"


@pytest.fixture
def reader(client, read_key):
    return Api(client, read_key.secret)


@pytest.fixture
def widened(project):
    """Version 1 of "Support eval": two outputs rated on 1-5 under rubric v1, two on 1-7 under v2 (same key)."""
    label_outputs(project, 2, answers=({"correct": True, "helpful": 5}, {"correct": True, "helpful": 5}))
    publish_rubric(project=project, questions=WIDER)
    label_outputs(project, 2, answers=({"correct": True, "helpful": 7}, {"correct": True, "helpful": 6}))
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    return rendered(build_version(dataset_id=dataset.pk))


@pytest.fixture
def unchanged(project):
    """Version 1 of "Support eval", every row under rubric v1."""
    label_outputs(project, 2)
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    return rendered(build_version(dataset_id=dataset.pk))


def by_key(answer: dict) -> dict[str, dict]:
    return {question["key"]: question for question in answer["questions"]}


def card(reader) -> str:
    response = reader.get(f"{EVAL}/versions/1/download?format=hf")
    assert response.status_code == 200
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).read("README.md").decode()


def test_the_version_says_what_each_question_meant_in_each_rubric_version_and_flags_a_changed_scale(reader, widened):
    answer = reader.get(f"{EVAL}/versions/1").json()

    assert answer["rubric_versions"] == [1, 2]
    helpful = by_key(answer)["helpful"]
    assert helpful["changed"] is True and helpful["what_changed"] == ["scale"]
    assert helpful["warning"] == WARNING
    assert [(asked["rubric_version"], asked["kind"], asked["scale"]) for asked in helpful["asked"]] == [
        (1, "rating", [1, 5]),
        (2, "rating", [1, 7]),
    ]
    assert helpful["asked"][0]["prompt"] == "How helpful is it?" and helpful["asked"][0]["options"] is None
    correct = by_key(answer)["correct"]
    assert (correct["changed"], correct["what_changed"], correct["warning"]) == (False, [], None)
    assert [asked["rubric_version"] for asked in correct["asked"]] == [1, 2]
    assert by_key(answer)["tone"]["asked"][0]["options"] == ["friendly", "curt", "rude"]
    assert list(by_key(answer)) == [question["key"] for question in QUESTIONS]  # the rubric's order


def test_a_version_under_one_rubric_version_flags_nothing(reader, unchanged):
    answer = reader.get(f"{EVAL}/versions/latest").json()

    assert [(q["key"], q["changed"], q["warning"]) for q in answer["questions"]] == [
        (question["key"], False, None) for question in QUESTIONS
    ]
    assert all(len(question["asked"]) == 1 for question in answer["questions"])


def test_the_questions_are_those_the_dataset_keeps(reader, project):
    label_outputs(project, 1)
    publish_rubric(project=project, questions=WIDER)
    label_outputs(project, 1)
    dataset = create_dataset(project=project, spec={"name": "Support eval", "questions": ["correct"]})
    build_version(dataset_id=dataset.pk)

    assert [question["key"] for question in reader.get(f"{EVAL}/versions/1").json()["questions"]] == ["correct"]


def test_the_hf_card_lists_the_questions_and_warns_of_the_changed_scale(reader, widened):
    text = card(reader)

    section = text.split("## Questions\n", 1)[1].split("\n## ", 1)[0]
    assert "- `helpful`: rating 1–5 in v1, 1–7 in v2" in section
    assert "- `correct`: binary in v1 and v2" in section
    assert '- `tone`: choice ("friendly", "curt", "rude") in v1 and v2' in section
    assert f"**Warning:** {WARNING}" in section
    assert section.count("**Warning:**") == 1


def test_the_hf_card_of_a_version_without_changes_has_the_section_and_no_warning(reader, unchanged):
    text = card(reader)

    assert "## Questions\n" in text and "- `helpful`: rating 1–5 in v1 (How helpful is it?)\n" in text
    assert "Warning" not in text


def test_the_card_is_derived_at_download_the_stored_rows_and_checksum_are_untouched(reader, widened, project):
    """A twin built from the same labels has the same checksum and lines: the card adds nothing to the rows."""
    twin = build_version(dataset_id=create_dataset(project=project, spec={"name": "Twin"}).pk)

    assert widened.sha256 == twin.sha256
    lines = [list(v.rows.order_by("position").values_list("line__text", flat=True)) for v in (widened, twin)]
    assert lines[0] == lines[1] and all("Questions" not in line for line in lines[0])
    assert reader.get(f"{EVAL}/versions/1/download?format=jsonl")["ETag"] == f'"{widened.sha256}"'


def test_a_changed_option_with_right_to_left_text_reaches_the_api_plain_and_the_card_isolated(reader, project):
    """The API's `warning` is data: it carries the option as written, no invisible isolating characters
    (U+2066…U+2069). The card is read as text, and isolates each option there as it isolates each prompt."""
    rtl = "\u05e9\u05dc\u05d5\u05dd \u202eevil"
    label_outputs(project, 1)
    reworded = [{**q, "options": ["friendly", rtl]} if q is CHOICE else q for q in QUESTIONS]
    publish_rubric(project=project, questions=reworded)
    label_outputs(project, 1, start=100)
    rendered(build_version(dataset_id=create_dataset(project=project, spec={"name": "Support eval"}).pk))

    warning = by_key(reader.get(f"{EVAL}/versions/1").json())["tone"]["warning"]

    assert f'"{rtl}"' in warning
    assert not {"\u2066", "\u2067", "\u2068", "\u2069"} & set(warning)
    assert f'\u2068"{rtl}"\u2069' in card(reader)


def test_the_version_list_gives_each_versions_questions_so_versions_compare_without_a_call_each(reader, project):
    """The list had `rubric_versions` and no `questions`: an engineer comparing versions fetched each one to see which
    of them changed a question's meaning. Each listed version now has them, as its own detail gives them."""
    label_outputs(project, 2)
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    build_version(dataset_id=dataset.pk)  # version 1: rubric v1 only
    publish_rubric(project=project, questions=WIDER)
    label_outputs(project, 2, answers=({"correct": True, "helpful": 7}, {"correct": True, "helpful": 6}), start=100)
    build_version(dataset_id=dataset.pk)  # version 2: rubric v1 and v2, `helpful` on 1-5 then 1-7

    listed = reader.get(f"{EVAL}/versions").json()["results"]

    assert [(version["number"], version["rubric_versions"]) for version in listed] == [(2, [1, 2]), (1, [1])]
    newest, oldest = (by_key(version) for version in listed)
    assert (newest["helpful"]["changed"], newest["helpful"]["warning"]) == (True, WARNING)
    assert (oldest["helpful"]["changed"], oldest["helpful"]["warning"]) == (False, None)
    for version in listed:
        assert version["questions"] == reader.get(f"{EVAL}/versions/{version['number']}").json()["questions"]
