"""Which OpenTelemetry spans are LLM calls, and the output record each one becomes (README "OpenTelemetry").

Pure: a span arrives as a plain dict (decoded from protobuf or OTLP/JSON by `labeling.services.otlp`):

    {"trace_id": "<32 hex>", "span_id": "<16 hex>", "name": str, "start_ns": int, "end_ns": int,
     "status_code": 0 | 1 | 2, "status_message": str, "attributes": {key: value},
     "events": [{"name": str, "time_ns": int, "attributes": {key: value}}], "resource": {key: value}}

Attribute values are plain JSON values (strings, numbers, booleans, lists, objects). The record returned has
the fields of an ingest record (`labeling.services.records.OutputRecord`); the ingest rules then decide
whether it can be stored, exactly as for a record sent over REST.

Three conventions are read, newest first: the OpenTelemetry GenAI semantic conventions (`gen_ai.*`, with
their older prompt/completion attributes and span events), OpenLLMetry's indexed attributes, and
OpenInference (`llm.*`, `input.value`, `output.value`).
"""

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# gen_ai.operation.name values that are one call to a model producing text (not embeddings, tools or agents).
LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "completion"})
METADATA_MAX_KEYS = 50
METADATA_MAX_CHARS = 2_000  # a longer string value is cut here; so is a structured value's JSON
METADATA_MAX_KEY_CHARS = 200  # an attribute with a longer name is left out
METADATA_MAX_DEPTH = 8  # a structured value nested deeper is kept as JSON text
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EVENT_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}
_MODEL_KEYS = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
_SESSION_KEYS = ("gen_ai.conversation.id", "session.id")
_USER_KEYS = ("user.id", "enduser.id")
_TAG_KEYS = ("tag.tags", "expertloop.tags")
_USAGE_PREFIXES = ("gen_ai.usage.", "llm.token_count.")
_RESOURCE_KEYS = ("service.name", "service.version", "deployment.environment.name", "deployment.environment")
# Message bodies are the output's input and output: never copied into metadata as well.
_BODY_KEYS = frozenset(
    {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.prompt",
     "gen_ai.completion", "input.value", "output.value", "metadata", *_TAG_KEYS}
)  # fmt: skip
_BODY_PREFIXES = (
    "gen_ai.prompt.", "gen_ai.completion.", "llm.input_messages.", "llm.output_messages.", "llm.prompts.",
    "llm.completions.",
)  # fmt: skip
_INDEXED = re.compile(r"(\d+)\.(.+)")


@dataclass(frozen=True)
class MappedSpan:
    """An LLM span: the output record it becomes, or why it cannot become one."""

    label: str  # "<trace id>:<span id> (<span name>)", for messages
    record: dict[str, Any] | None
    problem: str | None = None


def is_llm_call(attributes: dict[str, Any]) -> bool:
    """Whether the span's attributes say it is one call to a language model."""
    operation = attributes.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation:
        return operation.lower() in LLM_OPERATIONS
    kind = attributes.get("openinference.span.kind")
    if isinstance(kind, str) and kind:
        return kind.upper() == "LLM"
    if (attributes.get("gen_ai.system") or attributes.get("gen_ai.provider.name")) and attributes.get(
        "gen_ai.request.model"
    ):
        return True
    if attributes.get("llm.request.type") in ("chat", "completion"):  # OpenLLMetry
        return True
    return any(key.startswith(("llm.input_messages.", "gen_ai.prompt.")) for key in attributes)


