"""Eval-ready downloads of a dataset version: OpenAI fine-tuning and evals files, LangSmith, Langfuse and
Braintrust dataset items, and a Hugging Face dataset (a zip of one JSONL file per split and a dataset card).

Each is derived from the version's stored canonical rows, streamed in position order, and decides which rows
it takes from the row alone and the version's `RowShape`:

- a row's **verdict** is the gold value of its verdict question: the first binary question of the rubric version
  it was labeled with (the question the pass rate reads). A tie, an unresolved row or that question left out of the
  dataset is no verdict.
- its **correction** is `expected_output`: the gold correction (a lead's, or the one expert's on an item with
  overlap 1), when it is not blank.
- its **ideal** answer is the correction, else the model output when the verdict passes; a row whose gold is not
  settled (`gold_status` other than "resolved": a tie, an item a lead sent back to adjudication, an item not resolved
  yet) or whose rubric has a verdict question but that has no verdict has none, correction or not: it never becomes
  a training example (nor a preference pair).

The OpenAI formats also leave out rows OpenAI would refuse: an input that is empty, has a message with empty
content (a null content is stored as "") or content that is a list of parts with more than text, kept as JSON text,
or a role other than system, user and assistant (tool messages lose their tool calls in the canonical row), a
system message after the first turn, or does not end with a user message.
"""

import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import msgspec
import yaml

from labeling.models import DatasetVersion
from labeling.rules.text import isolated, noun

from .export_rows import Drain, RowShape, batched, stored_lines

OPENAI_ROLES = {"system", "user", "assistant"}
HF_DATA_DIR = "data"
HF_FEATURES = "features.json"
HF_LICENSE = "unknown"  # no project or dataset setting names a license: the owner sets it before publishing
HF_COLUMNS = (
    "id", "split", "input", "output", "expected_output", "gold_status", "label", "annotations", "metadata", "tags",
    "model", "rubric_version", "occurred_at", "labeled_at",
)  # fmt: skip
_decode = msgspec.json.decode
_encoder = msgspec.json.Encoder()  # insertion order: the Hugging Face files keep the schema's column order
_sorted = msgspec.json.Encoder(order="sorted")
_ITEM_NAMESPACE = uuid.UUID("6f1d8e0c-2b7a-5c1e-9d3f-8a4b6c2e1f00")


def correction(row: dict) -> str | None:
    """The row's gold correction, when it is not blank and not the output itself."""
    text = row["expected_output"]
    # A "correction" that is the output itself corrects nothing (the labeling form treats it the same way).
    return text if isinstance(text, str) and text.strip() and text.strip() != row["output"].strip() else None


def ideal(row: dict, shape: RowShape) -> str | None:
    """The answer a model should give: the correction, else the output when the gold passes; None for a row
    without one, and for a row whose gold is not settled or whose verdict is undecided, even with a correction."""
    verdict = shape.verdict(row)
    if not shape.settled(row) or (shape.verdict_key(row) is not None and verdict is None):
        return None
    if (fixed := correction(row)) is not None:
        return fixed
    return row["output"] if verdict is True and row["output"].strip() else None


def openai_ready(messages: list[dict]) -> bool:
    """Whether OpenAI takes these input messages: roles system, user, assistant, every content non-blank, system
    messages only at the start, the last one from the user (the answer follows it)."""
    if not messages or messages[-1]["role"] != "user":
        return False
    seen_turn = False
    for message in messages:
        if message["role"] not in OPENAI_ROLES or not message["content"].strip() or _parts_as_json(message["content"]):
            return False
        if message["role"] == "system" and seen_turn:
            return False
        seen_turn = seen_turn or message["role"] != "system"
    return True


def _parts_as_json(content: str) -> bool:
    """Content that is a list of parts with more than text (an image), or null, as JSON text: OpenAI would train on
    the JSON itself. (Rows built before text parts became text hold those as JSON text too; so do nulls, as "null".)"""
    text = content.strip()
    if text == "null":
        return True
    if not text.startswith("["):
        return False
    try:
        parts = _decode(text)
    except (msgspec.DecodeError, RecursionError, ValueError):  # msgspec gives up on deep nesting with RecursionError
        return False
    # Parts as chat APIs write them ({"type": "text", …}, {"type": "image_url", …}); any other JSON is the text itself.
    return bool(parts) and isinstance(parts, list) and all(isinstance(part, dict) and "type" in part for part in parts)


def _assistant(content: str) -> dict[str, str]:
    return {"role": "assistant", "content": content}


