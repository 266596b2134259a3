"""Spans written by hand in each convention become the output records the README's mapping table promises.

Each export is OTLP/JSON as the specification writes it, decoded by the service into the official protobuf
message and mapped; every field of the record is asserted (the record is compared whole).
"""

import json

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from labeling.exceptions import InvalidInput
from labeling.rules.otlp import METADATA_MAX_CHARS, METADATA_MAX_KEYS
from labeling.services.otlp import decode_export, map_export, request_from_json
from tests.helpers.otlp import END, START, TRACE_ID, export, nanos, span

SPAN_ID = "eee19b7ec3c1b174"
EXTERNAL_ID = f"{TRACE_ID}:{SPAN_ID}"
OCCURRED_AT = "2026-11-20T09:15:01.250000+00:00"


def mapped(document: dict) -> list[dict]:
    """The records of the export's LLM spans (asserting that none was rejected)."""
    result = map_export(request_from_json(json.loads(json.dumps(document))))
    assert result.rejected == []
    return [record for _, record in result.records]


def test_current_genai_conventions():
    """gen_ai.input.messages / output.messages (JSON text and structured), system instructions, the response
    model over the request model, the conversation id, the end user from the resource, expertloop.tags."""
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "You are the shop's support bot."}]),
        "gen_ai.input.messages": json.dumps(
            [
                {"role": "user", "parts": [{"type": "text", "content": "Can I return shoes I wore once?"}]},
                {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "policy", "arguments": {}}]},
            ]
        ),
        # Structured (an array of kvlists), as an SDK that sets complex attributes sends it.
        "gen_ai.output.messages": [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": "Yes, within 30 days"}, {"type": "text", "content": "if clean."}],
                "finish_reason": "stop",
            }
        ],
        "gen_ai.conversation.id": "conv-1041",
        "gen_ai.usage.input_tokens": 42,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.request.temperature": 0.2,
        "expertloop.tags": ["returns", "vip", "returns"],
        "server.address": "api.openai.com",
    }
    resource = {"service.name": "support-bot", "service.version": "2.3.1", "user.id": "u-8f3a", "host.name": "web-1"}

    [record] = mapped(export(span(SPAN_ID, name="chat gpt-4o", attrs=attrs), resource=resource))

    assert record == {
        "external_id": EXTERNAL_ID,
        "occurred_at": OCCURRED_AT,
        "model": "gpt-4o-2024-08-06",
        "input": [
            {"role": "system", "content": "You are the shop's support bot."},
            {"role": "user", "content": "Can I return shoes I wore once?"},
            {"role": "assistant", "content": [{"type": "tool_call", "id": "c1", "name": "policy", "arguments": {}}]},
        ],
        "output": "Yes, within 30 days\nif clean.",
        "session_id": "conv-1041",
        "end_user_id": "u-8f3a",
        "tags": ["returns", "vip"],
        "metadata": {
            "otel.span_name": "chat gpt-4o",
            "latency_ms": 1250.0,
            "otel.status_code": "UNSET",
            "service.name": "support-bot",
            "service.version": "2.3.1",
            "gen_ai.usage.input_tokens": 42,
            "gen_ai.usage.output_tokens": 7,
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.request.temperature": 0.2,
            "gen_ai.response.finish_reasons": ["stop"],
            "server.address": "api.openai.com",
        },
    }


def test_older_prompt_and_completion_attributes():
    """OpenLLMetry's gen_ai.prompt.N / gen_ai.completion.N, gen_ai.system with the request model (no operation
    name), session.id and user.id on the span; OpenInference-style tags from the resource."""
    attrs = {
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-3.5-turbo",
        "llm.request.type": "chat",
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": "Be brief.",
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": "Where is my order #1041?",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "It left the warehouse yesterday.",
        "gen_ai.completion.0.finish_reason": "stop",
        "gen_ai.usage.prompt_tokens": 31,
        "session.id": "s-77",
        "user.id": "u-12",
    }
    resource = {"service.name": "support-bot", "user.id": "not-this-one", "tag.tags": ["orders"]}

    [record] = mapped(export(span(SPAN_ID, name="openai.chat", attrs=attrs, status=1), resource=resource))

    assert record == {
        "external_id": EXTERNAL_ID,
        "occurred_at": OCCURRED_AT,
        "model": "gpt-3.5-turbo",
        "input": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Where is my order #1041?"},
        ],
        "output": "It left the warehouse yesterday.",
        "session_id": "s-77",
        "end_user_id": "u-12",
        "tags": ["orders"],
        "metadata": {
            "otel.span_name": "openai.chat",
            "latency_ms": 1250.0,
            "otel.status_code": "OK",
            "service.name": "support-bot",
            "gen_ai.usage.prompt_tokens": 31,
            "gen_ai.system": "openai",
            "llm.request.type": "chat",
        },
    }


