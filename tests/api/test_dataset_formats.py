"""The eval-ready downloads (`?format=` openai-chat, openai-preference, openai-evals, langsmith, langfuse, braintrust,
hf): which rows each takes, the shape of every line, OpenAI's published format rules, the Hugging Face files loaded
by `datasets` itself, and a strong ETag per format."""

import io
import json
import re
import uuid
import zipfile

import msgspec
import pytest
import yaml
from django.db import transaction

from labeling.models import Queue
from labeling.services.api_keys import create_api_key
from labeling.services.datasets import build_version, create_dataset
from labeling.services.resolution import adjudicate, mark_for_adjudication
from tests.conftest import Api
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.helpers.labeling import AGREE, TIE, TIE_WITH_FIX, label_outputs
from tests.helpers.version_files import rendered

EVAL = "/api/v1/projects/support-bot/datasets/support-eval"
FORMATS = ["openai-chat", "openai-preference", "openai-evals", "langsmith", "langfuse", "braintrust", "hf"]
MULTI_TURN = [
    {"role": "system", "content": "You are the shop's support assistant."},
    {"role": "user", "content": "Where is my parcel?"},
    {"role": "assistant", "content": "Which order do you mean?"},
    {"role": "user", "content": "Order 1234."},
]
WITH_TOOL = [
    {"role": "user", "content": "Where is order 55?"},
    {"role": "tool", "content": '{"status": "shipped"}'},
    {"role": "user", "content": "And?"},
]
TEXT_PARTS = [
    {
        "role": "user",
        "content": [{"type": "text", "text": "Where is my parcel?"}, {"type": "text", "text": "Order 77."}],
    },
]
IMAGE_PART = [
    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/label.png"}}]}
]
NULL_CONTENT = [
    {"role": "user", "content": "Where is my parcel?"},
    {"role": "assistant", "content": None},
    {"role": "user", "content": "Hello?"},
]
FAIL = ({"correct": False, "helpful": 1}, {"correct": False, "helpful": 2})


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The project, its lead, a read key and `version` (below), made once for the module inside a transaction that
    is rolled back at its end; each test's own writes roll back to a savepoint."""
    with django_db_blocker.unblock(), transaction.atomic():
        project = ProjectFactory(slug="support-bot", name="Support bot")
        lead = MembershipFactory(project=project, user=UserFactory(username="lena"), role="lead").user
        yield {
            "project": project,
            "version": _build_every_case(project, lead),
            "read": create_api_key(project=project, name="reader", scopes=["read"]).secret,
        }
        transaction.set_rollback(True)


@pytest.fixture
def project(db, world):
    return world["project"]


@pytest.fixture
def version(db, world):
    return world["version"]


def _build_every_case(project, lead):
    """One version holding every case, named by what it is (external ids sort in this order):

    pass, pass-multi (multi-turn), pass-tool (a tool message), fail (no correction), solo-fix (one expert's
    correction, overlap 1), solo-pass-fix (passes, corrected anyway), solo-same (a "correction" equal to the
    output), tie, tie-fix (tied, one expert wrote a fix: not gold), adjudicated (a tie a lead decided with a fix),
    marked (the experts agree, a lead sent it to adjudication), unresolved (complete, one expert's correction, not
    resolved yet), parts (content as a list of text parts), parts-image (an image part), null-content (an assistant
    message with null content).
    """
    specs = [
        ("pass", AGREE, "sample", {}),
        ("pass-multi", AGREE, "sample", {"input": MULTI_TURN}),
        ("pass-tool", AGREE, "sample", {"input": WITH_TOOL}),
        ("fail", FAIL, "sample", {}),
        ("solo-fix", ({"correct": False, "fix": "It arrives on Monday.", "helpful": 2},), "solo", {}),
        ("solo-pass-fix", ({"correct": True, "fix": "It arrives on Friday, 3 June."},), "solo", {}),
        ("solo-same", ({"correct": False, "fix": "Parcel solo-same arrives Friday."},), "solo", {}),
        ("tie", TIE, "sample", {}),
        ("tie-fix", TIE_WITH_FIX, "sample", {}),
        ("z-adjudicated", TIE, "sample", {}),
        ("marked", AGREE, "sample", {}),
        ("parts", AGREE, "sample", {"input": TEXT_PARTS}),
        ("parts-image", AGREE, "sample", {"input": IMAGE_PART}),
        ("null-content", AGREE, "sample", {"input": NULL_CONTENT}),
        ("unresolved", ({"correct": True, "fix": "It arrives on Sunday."},), "solo", {"resolve": False}),
    ]
    # Each output goes to one queue only: two experts label the sample's, one expert the solo queue's.
    Queue.objects.create(project=project, slug="sample", name="Sample", overlap=2, rule={"tags_any": ["sample"]})
    Queue.objects.create(project=project, slug="solo", name="Solo", overlap=1, rule={"tags_any": ["solo"]})
    items = {}
    for name, answers, queue, fields in specs:
        [item] = label_outputs(
            project, 1, answers=answers, queue=queue, texts=[f"Parcel {name} arrives Friday."], tags=[queue], **fields
        )
        item.output.external_id = name
        item.output.save(update_fields=["external_id"])
        items[name] = item
    adjudicate(lead=lead, item=items["z-adjudicated"], answers={"correct": False, "fix": "Parcels arrive in 3 days."})
    mark_for_adjudication(lead=lead, item=items["marked"])
    dataset = create_dataset(project=project, spec={"name": "Support eval", "only_resolved": False})
    return rendered(build_version(dataset_id=dataset.pk))


