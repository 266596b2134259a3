"""The typed downloads (Parquet, the Hugging Face files) of a version whose labels answered several rubric versions:
an older label's answers are kept, typed by the version that asked them, as JSONL keeps them.

v1 asks `correct`, `tone` (a choice) and `cites` (yes/no); v2 drops `tone` and asks `cites` as a rating 1–3. Read
with pandas (Parquet) and with `datasets.load_dataset` (the unzipped `hf` folder), as engineers' eval tools do."""

import io
import json
import zipfile

import pytest

from labeling.models import Item
from labeling.services.datasets import build_version, create_dataset
from labeling.services.eval_formats import hf_chunks
from labeling.services.exports import parquet_chunks
from labeling.services.labels import submit_label
from labeling.services.resolution import resolve_item
from labeling.services.rubrics import publish_rubric
from tests.helpers.labeling import label_outputs
from tests.helpers.rubrics import BINARY, CHOICE

pytestmark = pytest.mark.django_db

CITES = {"key": "cites", "kind": "binary", "prompt": "Does it cite the policy?", "required": False}
V1 = [BINARY, CHOICE, CITES]
V2 = [BINARY, {**CITES, "kind": "rating", "scale": [1, 3]}]


def _mixed_item(project, v1, v2):
    """out-00000: lab0 answered v1, lab1 v2 (a row of v2)."""
    (item,) = label_outputs(
        project, 1, answers=({"correct": True, "tone": "friendly", "cites": True}, {"correct": True}), rubric=v1
    )
    submit_label(
        expert=item.labels.order_by("pk").last().expert, item=item, rubric=v2, answers={"correct": True, "cites": 3}
    )
    resolve_item(item_id=item.pk)
    return Item.objects.get(pk=item.pk)


@pytest.fixture
def rubrics(project):
    return publish_rubric(project=project, questions=V1), publish_rubric(project=project, questions=V2)


def _version(project):
    return build_version(dataset_id=create_dataset(project=project, spec={"name": "Eval", "splits": {"train": 100}}).pk)


def _parquet(version):
    import pandas as pd

    return pd.read_parquet(io.BytesIO(b"".join(parquet_chunks(version=version))))


def test_an_older_labels_answer_to_a_question_the_newest_version_dropped_is_kept_in_parquet(project, rubrics):
    """The only row is of v2: `tone`, which only v1 asked, was a null in every annotation (no column for it)."""
    _mixed_item(project, *rubrics)
    version = _version(project)

    frame = _parquet(version)

    assert version.rubric_versions == [1, 2]
    (annotations,) = frame["annotations"]
    assert [(a["rubric_version"], a["answers"]["tone"]) for a in annotations] == [(1, "friendly"), (2, None)]


def test_an_answer_given_as_another_kind_is_typed_by_the_version_that_asked_it(project, rubrics):
    """`cites` was yes/no in v1 and a rating in v2: v2's answers under `cites` (int), v1's under `cites@binary` (bool),
    the gold of a row of v1 too; each was a null before (a yes is no rating)."""
    label_outputs(
        project, 1, answers=({"correct": True, "cites": True}, {"correct": True, "cites": True}), rubric=rubrics[0]
    )
    _mixed_item(project, *rubrics)  # out-00001
    version = _version(project)

    frame = _parquet(version).set_index("id")

    answers = {(row, a["rubric_version"]): a["answers"] for row in frame.index for a in frame.at[row, "annotations"]}
    assert (answers[("out-00001", 1)]["cites@binary"], answers[("out-00001", 1)]["cites"]) == (True, None)
    assert (answers[("out-00001", 2)]["cites@binary"], answers[("out-00001", 2)]["cites"]) == (None, 3)
    assert frame.at["out-00000", "label"]["cites@binary"] == {"value": True, "method": "unanimous"}
    assert frame.at["out-00000", "label"]["cites"] is None
    assert list(frame.at["out-00000", "label"]) == ["correct", "cites", "cites@binary", "tone"]


def test_the_hf_folder_loads_with_datasets_and_keeps_every_answer_typed(project, rubrics, tmp_path):
    import datasets

    datasets.disable_progress_bars()
    label_outputs(
        project, 1, answers=({"correct": True, "cites": True}, {"correct": True, "cites": True}), rubric=rubrics[0]
    )
    _mixed_item(project, *rubrics)
    version = _version(project)
    zipfile.ZipFile(io.BytesIO(b"".join(hf_chunks(version=version)))).extractall(tmp_path / "eval")

    loaded = datasets.load_dataset(str(tmp_path / "eval"), cache_dir=str(tmp_path / "cache"))["train"]
    declared = datasets.Features.from_dict(json.loads((tmp_path / "eval" / "features.json").read_text()))

    assert loaded.features == declared
    answers = loaded.features["annotations"].feature["answers"]
    assert (str(answers["cites"]), str(answers["cites@binary"]), str(answers["tone"])) == (
        "Value('int64')",
        "Value('bool')",
        "Value('string')",
    )
    rows = {row["id"]: row for row in loaded}
    assert [
        (a["answers"]["tone"], a["answers"]["cites@binary"], a["answers"]["cites"])
        for a in rows["out-00001"]["annotations"]
    ] == [
        ("friendly", True, None),
        (None, None, 3),
    ]
    assert rows["out-00000"]["label"]["cites@binary"] == {"value": True, "method": "unanimous"}
    card = (tmp_path / "eval" / "README.md").read_text()
    assert "Rubric versions: v1, v2" in card and "`cites@binary`" in card