def test_older_span_events():
    """The per-message events (gen_ai.system.message, gen_ai.user.message, …) and the gen_ai.choice event."""
    events = [
        ("gen_ai.system.message", {"content": "Be brief."}),
        ("gen_ai.user.message", {"content": "Is the blue one in stock?"}),
        ("gen_ai.assistant.message", {"content": "Which size?"}),
        ("gen_ai.user.message", {"content": "42"}),
        (
            "gen_ai.choice",
            {"gen_ai.event.content": json.dumps({"index": 0, "message": {"content": "Yes, size 42 is in stock."}})},
        ),
    ]
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.system": "anthropic", "gen_ai.request.model": "claude-3-5"}

    [record] = mapped(export(span(SPAN_ID, name="chat claude-3-5", attrs=attrs, events=events)))

    assert record == {
        "external_id": EXTERNAL_ID,
        "occurred_at": OCCURRED_AT,
        "model": "claude-3-5",
        "input": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Is the blue one in stock?"},
            {"role": "assistant", "content": "Which size?"},
            {"role": "user", "content": "42"},
        ],
        "output": "Yes, size 42 is in stock.",
        "metadata": {
            "otel.span_name": "chat claude-3-5",
            "latency_ms": 1250.0,
            "otel.status_code": "UNSET",
            "service.name": "support-bot",
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "anthropic",
        },
    }


def test_oldest_prompt_and_completion_content_events():
    """The first GenAI conventions: the `gen_ai.content.prompt` and `gen_ai.content.completion` events, whose
    `gen_ai.prompt` / `gen_ai.completion` attributes hold the messages as JSON text."""
    prompt = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Is it waterproof?"}]
    events = [
        ("gen_ai.content.prompt", {"gen_ai.prompt": json.dumps(prompt)}),
        (
            "gen_ai.content.completion",
            {"gen_ai.completion": json.dumps([{"role": "assistant", "content": "To 50 m."}])},
        ),
    ]
    attrs = {
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4",
        "gen_ai.response.model": "gpt-4-0613",
        "gen_ai.usage.completion_tokens": 9,
    }

    [record] = mapped(export(span(SPAN_ID, name="openai.chat", attrs=attrs, events=events)))

    assert record == {
        "external_id": EXTERNAL_ID,
        "occurred_at": OCCURRED_AT,
        "model": "gpt-4-0613",
        "input": prompt,
        "output": "To 50 m.",
        "metadata": {
            "otel.span_name": "openai.chat",
            "latency_ms": 1250.0,
            "otel.status_code": "UNSET",
            "service.name": "support-bot",
            "gen_ai.usage.completion_tokens": 9,
            "gen_ai.request.model": "gpt-4",
            "gen_ai.system": "openai",
        },
    }


def test_oldest_prompt_and_completion_attributes():
    """`gen_ai.prompt` and `gen_ai.completion` as plain span attributes; `enduser.id`; the resource's
    deployment environment and comma-separated `expertloop.tags`."""
    attrs = {
        "gen_ai.operation.name": "text_completion",
        "gen_ai.request.model": "davinci-002",
        "gen_ai.prompt": "Complete: the parcel left",
        "gen_ai.completion": "the warehouse yesterday.",
        "gen_ai.conversation.id": "c-3",
        "enduser.id": "u-9",
    }
    resource = {"service.name": "support-bot", "deployment.environment.name": "prod", "expertloop.tags": "orders, b2b"}

    [record] = mapped(export(span(SPAN_ID, name="completion", attrs=attrs), resource=resource))

    assert record == {
        "external_id": EXTERNAL_ID,
        "occurred_at": OCCURRED_AT,
        "model": "davinci-002",
        "input": "Complete: the parcel left",
        "output": "the warehouse yesterday.",
        "session_id": "c-3",
        "end_user_id": "u-9",
        "tags": ["orders", "b2b"],
        "metadata": {
            "otel.span_name": "completion",
            "latency_ms": 1250.0,
            "otel.status_code": "UNSET",
            "service.name": "support-bot",
            "deployment.environment.name": "prod",
            "gen_ai.operation.name": "text_completion",
        },
    }