@pytest.fixture
def reader(client, world):
    return Api(client, world["read"])


def download(reader, fmt: str) -> bytes:
    response = reader.get(f"{EVAL}/versions/1/download?format={fmt}")
    assert response.status_code == 200, response.content if not response.streaming else ""
    return b"".join(response.streaming_content)


def records(reader, fmt: str) -> list[dict]:
    return [json.loads(line) for line in download(reader, fmt).decode().splitlines()]


def canonical(version) -> dict[str, dict]:
    return {json.loads(line)["id"]: json.loads(line) for line in version.rows.values_list("line__text", flat=True)}


# Which rows -------------------------------------------------------------------------------------------------

IDEAL = {
    "parts": "Parcel parts arrives Friday.",
    "pass": "Parcel pass arrives Friday.",
    "pass-multi": "Parcel pass-multi arrives Friday.",
    "solo-fix": "It arrives on Monday.",
    "solo-pass-fix": "It arrives on Friday, 3 June.",
    "z-adjudicated": "Parcels arrive in 3 days.",
}


def test_the_version_holds_every_case_and_one_experts_correction_is_its_gold(version):
    rows = canonical(version)

    assert sorted(rows) == [
        "fail", "marked", "null-content", "parts", "parts-image", "pass", "pass-multi", "pass-tool", "solo-fix",
        "solo-pass-fix", "solo-same", "tie", "tie-fix", "unresolved", "z-adjudicated",
    ]  # fmt: skip
    assert rows["solo-fix"]["expected_output"] == "It arrives on Monday."
    assert rows["solo-fix"]["label"]["fix"] == {"value": "It arrives on Monday.", "method": "single"}
    assert rows["tie-fix"]["expected_output"] is None  # two experts: the fix is one of their texts, not gold
    assert "correct" not in rows["tie"]["label"] and "correct" not in rows["tie-fix"]["label"]
    assert {name: row["gold_status"] for name, row in rows.items() if row["gold_status"] != "resolved"} == {
        "marked": "needs_adjudication", "tie": "needs_adjudication", "tie-fix": "needs_adjudication",
        "unresolved": None,
    }  # fmt: skip


def test_a_row_a_lead_must_still_decide_or_not_yet_resolved_is_never_a_training_example(reader, version):
    waiting = {"Parcel marked arrives Friday.", "It arrives on Sunday.", "Parcel unresolved arrives Friday."}
    trained = [line["messages"][-1]["content"] for line in records(reader, "openai-chat")]
    trained += [line["ideal"] for line in records(reader, "openai-evals")]
    trained += [line["preferred_output"][0]["content"] for line in records(reader, "openai-preference")]
    tools = {line["metadata"]["external_id"]: line for line in records(reader, "langsmith")}

    assert trained and not waiting & set(trained)
    assert tools["marked"]["outputs"] is None and tools["unresolved"]["outputs"] is None
    assert tools["marked"]["metadata"]["gold_status"] == "needs_adjudication"
    assert tools["marked"]["metadata"]["label"]["correct"] == {"value": True, "method": "unanimous"}