def openai_chat(row: dict, shape: RowShape) -> dict | None:
    """`{"messages": [...input, assistant ideal]}` for a row with an ideal answer."""
    answer = ideal(row, shape)
    if answer is None or not openai_ready(row["input"]):
        return None
    # The experts judged the last answer only: earlier assistant turns are the conversation so far, weight 0 in
    # OpenAI's multi-turn format, so a fine-tune learns from the judged answer alone (its weight defaults to 1).
    context = [{**message, "weight": 0} if message["role"] == "assistant" else message for message in row["input"]]
    return {"messages": [*context, _assistant(answer)]}


def openai_preference(row: dict, shape: RowShape) -> dict | None:
    """The correction preferred over the failing output, for a row whose gold fails (or whose rubric has no verdict
    question) and whose correction differs from the output."""
    fixed = correction(row)
    verdict, has_verdict = shape.verdict(row), shape.verdict_key(row) is not None
    if (
        fixed is None
        or not shape.settled(row)
        or (has_verdict and verdict is not False)
        or not openai_ready(row["input"])
    ):
        return None
    if not row["output"].strip() or fixed.strip() == row["output"].strip():
        return None
    return {
        "input": {"messages": row["input"]},
        "preferred_output": [_assistant(fixed)],
        "non_preferred_output": [_assistant(row["output"])],
    }


def openai_evals(row: dict, shape: RowShape) -> dict | None:
    """An OpenAI Evals sample, `{"input": [...messages], "ideal": "..."}`, for a row with an ideal answer."""
    answer = ideal(row, shape)
    if answer is None or not openai_ready(row["input"]):
        return None
    return {"input": row["input"], "ideal": answer}


def item_id(shape: RowShape, row: dict) -> str:
    """A UUID named by the project, dataset and external id: the same output is the same item in every version, so
    importing a newer version updates items instead of adding twins (LangSmith, Langfuse and Braintrust upsert on
    it)."""
    return str(uuid.uuid5(_ITEM_NAMESPACE, f"{shape.project}/{shape.dataset}/{row['id']}"))


def provenance(row: dict, shape: RowShape) -> dict[str, Any]:
    """What the tools' `metadata` carries: where the row comes from, its split, the gold label and verdict, and
    the output the experts judged."""
    return {
        "external_id": row["id"],
        "project": shape.project,
        "dataset": shape.dataset,
        "version": shape.number,
        "version_sha256": shape.sha256,
        "split": row["split"],
        "gold_status": row.get("gold_status", "resolved" if shape.only_resolved else None),
        "label": row["label"],
        "verdict": shape.verdict(row),
        "judged_output": row["output"],
        "model": row["model"],
        "rubric_version": row["rubric_version"],
        "occurred_at": row["occurred_at"],
        "tags": row["tags"],
        "output_metadata": row["metadata"],
    }


def langsmith(row: dict, shape: RowShape) -> dict:
    """A LangSmith example: `inputs`, reference `outputs` (null without an ideal answer), `metadata`, `split`."""
    answer = ideal(row, shape)
    return {
        "id": item_id(shape, row),
        "inputs": {"messages": row["input"]},
        "outputs": None if answer is None else {"answer": answer},
        "metadata": provenance(row, shape),
        "split": row["split"],
    }


def langfuse(row: dict, shape: RowShape) -> dict:
    """A Langfuse dataset item: `input`, `expectedOutput` (null without an ideal answer), `metadata`."""
    return {
        "id": item_id(shape, row),
        "input": {"messages": row["input"]},
        "expectedOutput": ideal(row, shape),
        "metadata": provenance(row, shape),
    }


def braintrust(row: dict, shape: RowShape) -> dict:
    """A Braintrust dataset record: `input`, `expected` (null without an ideal answer), `metadata`, `tags`."""
    return {
        "id": item_id(shape, row),
        "input": {"messages": row["input"]},
        "expected": ideal(row, shape),
        "metadata": provenance(row, shape),
        "tags": row["tags"],
    }


def _jsonl(record: Callable[[dict, RowShape], dict | None]) -> Callable[..., Iterator[bytes]]:
    def chunks(*, version: DatasetVersion) -> Iterator[bytes]:
        shape = RowShape.of(version)
        records = (record(_decode(line), shape) for line in stored_lines(version))
        lines = (_sorted.encode(item).decode() + "\n" for item in records if item is not None)
        # The first record is a chunk of its own: a download reads up to it before its headers go (they say whether
        # the file is empty), not up to a full chunk, which of a version where few rows qualify was all of it.
        if (first := next(lines, None)) is not None:
            yield first.encode()
            yield from batched(lines)

    chunks.__doc__ = f"The version as {record.__name__} JSONL: one record a line, rows without one left out."
    return chunks