def test_openinference():
    """llm.input_messages / llm.output_messages (content and multi-part contents), llm.model_name, session.id,
    user.id, tag.tags and the application's `metadata` JSON; input.value and output.value are not copied."""
    attrs = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o-mini",
        "llm.provider": "openai",
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "Answer in one sentence.",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.contents.0.message_content.type": "text",
        "llm.input_messages.1.message.contents.0.message_content.text": "Why was I charged twice?",
        "llm.input_messages.1.message.contents.1.message_content.type": "text",
        "llm.input_messages.1.message.contents.1.message_content.text": "Order #1041.",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "The second charge is a hold that drops off in 3 days.",
        "input.value": '{"messages": "…"}',
        "input.mime_type": "application/json",
        "output.value": '{"choices": "…"}',
        "llm.token_count.prompt": 30,
        "llm.token_count.completion": 12,
        "llm.invocation_parameters": '{"temperature": 0}',
        "session.id": "conv-9",
        "user.id": "u-5",
        "tag.tags": ["billing"],
        "metadata": json.dumps({"feature": "support-chat", "locale": "en-GB"}),
    }

    [record] = mapped(export(span(SPAN_ID, name="ChatCompletion", attrs=attrs, status=1)))

    assert record == {
        "external_id": EXTERNAL_ID,
        "occurred_at": OCCURRED_AT,
        "model": "gpt-4o-mini",
        "input": [
            {"role": "system", "content": "Answer in one sentence."},
            {"role": "user", "content": "Why was I charged twice?\nOrder #1041."},
        ],
        "output": "The second charge is a hold that drops off in 3 days.",
        "session_id": "conv-9",
        "end_user_id": "u-5",
        "tags": ["billing"],
        "metadata": {
            "otel.span_name": "ChatCompletion",
            "latency_ms": 1250.0,
            "otel.status_code": "OK",
            "service.name": "support-bot",
            "llm.token_count.completion": 12,
            "llm.token_count.prompt": 30,
            "feature": "support-chat",
            "locale": "en-GB",
            "input.mime_type": "application/json",
            "llm.invocation_parameters": '{"temperature": 0}',
            "llm.provider": "openai",
            "openinference.span.kind": "LLM",
        },
    }


def test_openinference_values_when_there_are_no_messages():
    """input.value and output.value are the input and output when no message attributes are set."""
    attrs = {"openinference.span.kind": "llm", "input.value": "Translate: bonjour", "output.value": "hello"}

    [record] = mapped(export(span(SPAN_ID, name="complete", attrs=attrs)))

    assert (record["input"], record["output"]) == ("Translate: bonjour", "hello")
    assert "model" not in record and "session_id" not in record and "tags" not in record


LOOKUP = {"order": 1041}
TOOL_CALL_ANSWERS = {
    "OpenLLMetry": (
        {
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "llm.request.type": "chat",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.finish_reason": "tool_calls",
            "gen_ai.completion.0.tool_calls.0.id": "call_1",
            "gen_ai.completion.0.tool_calls.0.name": "lookup_order",
            "gen_ai.completion.0.tool_calls.0.arguments": json.dumps(LOOKUP),
            "gen_ai.completion.0.tool_calls.1.id": "call_2",
            "gen_ai.completion.0.tool_calls.1.name": "refund_policy",
            "gen_ai.completion.0.tool_calls.1.arguments": "{}",
        },
        [
            {"id": "call_1", "name": "lookup_order", "arguments": json.dumps(LOOKUP)},
            {"id": "call_2", "name": "refund_policy", "arguments": "{}"},
        ],
    ),
    "OpenInference": (
        {
            "openinference.span.kind": "LLM",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.tool_calls.0.tool_call.id": "call_1",
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "lookup_order",
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": json.dumps(LOOKUP),
        },
        [{"id": "call_1", "function": {"name": "lookup_order", "arguments": json.dumps(LOOKUP)}}],
    ),
    "GenAI choice event": (
        {"gen_ai.operation.name": "chat"},
        [{"id": "call_1", "type": "function", "function": {"name": "lookup_order", "arguments": json.dumps(LOOKUP)}}],
    ),
}