def test_openai_chat_takes_passes_and_corrections_never_a_tie_a_bare_fail_or_a_tool_input(reader, version):
    lines = records(reader, "openai-chat")
    answers = {line["messages"][-1]["content"]: line for line in lines}

    assert len(lines) == len(IDEAL) and set(answers) == set(IDEAL.values())
    multi = answers[IDEAL["pass-multi"]]["messages"]
    # The conversation's earlier answer is context, not trained on (weight 0); the judged answer is trained on.
    context = [{**message, "weight": 0} if message["role"] == "assistant" else message for message in MULTI_TURN]
    assert multi == [*context, {"role": "assistant", "content": IDEAL["pass-multi"]}]
    assert [m.get("weight") for m in multi if m["role"] == "assistant"] == [0, None]
    assert answers[IDEAL["solo-fix"]]["messages"] == [
        {"role": "user", "content": "Where is my parcel?"},
        {"role": "assistant", "content": "It arrives on Monday."},
    ]


def test_openai_evals_has_the_same_rows_with_the_ideal_answer(reader, version):
    lines = records(reader, "openai-evals")

    assert [line["ideal"] for line in lines] == [IDEAL[name] for name in sorted(IDEAL)]
    assert lines[2]["input"] == MULTI_TURN


def test_openai_preference_prefers_the_correction_over_the_failing_output(reader, version):
    lines = records(reader, "openai-preference")

    # solo-pass-fix passes (nothing to prefer it over), solo-same's correction is the output itself.
    assert [(line["preferred_output"][0]["content"], line["non_preferred_output"][0]["content"]) for line in lines] == [
        ("It arrives on Monday.", "Parcel solo-fix arrives Friday."),
        ("Parcels arrive in 3 days.", "Parcel z-adjudicated arrives Friday."),
    ]
    assert lines[0]["input"] == {"messages": [{"role": "user", "content": "Where is my parcel?"}]}


@pytest.mark.parametrize("fmt, expected", [("langsmith", "outputs"), ("langfuse", "expectedOutput"),
                                           ("braintrust", "expected")])  # fmt: skip
def test_the_tools_get_every_row_with_its_gold_label_split_and_provenance(reader, version, fmt, expected):
    rows = canonical(version)
    lines = records(reader, fmt)

    assert [line["metadata"]["external_id"] for line in lines] == sorted(rows)
    for line in lines:
        row = rows[line["metadata"]["external_id"]]
        ideal = {**IDEAL, **{name: f"Parcel {name} arrives Friday." for name in OPENAI_REFUSES}}.get(row["id"])
        assert line[expected] == ({"answer": ideal} if fmt == "langsmith" and ideal else ideal)
        assert line["metadata"] | {"label": row["label"], "split": row["split"]} == line["metadata"]
        assert line["metadata"]["project"] == "support-bot" and line["metadata"]["dataset"] == "support-eval"
        assert line["metadata"]["version"] == 1 and line["metadata"]["version_sha256"] == version.sha256
        assert line["metadata"]["judged_output"] == row["output"]
        assert line["id"] == str(uuid.UUID(line["id"]))
    verdicts = {line["metadata"]["external_id"]: line["metadata"]["verdict"] for line in lines}
    assert verdicts["pass"] is True and verdicts["fail"] is False and verdicts["tie"] is None


def test_an_item_keeps_its_id_in_every_version_and_tool(reader, project, version):
    ids = {fmt: [line["id"] for line in records(reader, fmt)] for fmt in ("langsmith", "langfuse", "braintrust")}
    label_outputs(project, 1, texts=["A new one."], tags=["sample"])
    build_version(dataset_id=version.dataset_id)
    v2 = [json.loads(line)["id"] for line in download_version(reader, 2, "langsmith").splitlines()]

    assert ids["langsmith"] == ids["langfuse"] == ids["braintrust"]
    assert len(set(ids["langsmith"])) == 15 and set(ids["langsmith"]) < set(v2) and len(v2) == 16