JSONL_FORMATS = {
    "openai-chat": _jsonl(openai_chat),
    "openai-preference": _jsonl(openai_preference),
    "openai-evals": _jsonl(openai_evals),
    "langsmith": _jsonl(langsmith),
    "langfuse": _jsonl(langfuse),
    "braintrust": _jsonl(braintrust),
}


# -- Hugging Face ---------------------------------------------------------------------------------------------


def hf_split(split: str) -> str:
    """A split name Hugging Face accepts (`\\w+`): our split names may hold dashes."""
    return split.replace("-", "_")


def hf_row(line: str, shape: RowShape) -> dict[str, Any]:
    """A stored line as a Hugging Face row: every column one type in every row (see `hf_features`)."""
    row = _decode(line)
    typed = {column: row.get(column) for column in HF_COLUMNS}
    typed["input"] = [{"role": message["role"], "content": message["content"]} for message in row["input"]]
    typed["label"] = shape.typed_label(row["label"], rubric_version=row["rubric_version"])
    typed["annotations"] = shape.typed_annotations(row["annotations"])
    typed["metadata"] = _sorted.encode(row["metadata"]).decode()
    return typed


def _hf_types(shape: RowShape) -> dict[str, Any]:
    import pyarrow as pa

    types = {"rubric_version": pa.int64(), **shape.arrow_types()}
    return {column: types.get(column, pa.string()) for column in HF_COLUMNS}


def _dtype(arrow_type) -> str:
    import pyarrow as pa

    return {pa.bool_(): "bool", pa.int64(): "int64", pa.float64(): "float64", pa.null(): "null"}.get(
        arrow_type, "string"
    )


def hf_features(shape: RowShape) -> list[dict]:
    """The `dataset_info.features` of the card, as `datasets` writes them, from the same Arrow types."""
    import pyarrow as pa

    def feature(arrow_type) -> dict:
        if pa.types.is_struct(arrow_type):
            return {"struct": [{"name": field.name, **feature(field.type)} for field in arrow_type]}
        if pa.types.is_list(arrow_type):
            inner = feature(arrow_type.value_type)
            return {"list": inner["dtype"] if "dtype" in inner else inner["struct"]}
        return {"dtype": _dtype(arrow_type)}

    return [{"name": column, **feature(arrow_type)} for column, arrow_type in _hf_types(shape).items()]


def hf_features_json(shape: RowShape) -> dict:
    """The same features as `datasets.Features.to_dict()` writes them, for the public `Features.from_dict` (a
    struct is a dict, a list `[item]`, a leaf a `Value`): `load_dataset("json", data_files=…, features=…)` then
    reads every split with the card's types."""
    import pyarrow as pa

    def feature(arrow_type) -> dict | list:
        if pa.types.is_struct(arrow_type):
            return {field.name: feature(field.type) for field in arrow_type}
        if pa.types.is_list(arrow_type):
            return [feature(arrow_type.value_type)]
        return {"dtype": _dtype(arrow_type), "_type": "Value"}

    return {column: feature(arrow_type) for column, arrow_type in _hf_types(shape).items()}


def hf_questions(shape: RowShape) -> str:
    """The card's "Questions" section: each question as each rubric version of the rows asked it (its newest prompt),
    and a warning for each key that changed meaning between them, whose values do not compare across versions."""
    lines = []
    for history in shape.questions:
        prompt = " ".join(history.asked[-1][1]["prompt"].split())  # one line: a line break would end the list item
        # Options isolated as the prompt is: the card is read as text, where an override would reorder its words.
        lines.append(f"- `{history.key}`: {history.described(isolate=isolated)} ({isolated(prompt)})")
    warnings = [f"**Warning:** {history.warning(isolate=isolated)}" for history in shape.questions if history.changed]
    older = [name for name, (key, _) in shape.fields.items() if name != key]
    if older:
        named = ", ".join(f"`{name}`" for name in older)
        warnings.append(
            "A key whose kind changed has its newest kind's type under its own name in `label` and `annotations` "
            f"here, and the answers given as an older kind under `<key>@<kind>`, typed by that kind: {named}."
        )
    text = "\n".join(lines) or "None."
    return (
        "## Questions\n\nWhat each question asked, in each rubric version the rows answered (a row's and an "
        f"annotation's `rubric_version` names its version):\n\n{text}\n\n"
        + "".join(f"{warning}\n\n" for warning in warnings)
    )