def map_span(span: dict[str, Any]) -> MappedSpan | None:
    """The output record of an LLM span; None for a span that is not an LLM call (it is ignored)."""
    attributes, resource = span["attributes"], span["resource"]
    if not is_llm_call(attributes):
        return None
    label = f"{span['trace_id']}:{span['span_id']} ({span['name'][:80]})"
    problem = _id_problem(span["trace_id"], 16, "trace") or _id_problem(span["span_id"], 8, "span")
    if problem:
        return MappedSpan(label, None, problem)
    output = _output(attributes, span["events"])
    if output is None:
        status = _STATUS.get(span["status_code"], str(span["status_code"]))
        if span["status_message"]:
            status += f": {span['status_message'][:200]}"
        reason = f"No output text: none of the output attributes or events is set (span status {status})."
        return MappedSpan(label, None, reason)
    used: set[str] = set()
    record: dict[str, Any] = {
        "external_id": f"{span['trace_id']}:{span['span_id']}",
        "occurred_at": _moment(span["end_ns"]),
        "output": output,
    }
    optional = {
        "input": _input(attributes, span["events"]),
        "model": _first_text(attributes, _MODEL_KEYS, used),
        "session_id": _first_text(attributes, _SESSION_KEYS, used) or _first_text(resource, _SESSION_KEYS, set()),
        "end_user_id": _first_text(attributes, _USER_KEYS, used) or _first_text(resource, _USER_KEYS, set()),
        "tags": _tags(attributes, resource),
        "metadata": _metadata(span, used),  # last: it leaves out the attributes the fields above used
    }
    record.update((name, value) for name, value in optional.items() if value)
    return MappedSpan(label, record)


def _id_problem(hex_id: str, size: int, what: str) -> str | None:
    if len(hex_id) != 2 * size or set(hex_id) == {"0"}:
        return f"The {what} id must be {size} bytes, not all zero; got {hex_id[:64]!r}."
    return None