OPENAI_REFUSES = ("pass-tool", "parts-image", "null-content")


def test_text_parts_become_text_and_a_message_without_text_is_no_openai_example(reader, version):
    rows = canonical(version)
    chat = {line["messages"][-1]["content"]: line["messages"] for line in records(reader, "openai-chat")}

    assert rows["parts"]["input"] == [{"role": "user", "content": "Where is my parcel?\nOrder 77."}]
    assert chat[IDEAL["parts"]][0] == {"role": "user", "content": "Where is my parcel?\nOrder 77."}
    assert rows["null-content"]["input"][1] == {"role": "assistant", "content": ""}  # one type: a string
    assert json.loads(rows["parts-image"]["input"][0]["content"]) == IMAGE_PART[0]["content"]  # kept whole
    assert not {f"Parcel {name} arrives Friday." for name in OPENAI_REFUSES} & set(chat)


def download_version(reader, number: int, fmt: str) -> bytes:
    return b"".join(reader.get(f"{EVAL}/versions/{number}/download?format={fmt}").streaming_content)


# Every line validates against the documented schema --------------------------------------------------------


class Message(msgspec.Struct, forbid_unknown_fields=True):
    role: str
    content: str


class ChatMessage(Message, forbid_unknown_fields=True):
    weight: int | msgspec.UnsetType = msgspec.UNSET  # 0 on the input's assistant turns: not trained on


class Chat(msgspec.Struct, forbid_unknown_fields=True):
    messages: list[ChatMessage]


class PreferenceInput(msgspec.Struct, forbid_unknown_fields=True):
    messages: list[Message]


class Preference(msgspec.Struct, forbid_unknown_fields=True):
    input: PreferenceInput
    preferred_output: list[Message]
    non_preferred_output: list[Message]


class EvalsSample(msgspec.Struct, forbid_unknown_fields=True):
    input: list[Message]
    ideal: str


class Provenance(msgspec.Struct, forbid_unknown_fields=True):
    external_id: str
    project: str
    dataset: str
    version: int
    version_sha256: str
    split: str
    gold_status: str | None
    label: dict[str, dict]
    verdict: bool | None
    judged_output: str
    model: str
    rubric_version: int
    occurred_at: str
    tags: list[str]
    output_metadata: dict


class Inputs(msgspec.Struct, forbid_unknown_fields=True):
    messages: list[Message]


class Answer(msgspec.Struct, forbid_unknown_fields=True):
    answer: str