@pytest.mark.parametrize("convention", TOOL_CALL_ANSWERS)
def test_an_answer_of_tool_calls_only_is_stored_as_its_tool_calls(convention):
    """A model that answers with tool calls and no text (finish reason tool_calls) made a real call: its output is
    {"tool_calls": [...]}, as `import_outputs --format openai-chat` stores such an answer."""
    attrs, calls = TOOL_CALL_ANSWERS[convention]
    events = []
    if convention == "GenAI choice event":
        choice = {"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "tool_calls": calls}}
        events = [("gen_ai.choice", {"gen_ai.event.content": json.dumps(choice)})]

    [record] = mapped(export(span(SPAN_ID, attrs=attrs, events=events)))

    assert record["output"] == {"tool_calls": calls}


def test_the_output_is_the_first_assistant_message_that_has_content():
    """An assistant message with empty parts (a streamed answer's first chunk) does not hide the one with text."""
    messages = [
        {"role": "assistant", "parts": []},
        {"role": "assistant", "parts": [{"type": "text", "content": "It ships tomorrow."}]},
    ]
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.output.messages": json.dumps(messages)}

    [record] = mapped(export(span(SPAN_ID, attrs=attrs)))

    assert record["output"] == "It ships tomorrow."


def test_a_protobuf_export_maps_like_its_json():
    """The binary encoding: a Span message built by hand gives the same record."""
    span_message = Span(
        trace_id=bytes.fromhex(TRACE_ID),
        span_id=bytes.fromhex(SPAN_ID),
        name="chat",
        start_time_unix_nano=nanos(START),
        end_time_unix_nano=nanos(END),
        attributes=[
            KeyValue(key="gen_ai.operation.name", value=AnyValue(string_value="chat")),
            KeyValue(key="gen_ai.request.model", value=AnyValue(string_value="gpt-4o")),
            KeyValue(
                key="gen_ai.output.messages",
                value=AnyValue(string_value='[{"role": "assistant", "parts": [{"type": "text", "content": "Hi."}]}]'),
            ),
            KeyValue(key="gen_ai.usage.output_tokens", value=AnyValue(int_value=2)),
        ],
    )
    body = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span_message])])])

    result = map_export(decode_export(body.SerializeToString(), encoding="protobuf"))

    assert [record for _, record in result.records] == [
        {
            "external_id": EXTERNAL_ID,
            "occurred_at": OCCURRED_AT,
            "model": "gpt-4o",
            "output": "Hi.",
            "metadata": {
                "otel.span_name": "chat",
                "latency_ms": 1250.0,
                "otel.status_code": "UNSET",
                "gen_ai.usage.output_tokens": 2,
                "gen_ai.operation.name": "chat",
            },
        }
    ]


def test_spans_that_are_not_llm_calls_are_ignored_and_counted():
    spans = [
        span("0000000000000001", name="GET /orders", attrs={"http.request.method": "GET"}),
        span(
            "0000000000000002",
            name="embeddings",
            attrs={"gen_ai.operation.name": "embeddings", "gen_ai.request.model": "text-embedding-3"},
        ),
        span("0000000000000003", name="execute_tool", attrs={"gen_ai.operation.name": "execute_tool"}),
        span("0000000000000004", name="RAG chain", attrs={"openinference.span.kind": "CHAIN", "input.value": "q"}),
        span("0000000000000005", name="chat", attrs={"gen_ai.operation.name": "chat", "output.value": "ok"}),
    ]

    result = map_export(request_from_json(export(*spans)))

    assert (result.spans, result.ignored, len(result.records), result.rejected) == (5, 4, 1, [])