def _moment(nanoseconds: int) -> str:
    """The instant as ISO 8601 in UTC (ingest checks that it lies in the accepted range)."""
    return (_EPOCH + timedelta(microseconds=nanoseconds // 1000)).isoformat()


# Input and output ---------------------------------------------------------------------------------------------


def _input(attributes: dict[str, Any], events: list[dict[str, Any]]) -> str | list[dict[str, Any]] | None:
    """Chat messages (or a prompt string) the model was given, from the first convention that has them."""
    messages = _message_list(attributes.get("gen_ai.input.messages"))
    instructions = attributes.get("gen_ai.system_instructions")
    if instructions is not None:
        parsed = _parsed(instructions)
        system = {"role": "system", "content": _parts_content(parsed) if isinstance(parsed, list) else parsed}
        messages = [system, *(messages or [])]
    if messages:
        return messages
    prompts = _indexed(attributes, "gen_ai.prompt.") or _indexed(attributes, "llm.prompts.")
    if prompts:
        return [_message(item.get("role", "user"), item.get("content")) for item in prompts]
    prompt = attributes.get("gen_ai.prompt")
    if prompt is not None:
        return _message_list(prompt) or _text(prompt)
    from_events = [
        _message((_event_body(event).get("role") or _EVENT_ROLES[event["name"]]), _event_body(event).get("content"))
        for event in events
        if event["name"] in _EVENT_ROLES
    ]
    if from_events:
        return from_events
    for event in events:
        if event["name"] == "gen_ai.content.prompt" and "gen_ai.prompt" in event["attributes"]:
            value = event["attributes"]["gen_ai.prompt"]
            return _message_list(value) or _text(value)
    openinference = _indexed(attributes, "llm.input_messages.")
    if openinference:
        return [_message(item.get("message.role", "user"), _openinference_content(item)) for item in openinference]
    value = attributes.get("input.value")
    return _text(value) if value is not None else None


def _output(attributes: dict[str, Any], events: list[dict[str, Any]]) -> Any:
    """The model's answer: its text, else its tool calls (as JSON); None when the span holds neither."""
    messages = _message_list(attributes.get("gen_ai.output.messages"))
    if messages:
        answers = [m for m in messages if m["role"] == "assistant"] or messages
        answer = next((m for m in answers if m["content"] not in (None, "", [])), None)
        if answer:
            return answer["content"]
    completions = _indexed(attributes, "gen_ai.completion.") or _indexed(attributes, "llm.completions.")
    if completions:
        if completions[0].get("content") not in (None, ""):
            return _text(completions[0]["content"])
        calls = _tool_calls(completions[0], "tool_calls.")  # OpenLLMetry
        if calls:
            return calls
    completion = attributes.get("gen_ai.completion")
    if completion not in (None, ""):
        listed = _message_list(completion)
        return listed[0]["content"] if listed else _text(completion)
    for event in events:
        if event["name"] == "gen_ai.choice":
            body = _event_body(event)
            message = _parsed(body.get("message"))
            content = message.get("content") if isinstance(message, dict) else body.get("message.content")
            if content not in (None, ""):
                return _content(content)
            if isinstance(message, dict) and message.get("tool_calls"):
                return {"tool_calls": message["tool_calls"]}
        if event["name"] == "gen_ai.content.completion" and event["attributes"].get("gen_ai.completion"):
            value = event["attributes"]["gen_ai.completion"]
            listed = _message_list(value)
            return listed[0]["content"] if listed else _text(value)
    openinference = _indexed(attributes, "llm.output_messages.")
    if openinference:
        content = _openinference_content(openinference[0])
        if content not in (None, ""):
            return content
        calls = _tool_calls(openinference[0], "message.tool_calls.")
        if calls:
            return calls
    value = attributes.get("output.value")
    return _text(value) if value not in (None, "") else None


def _message_list(value: Any) -> list[dict[str, Any]] | None:
    """GenAI messages ([{role, parts: [...]}] or [{role, content}]), given as a JSON string or structured."""
    value = _parsed(value)
    if not isinstance(value, list) or not value or not all(isinstance(item, dict) for item in value):
        return None
    messages = []
    for item in value:
        content = _parts_content(item["parts"]) if isinstance(item.get("parts"), list) else item.get("content")
        message = _message(item.get("role") or "unknown", content)
        if isinstance(item.get("name"), str):
            message["name"] = item["name"]
        messages.append(message)
    return messages


def _parts_content(parts: list[Any]) -> str | list[Any] | None:
    """Text parts joined into one string; parts of other kinds (tool calls, images) kept as they are."""
    if not parts:
        return None
    texts = [part.get("content") for part in parts if isinstance(part, dict) and part.get("type") == "text"]
    if len(texts) == len(parts) and all(isinstance(text, str) for text in texts):
        return "\n".join(texts)
    return parts


def _message(role: Any, content: Any) -> dict[str, Any]:
    return {"role": role if isinstance(role, str) else str(role), "content": _content(content)}


def _content(content: Any) -> str | list[Any] | None:
    """A chat message's content as ingest takes it: a string, a list of parts or null."""
    if content is None or isinstance(content, str | list):
        return content
    return json.dumps(content, ensure_ascii=False)


def _openinference_content(item: dict[str, Any]) -> str | None:
    if item.get("message.content") is not None:
        return _text(item["message.content"])
    texts = [
        value
        for key, value in sorted(item.items(), key=lambda pair: _natural(pair[0]))
        if key.startswith("message.contents.") and key.endswith(".message_content.text")
    ]
    return "\n".join(map(_text, texts)) or None


def _tool_calls(message: dict[str, Any], prefix: str) -> dict[str, list[dict[str, Any]]] | None:
    """An indexed message's `<prefix>N.…` attributes as {"tool_calls": [...]}, the shape OpenAI's messages and
    `import_outputs --format openai-chat` use; None when it has none.

    OpenLLMetry writes `tool_calls.N.id` / `.name` / `.arguments`; OpenInference `tool_calls.N.tool_call.id` /
    `.tool_call.function.name` / `.tool_call.function.arguments`, which nest as {"id", "function": {…}}."""
    calls = _indexed(message, prefix)
    return {"tool_calls": [_nested(call) for call in calls]} if calls else None


def _nested(flat: dict[str, Any]) -> dict[str, Any]:
    """{"tool_call.function.name": v} → {"function": {"name": v}}; a key whose path is taken stays flat."""
    tree: dict[str, Any] = {}
    for key, value in sorted(flat.items()):
        *path, leaf = key.removeprefix("tool_call.").split(".")
        node = tree
        for part in path:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                node = tree
                leaf = key
                break
        node[leaf] = value
    return tree


def _event_body(event: dict[str, Any]) -> dict[str, Any]:
    """The event's body: its attributes, or the JSON some instrumentations put in `gen_ai.event.content`."""
    body = _parsed(event["attributes"].get("gen_ai.event.content"))
    return body if isinstance(body, dict) else event["attributes"]


def _indexed(attributes: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """`prefix.0.role`, `prefix.0.content`, `prefix.1.…` → [{role, content}, {…}] in index order."""
    groups: dict[int, dict[str, Any]] = {}
    for key, value in attributes.items():
        if key.startswith(prefix):
            match = _INDEXED.fullmatch(key[len(prefix) :])
            if match:
                groups.setdefault(int(match[1]), {})[match[2]] = value
    return [groups[index] for index in sorted(groups)]


def _natural(key: str) -> list[Any]:
    return [int(piece) if piece.isdigit() else piece for piece in key.split(".")]


def _parsed(value: Any) -> Any:
    """A JSON string decoded (attributes often carry JSON as text); anything else as it is."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


# Ids, tags and metadata ---------------------------------------------------------------------------------------


def _first_text(attributes: dict[str, Any], keys: tuple[str, ...], used: set[str]) -> str | None:
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            used.add(key)
            return str(value)
    return None


def _tags(attributes: dict[str, Any], resource: dict[str, Any]) -> list[str]:
    tags: list[str] = []
    for source in (attributes, resource):
        for key in _TAG_KEYS:
            value = _parsed(source.get(key))
            values = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else []
            for tag in values:
                tag = tag.strip() if isinstance(tag, str) else None
                if tag and tag not in tags:
                    tags.append(tag)
    return tags


def _metadata(span: dict[str, Any], used: set[str]) -> dict[str, Any]:
    """The span's other attributes, bounded: what the call was (name, latency, status, service), token usage
    first, then the keys of OpenInference's `metadata` JSON, then the rest by name; message bodies and attributes
    that became fields left out."""
    attributes, resource = span["attributes"], span["resource"]
    chosen: dict[str, Any] = {"otel.span_name": span["name"]}
    if span["start_ns"] and span["end_ns"] >= span["start_ns"]:
        chosen["latency_ms"] = round((span["end_ns"] - span["start_ns"]) / 1e6, 3)
    chosen["otel.status_code"] = _STATUS.get(span["status_code"], str(span["status_code"]))
    if span["status_message"]:
        chosen["otel.status_message"] = span["status_message"]
    chosen.update((key, resource[key]) for key in _RESOURCE_KEYS if key in resource)
    others = {
        key: value
        for key, value in attributes.items()
        if key not in used and key not in _BODY_KEYS and not key.startswith(_BODY_PREFIXES)
    }
    # OpenInference's `metadata` attribute is a JSON object of the application's own keys: they join ours,
    # ranked after token usage and before the span's other attributes (an attribute of the same name wins).
    extra = _parsed(attributes.get("metadata"))
    own = {str(key) for key in extra} if isinstance(extra, dict) else set()
    if own:
        others = {**{str(key): value for key, value in extra.items()}, **others}

    def rank(key: str) -> tuple[int, str]:
        return (0 if key.startswith(_USAGE_PREFIXES) else 1 if key in own and key not in attributes else 2), key

    ordered = sorted(others.items(), key=lambda pair: rank(pair[0]))
    dropped = 0
    for key, value in ordered:
        if key in chosen:
            continue
        if len(chosen) >= METADATA_MAX_KEYS - 1 or len(key) > METADATA_MAX_KEY_CHARS:
            dropped += 1
            continue
        chosen[key] = value
    bounded = {key: _bounded(value) for key, value in chosen.items()}
    if dropped:
        bounded["otel.dropped_attributes"] = dropped
    return bounded


def _bounded(value: Any) -> Any:
    """A value cut to size: long text shortened; a structured value that is long, deep or holds NaN as JSON text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN or Infinity
    if isinstance(value, str):
        return value if len(value) <= METADATA_MAX_CHARS else value[: METADATA_MAX_CHARS - 1] + "…"
    if isinstance(value, dict | list):
        try:
            text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        except ValueError:
            text = json.dumps(value, ensure_ascii=False)
            return _bounded(text)
        if len(text) > METADATA_MAX_CHARS or _deeper_than(value, METADATA_MAX_DEPTH):
            return _bounded(text)
    return value


def _deeper_than(value: Any, levels: int) -> bool:
    if not isinstance(value, dict | list) or not value:
        return False
    if levels <= 0:
        return True
    return any(_deeper_than(child, levels - 1) for child in (value.values() if isinstance(value, dict) else value))