class LangSmithExample(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    inputs: Inputs
    outputs: Answer | None
    metadata: Provenance
    split: str


LangfuseItem = msgspec.defstruct(
    "LangfuseItem",
    [("id", str), ("input", Inputs), ("expectedOutput", str | None), ("metadata", Provenance)],
    forbid_unknown_fields=True,
)


class BraintrustRecord(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    input: Inputs
    expected: str | None
    metadata: Provenance
    tags: list[str]


SCHEMAS = {
    "openai-chat": Chat, "openai-preference": Preference, "openai-evals": EvalsSample,
    "langsmith": LangSmithExample, "langfuse": LangfuseItem, "braintrust": BraintrustRecord,
}  # fmt: skip


@pytest.mark.parametrize("fmt", list(SCHEMAS))
def test_every_line_has_the_documented_fields_and_types(reader, version, fmt):
    lines = download(reader, fmt).decode().splitlines()

    assert lines
    for line in lines:
        msgspec.json.decode(line, type=SCHEMAS[fmt], strict=True)  # raises on a missing, extra or mistyped field


# OpenAI's published rules ----------------------------------------------------------------------------------
# From OpenAI's fine-tuning guide and the cookbook's "Data preparation and analysis for chat model fine-tuning"
# checks (data_type, missing_messages_list, message_missing_key, message_unrecognized_key, unrecognized_role,
# missing_content, example_missing_assistant_message), the DPO guide (input.messages, one assistant message in
# each of preferred_output and non_preferred_output) and the Evals sample format ({"input": [...], "ideal"}).

ROLES = {"system", "user", "assistant", "tool"}
MESSAGE_KEYS = {"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call"}


def openai_message_errors(messages) -> list[str]:
    if not isinstance(messages, list) or not messages:
        return ["missing_messages_list"]
    errors = []
    for position, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            errors.append("message_missing_key")
            continue
        if set(message) - MESSAGE_KEYS:
            errors.append("message_unrecognized_key")
        if message["role"] not in ROLES:
            errors.append("unrecognized_role")
        if not isinstance(message["content"], str) or not message["content"].strip():
            errors.append("missing_content")
        elif _json_text_of_parts(message["content"]):
            errors.append("content_is_json_text")
        if message["role"] == "system" and any(m.get("role") != "system" for m in messages[:position]):
            errors.append("system_after_conversation_started")
        if message["role"] == "tool" and "tool_call_id" not in message:
            errors.append("tool_message_without_call")
        if "weight" in message and (message["role"] != "assistant" or message["weight"] not in (0, 1)):
            errors.append("invalid_weight")  # multi-turn: 0 or 1, on assistant messages only
    return errors


def _json_text_of_parts(content: str) -> bool:
    """Content that is a list of parts or null written as JSON text: OpenAI would train on the JSON itself."""
    try:
        value = json.loads(content)
    except ValueError:
        return False
    return value is None or (isinstance(value, list) and all(isinstance(part, dict) for part in value))


def openai_chat_errors(example) -> list[str]:
    if not isinstance(example, dict) or set(example) - {"messages", "tools", "parallel_tool_calls"}:
        return ["data_type"]
    messages = example.get("messages")
    errors = openai_message_errors(messages)
    if isinstance(messages, list) and not any(m.get("role") == "assistant" for m in messages):
        errors.append("example_missing_assistant_message")
    if isinstance(messages, list) and messages and messages[-1].get("role") != "assistant":
        errors.append("last_message_not_assistant")
    return errors


def openai_preference_errors(example) -> list[str]:
    if not isinstance(example, dict) or set(example) != {"input", "preferred_output", "non_preferred_output"}:
        return ["data_type"]
    messages = example["input"].get("messages") if isinstance(example["input"], dict) else None
    errors = openai_message_errors(messages)
    if messages and messages[-1].get("role") != "user":
        errors.append("input_not_ending_with_user")
    for side in ("preferred_output", "non_preferred_output"):
        output = example[side]
        if not (isinstance(output, list) and len(output) == 1 and output[0].get("role") == "assistant"):
            errors.append(f"{side}_not_one_assistant_message")
        else:
            errors += openai_message_errors(output)
    if example["preferred_output"] == example["non_preferred_output"]:
        errors.append("preferred_equals_non_preferred")
    return errors


def openai_evals_errors(example) -> list[str]:
    if not isinstance(example, dict) or set(example) != {"input", "ideal"}:
        return ["data_type"]
    errors = openai_message_errors(example["input"])
    if not isinstance(example["ideal"], str) or not example["ideal"].strip():
        errors.append("missing_ideal")
    return errors


VALIDATORS = {"openai-chat": openai_chat_errors, "openai-preference": openai_preference_errors,
              "openai-evals": openai_evals_errors}  # fmt: skip


@pytest.mark.parametrize("fmt", list(VALIDATORS))
def test_the_openai_files_pass_openais_format_rules(reader, version, fmt):
    lines = records(reader, fmt)

    assert lines and {index: VALIDATORS[fmt](line) for index, line in enumerate(lines)} == dict.fromkeys(
        range(len(lines)), []
    )


@pytest.mark.parametrize(
    "example, error",
    [
        ({"messages": [{"role": "user", "content": "q"}]}, "example_missing_assistant_message"),
        ({"messages": [{"role": "developer", "content": "q"}, {"role": "assistant", "content": "a"}]},
         "unrecognized_role"),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": " "}]}, "missing_content"),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "system", "content": "s"},
                       {"role": "assistant", "content": "a"}]}, "system_after_conversation_started"),
        ({"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "q"}]},
         "last_message_not_assistant"),
        ({"messages": [{"role": "user", "content": '[{"text": "q", "type": "text"}]'},
                       {"role": "assistant", "content": "a"}]}, "content_is_json_text"),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "null"}]},
         "content_is_json_text"),
        ({"messages": [{"role": "user", "content": "q", "weight": 0}, {"role": "assistant", "content": "a"}]},
         "invalid_weight"),
    ],
)  # fmt: skip
def test_the_validator_catches_what_openai_refuses(example, error):
    assert error in openai_chat_errors(example)