def hf_card(shape: RowShape, split_counts: dict[str, int]) -> str:
    """The dataset card: a YAML header (license, configs and data files per split, features) and the provenance in
    prose."""
    splits = sorted(split_counts, key=lambda split: (-split_counts[split], split))  # the largest first
    header = {
        "license": HF_LICENSE,
        "pretty_name": shape.dataset_name,
        "tags": ["expertloop", "human-feedback"],
        "configs": [
            {
                "config_name": "default",
                "data_files": [
                    {"split": hf_split(split), "path": f"{HF_DATA_DIR}/{hf_split(split)}.jsonl"} for split in splits
                ],
            }
        ],
        # No `splits`: `datasets` wants each split's num_bytes (of its Arrow table, unknown here) besides num_examples,
        # and warns on every load when one is missing. The rows per split are in the text.
        "dataset_info": {"features": hf_features(shape)},
    }
    rubrics = ", ".join(f"v{number}" for number in shape.rubric_versions) or "none"
    verdicts = ", ".join(f"v{number}: `{key}`" for number, key in sorted(shape.verdict_keys.items()) if key)
    body = f"""# {shape.dataset_name}

Expert-labeled outputs exported from expertloop.

## Provenance

- Project: `{shape.project}`, dataset: `{shape.dataset}`, version {shape.number}
- Checksum: SHA-256 of the version's canonical JSONL: `{shape.sha256}`
- Rows: {", ".join(f"{hf_split(split)} {split_counts[split]}" for split in splits) or "none"}
- {noun(len(shape.rubric_versions), "Rubric version")}: {rubrics}; verdict question by version: {verdicts or "none"}
- License: `{HF_LICENSE}` (expertloop has no license setting; set one before you publish this dataset)

{hf_questions(shape)}## How gold was decided

Each row is one output, labeled by one or more domain experts. Its `label` is the gold answer per question:
binary and choice questions by majority (`unanimous`, `majority`; a tie is no answer and waits for a lead), rating
by median, multi_choice option by option, text and corrections as the experts' texts (`list`) until a lead picks
one; a lead's decision (`adjudicated`) wins over the automatic answer. On an item only one expert labeled, that
expert's correction is the gold correction (`single`). `expected_output` is the gold correction, when there is one.

## Columns

One type per column in every row: `input` is a list of `{{role, content}}` messages; `label` has one field per
question any rubric version of the rows' labels asked (null when the row has no gold answer to it), each
`{{value, method}}` with the value typed by the question's kind (binary bool, rating float, choice and text string,
multi_choice list of strings); `annotations` lists each expert's answers under a pseudonym, the same way (a rating an
int), an older label's answer to a question later dropped included; a question asked as another kind by an older
version has a field `<key>@<kind>` for those answers; `metadata` is the output's free-form metadata as JSON text;
`occurred_at` and `labeled_at` are ISO 8601 strings.
"""
    return "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True) + "---\n\n" + body


def hf_chunks(*, version: DatasetVersion) -> Iterator[bytes]:
    """The version as a zip: `README.md` (the card), `features.json` (its features for `Features.from_dict`) and
    `data/<split>.jsonl` per split, streamed; the same bytes on every download (entries dated by the version's
    build, compressed the same way)."""
    shape = RowShape.of(version)
    sink = Drain()
    moment = version.built_at or datetime(1980, 1, 1)
    stamp = (max(moment.year, 1980), moment.month, moment.day, moment.hour, moment.minute, moment.second)

    def entry(name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        return info

    with zipfile.ZipFile(sink, "w") as archive:
        archive.writestr(entry("README.md"), hf_card(shape, version.split_counts or {}))
        archive.writestr(entry(HF_FEATURES), _encoder.encode(hf_features_json(shape)).decode() + "\n")
        yield sink.drain()
        for split in sorted(version.split_counts or {}):
            with archive.open(entry(f"{HF_DATA_DIR}/{hf_split(split)}.jsonl"), "w", force_zip64=True) as file:
                lines = (
                    _encoder.encode(hf_row(line, shape)).decode() + "\n" for line in stored_lines(version, split=split)
                )
                for chunk in batched(lines):
                    file.write(chunk)
                    yield sink.drain()
    yield sink.drain()