def test_llm_spans_that_cannot_become_an_output_are_rejected_with_the_reason():
    spans = [
        span("0000000000000001", attrs={"gen_ai.operation.name": "chat"}, status=2, message="timeout"),
        span("0000000000000002", trace_id="0" * 32, attrs={"gen_ai.operation.name": "chat", "output.value": "x"}),
    ]

    result = map_export(request_from_json(export(*spans)))

    assert result.records == []
    assert [(r.label, r.reason) for r in result.rejected] == [
        (
            f"{TRACE_ID}:0000000000000001 (chat)",
            "No output text: none of the output attributes or events is set (span status ERROR: timeout).",
        ),
        (f"{'0' * 32}:0000000000000002 (chat)", f"The trace id must be 16 bytes, not all zero; got {'0' * 32!r}."),
    ]


def test_metadata_is_bounded():
    """At most METADATA_MAX_KEYS keys (usage first, the count of those left out last), long strings cut, deep
    values kept as JSON text; message bodies never copied."""
    deep: dict = {"level": "bottom"}
    for _ in range(12):
        deep = {"down": deep}
    attrs = {
        "gen_ai.operation.name": "chat",
        "output.value": "fine",
        "gen_ai.usage.output_tokens": 3,
        "a.long": "x" * 5000,
        "a.deep": deep,
        **{f"app.k{index:03}": index for index in range(80)},
    }

    [record] = mapped(export(span(SPAN_ID, attrs=attrs)))

    metadata = record["metadata"]
    assert len(metadata) == METADATA_MAX_KEYS
    assert metadata["gen_ai.usage.output_tokens"] == 3
    assert metadata["a.long"] == "x" * (METADATA_MAX_CHARS - 1) + "…"
    assert isinstance(metadata["a.deep"], str) and metadata["a.deep"].startswith('{"down": {"down"')
    # 4 keys describe the call (name, latency, status, service); 84 attributes; the last key counts the rest.
    assert metadata["otel.dropped_attributes"] == 4 + 84 - (METADATA_MAX_KEYS - 1)
    assert "output.value" not in metadata


def test_metadata_keeps_usage_then_the_applications_own_keys_then_the_rest_by_name():
    """OpenInference's `metadata` JSON holds the application's keys: past the key limit they outrank the span's
    other attributes (which are cut first, from the end of the alphabet), token usage outranks both."""
    attrs = {
        "openinference.span.kind": "LLM",
        "output.value": "fine",
        "llm.token_count.total": 40,
        "metadata": json.dumps({"zz.feature": "support-chat", "tenant": "acme"}),
        **{f"app.k{index:03}": index for index in range(80)},
    }

    [record] = mapped(export(span(SPAN_ID, attrs=attrs)))

    metadata = record["metadata"]
    assert list(metadata)[4:7] == ["llm.token_count.total", "tenant", "zz.feature"]  # after the 4 about the call
    # 4 keys about the call, the 2 of the application, 82 other attributes; the last key counts those left out.
    assert metadata["otel.dropped_attributes"] == 4 + 2 + 82 - (METADATA_MAX_KEYS - 1)
    assert "app.k000" in metadata and "openinference.span.kind" not in metadata


def test_openllmetry_llm_prompts_and_completions():
    """OpenLLMetry's legacy completion attributes, `llm.prompts.N` / `llm.completions.N`."""
    attrs = {
        "llm.request.type": "completion",
        "llm.prompts.0.role": "user",
        "llm.prompts.0.content": "Complete: the parcel left",
        "llm.completions.0.content": " the warehouse yesterday.",
    }

    [record] = mapped(export(span(SPAN_ID, attrs=attrs)))

    assert record["input"] == [{"role": "user", "content": "Complete: the parcel left"}]
    assert record["output"] == " the warehouse yesterday."


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "Not an OTLP ExportTraceServiceRequest"),
        ({"outputs": []}, "Not an OTLP ExportTraceServiceRequest"),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]}, "Failed to parse name field"),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 12}]}]}]}, "traceId"),
        ({"resourceSpans": "all"}, "resourceSpans"),
    ],
)
def test_json_that_is_not_an_export_is_invalid(document, message):
    with pytest.raises(InvalidInput) as raised:
        request_from_json(document)
    assert message in raised.value.message


def test_garbage_bytes_are_not_a_protobuf_export():
    with pytest.raises(InvalidInput, match="not an OTLP ExportTraceServiceRequest"):
        decode_export(b"\x08\x96\x01hello", encoding="protobuf")
    assert decode_export(b"", encoding="protobuf").resource_spans == []  # an empty export is a valid one