# Hugging Face ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hf_datasets():
    import datasets  # slow to import: once per module

    datasets.disable_progress_bars()
    return datasets


def card_header(text: str) -> dict:
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, text[:200]
    return yaml.safe_load(match.group(1))


def test_the_hf_zip_loads_every_split_with_one_type_per_column(reader, version, hf_datasets, tmp_path):
    raw = download(reader, "hf")
    zipfile.ZipFile(io.BytesIO(raw)).extractall(tmp_path)
    header = card_header((tmp_path / "README.md").read_text())
    files = {entry["split"]: str(tmp_path / entry["path"]) for entry in header["configs"][0]["data_files"]}
    # The documented way, public API only: the features.json beside the card.
    declared = hf_datasets.Features.from_dict(json.loads((tmp_path / "features.json").read_text()))

    assert sorted(files) == sorted(version.split_counts) and header["license"] == "unknown"
    for order in (files, dict(reversed(files.items()))):  # whichever split is read first
        loaded = hf_datasets.load_dataset("json", data_files=order, features=declared, cache_dir=str(tmp_path / "c"))
        assert {split: loaded[split].num_rows for split in files} == version.split_counts
    assert str(declared["label"]["correct"]["value"]) == "Value('bool')"
    assert str(declared["label"]["helpful"]["value"]) == "Value('float64')"
    assert str(declared["annotations"].feature["answers"]["helpful"]) == "Value('int64')"  # a List of structs
    assert str(declared["metadata"]) == "Value('string')" and str(declared["tags"]) == "List(Value('string'))"
    rows = {row["id"]: row for split in files for row in loaded[split]}
    assert rows["solo-fix"]["expected_output"] == "It arrives on Monday."
    assert rows["tie"]["label"]["correct"] is None and rows["pass"]["label"]["correct"]["value"] is True
    assert rows["pass-multi"]["input"] == MULTI_TURN
    assert json.loads(rows["pass"]["metadata"]) == {"topic": "shipping"}
    folder = hf_datasets.load_dataset(str(tmp_path), cache_dir=str(tmp_path / "folder"))
    assert folder["train"].features == declared  # the card's YAML features are the same


def test_without_the_features_datasets_infers_a_null_column_and_a_later_split_fails_to_cast(
    reader, version, hf_datasets, tmp_path
):
    """Plain inference's limit, shown: a leaf with no value in the first split read is inferred as `null`; wherever a
    split has a value it has the card's type, but a later split with a value then fails to cast."""
    zipfile.ZipFile(io.BytesIO(download(reader, "hf"))).extractall(tmp_path)
    files = {path.stem: str(path) for path in (tmp_path / "data").iterdir()}
    declared = hf_datasets.Features.from_dict(json.loads((tmp_path / "features.json").read_text()))
    inferred = {
        split: _typed_leaves(
            hf_datasets.load_dataset("json", data_files=path, cache_dir=str(tmp_path / split))["train"].features
        )
        for split, path in files.items()
    }
    assert all(leaves <= _typed_leaves(declared) for leaves in inferred.values())  # never another type
    poorer = min(inferred, key=lambda split: len(inferred[split]))
    assert inferred[poorer] < set().union(*inferred.values())  # the fixture's splits differ in what has a value

    first_the_poorer = {poorer: files[poorer], **{split: path for split, path in files.items() if split != poorer}}
    with pytest.raises(hf_datasets.exceptions.DatasetGenerationError) as failed:
        hf_datasets.load_dataset("json", data_files=first_the_poorer, cache_dir=str(tmp_path / "all"))
    assert "Couldn't cast" in str(failed.value.__cause__)


