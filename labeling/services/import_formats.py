"""Files in formats other tools write, turned into output records for `import_outputs --format`.

`openai-chat`: JSONL of OpenAI chat conversations (`{"messages": [...]}`, as fine-tuning and eval files hold
them); the last message is the assistant's answer, the output, and the ones before it are the input.
`otlp-json`: OTLP/JSON trace exports, mapped span by span as the OTLP endpoint maps them (`otlp.py`).
The records are then validated and stored by the ingest's own rules, like a JSONL line of API records.
"""

import hashlib
from pathlib import Path
from typing import Any

import msgspec

from labeling.exceptions import InvalidInput
from labeling.rules.text import noun

from . import otlp

OPENAI_CHAT_KEYS = ("messages", "id", "model", "metadata", "tags", "tools", "parallel_tool_calls")
_canonical = msgspec.json.Encoder(order="sorted")


def openai_chat_record(line: bytes) -> dict[str, Any]:
    """The output record of one `openai-chat` line; InvalidInput saying what is wrong with it."""
    try:
        document = msgspec.json.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        raise InvalidInput(f"Not valid JSON: {exc}.") from None
    if not isinstance(document, dict):
        raise InvalidInput('Each line must be one JSON object: {"messages": [...]}.')
    unknown = sorted(set(document) - set(OPENAI_CHAT_KEYS))
    if unknown:
        raise InvalidInput(
            f"Unknown {noun(len(unknown), 'key')} {', '.join(unknown)}; a line may hold {', '.join(OPENAI_CHAT_KEYS)}."
        )
    messages = document.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidInput("`messages` must be a non-empty list of chat messages.")
    answer = messages[-1]
    if not isinstance(answer, dict) or answer.get("role") != "assistant":
        raise InvalidInput("The last message must be the assistant's answer (role `assistant`): it is the output.")
    output = _answer(answer)
    if output is None:
        raise InvalidInput("The last (assistant) message has no content, refusal or tool calls.")
    external_id = document.get("id")
    if external_id is None:
        # Stable: the same conversation (whatever its spacing or key order) gets the same id on every import.
        external_id = "openai-chat:" + hashlib.sha256(_canonical.encode(document)).hexdigest()
    record: dict[str, Any] = {"external_id": external_id, "output": output}
    if len(messages) > 1:
        # A message without `content` gets a null one: OpenAI leaves the key out of an assistant turn that only
        # called tools, and ingest requires it.
        record["input"] = [
            {**message, "content": None} if isinstance(message, dict) and "content" not in message else message
            for message in messages[:-1]
        ]
    record.update((key, document[key]) for key in ("model", "metadata", "tags") if key in document)
    tools = {key: document[key] for key in ("tools", "parallel_tool_calls") if key in document}
    if tools:
        record["context"] = tools  # the tools the model could call are part of what it was given
    return record


def _answer(message: dict[str, Any]) -> Any:
    """The assistant's text (parts joined), else its refusal, else its tool calls; None when it has none."""
    content = message.get("content")
    if isinstance(content, list):
        texts = [part.get("text") for part in content if isinstance(part, dict) and part.get("type") == "text"]
        content = "\n".join(text for text in texts if isinstance(text, str)) or None
    if isinstance(content, str) and content:
        return content
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        return message["refusal"]
    if message.get("tool_calls"):
        return {"tool_calls": message["tool_calls"]}
    return None


def otlp_json_records(document: bytes) -> otlp.MappedExport:
    """The LLM spans of one OTLP/JSON ExportTraceServiceRequest as records (with the rejected ones and the count
    of others); InvalidInput when it is not one."""
    try:
        decoded = msgspec.json.decode(document)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Not valid JSON: {exc}.") from None
    except RecursionError:
        raise InvalidInput("The JSON nests too deep to be an OTLP export.") from None
    return otlp.map_export(otlp.request_from_json(decoded))


# What Notepad and Windows PowerShell's `Out-File -Encoding utf8` put before the text: no part of the first line.
UTF8_BOM = b"\xef\xbb\xbf"


def is_one_json_document(path: Path) -> bool:
    """Whether an OTLP/JSON file is one (pretty-printed) document rather than one export per line: its first line is
    not JSON on its own, and the whole file is. A file that is neither is read line by line, so that every bad line
    is named."""
    with path.open("rb") as handle:
        first = next((line.removeprefix(UTF8_BOM) for line in handle if line.strip()), None)
    if first is None or _decodes(first):
        return False
    return _decodes(path.read_bytes().removeprefix(UTF8_BOM))


def _decodes(data: bytes) -> bool:
    try:
        msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return False
    return True