def _typed_leaves(features, prefix="") -> set[tuple[str, str]]:
    """(path, type) of every leaf with a type other than null."""
    leaves = set()
    for name, feature in features.items():
        inner = getattr(feature, "feature", feature)  # a List's items
        if isinstance(inner, dict):
            leaves |= _typed_leaves(inner, f"{prefix}{name}.")
        elif str(inner) != "Value('null')":
            leaves.add((f"{prefix}{name}", str(inner)))
    return leaves


def test_the_hf_card_names_the_provenance_and_loads_as_a_folder(reader, version, hf_datasets, tmp_path):
    raw = download(reader, "hf")
    zipfile.ZipFile(io.BytesIO(raw)).extractall(tmp_path / "support-eval")
    card = (tmp_path / "support-eval" / "README.md").read_text()

    rows = ", ".join(f"{split} {count}" for split, count in sorted(version.split_counts.items(), key=lambda kv: -kv[1]))
    facts = ("`support-bot`", "`support-eval`", "version 1", version.sha256, "Rubric version: v1", "`correct`")
    for fact in (*facts, f"Rows: {rows}"):
        assert fact in card
    assert "How gold was decided" in card
    loaded = hf_datasets.load_dataset(str(tmp_path / "support-eval"), cache_dir=str(tmp_path / "cache"))
    assert sorted(loaded) == sorted(version.split_counts)
    assert sum(part.num_rows for part in loaded.values()) == version.row_count


def test_the_hf_folder_loads_without_a_warning(reader, version, hf_datasets, tmp_path, caplog):
    zipfile.ZipFile(io.BytesIO(download(reader, "hf"))).extractall(tmp_path / "support-eval")

    with caplog.at_level("WARNING", logger="datasets"):
        hf_datasets.load_dataset(str(tmp_path / "support-eval"), cache_dir=str(tmp_path / "cache"))
    assert [record.getMessage() for record in caplog.records if record.name.startswith("datasets")] == []


def test_the_hf_zip_is_the_same_bytes_on_every_download(reader, version):
    first, second = download(reader, "hf"), download(reader, "hf")

    assert first == second and zipfile.ZipFile(io.BytesIO(first)).testzip() is None
    assert zipfile.ZipFile(io.BytesIO(first)).namelist()[0] == "README.md"


# Headers ---------------------------------------------------------------------------------------------------

EXTENSIONS = {"hf": "hf.zip", **{fmt: f"{fmt}.jsonl" for fmt in SCHEMAS}}


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_has_its_own_strong_etag_and_revalidates(client, world, version, fmt):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {world['read']}"}
    response = client.get(f"{EVAL}/versions/latest/download?format={fmt}", **auth)
    again = client.get(f"{EVAL}/versions/1/download?format={fmt}", HTTP_IF_NONE_MATCH=response["ETag"], **auth)
    other = client.get(f"{EVAL}/versions/1/download?format=jsonl", HTTP_IF_NONE_MATCH=response["ETag"], **auth)

    # `.v2`: the rows each takes and the files' layout changed (review mends), so a copy cached before is not a 304.
    # openai-chat v3: weight 0 on earlier assistant turns; hf v3: the card's "Questions" section; hf v4: the fields of
    # every rubric version the labels answered.
    revision = {"openai-chat": 3, "hf": 4}.get(fmt, 2)
    assert response.status_code == 200 and response["ETag"] == f'"{version.sha256}-{fmt}.v{revision}"'
    assert response["Content-Type"] == ("application/zip" if fmt == "hf" else "application/x-ndjson")
    assert response["Content-Disposition"] == f'attachment; filename="support-bot-support-eval-v1.{EXTENSIONS[fmt]}"'
    assert again.status_code == 304 and again.content == b""
    assert other.status_code == 200  # another format's ETag names other bytes


def test_the_formats_are_listed_in_the_schema_and_an_unknown_one_is_a_400(reader, version):
    response = reader.get(f"{EVAL}/versions/1/download?format=openai")
    schema = reader.get("/api/schema/").content.decode()

    assert response.status_code == 400 and "format" in response.json()["errors"][0]["field"]
    assert all(fmt in schema for fmt in FORMATS)
