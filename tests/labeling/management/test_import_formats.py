"""`import_outputs --format otlp-json | openai-chat`: other tools' files imported with the API's validation, all or
nothing, every bad line named by its number."""

import hashlib
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling.models import Output
from tests.helpers.otlp import TRACE_ID, export, span

CHAT = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_outputs", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def refused(*args) -> str:
    """What the command wrote to stderr before refusing the file (it must refuse it)."""
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was imported") as raised:
        call_command("import_outputs", *args, stdout=io.StringIO(), stderr=err)
    return f"{raised.value}\n{err.getvalue()}"


def llm_span(span_id: str, text: str | None, **attrs) -> dict:
    output = {"output.value": text} if text is not None else {}
    return span(span_id, attrs={**CHAT, **output, **attrs})


def write(tmp_path, name: str, lines: list) -> str:
    path = tmp_path / name
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return str(path)


def test_otlp_json_lines_import_llm_spans_and_skip_the_rest(tmp_path, project, settings):
    settings.INGEST_MAX_RECORDS = 2  # several batches
    lines = [
        export(llm_span("0000000000000001", "one"), span("00000000000000f1", attrs={"http.route": "/chat"})),
        export(llm_span("0000000000000002", "two"), llm_span("0000000000000003", "three", **{"session.id": "s-1"})),
        "",
    ]
    path = write(tmp_path, "traces.jsonl", lines)

    out, _ = run("--project", project.slug, "--format", "otlp-json", path)
    again, _ = run("--project", project.slug, "--format", "otlp-json", path)

    assert "3 created, 0 duplicates, 0 conflicts, 1 spans skipped (not LLM calls)." in out
    assert "0 created, 3 duplicates, 0 conflicts, 1 spans skipped (not LLM calls)." in again
    stored = {o.external_id: (o.output, o.model, o.session_id) for o in Output.objects.filter(project=project)}
    assert stored == {
        f"{TRACE_ID}:0000000000000001": ("one", "gpt-4o", ""),
        f"{TRACE_ID}:0000000000000002": ("two", "gpt-4o", ""),
        f"{TRACE_ID}:0000000000000003": ("three", "gpt-4o", "s-1"),
    }


def test_otlp_json_as_one_pretty_printed_document(tmp_path, project):
    path = tmp_path / "trace.json"
    path.write_text(
        json.dumps(export(llm_span("0000000000000001", "one"), llm_span("0000000000000002", "two")), indent=2)
    )

    out, _ = run("--project", project.slug, "--format", "otlp-json", str(path))

    assert "2 created" in out
    assert Output.objects.filter(project=project).count() == 2


@pytest.mark.parametrize("fmt", ["jsonl", "otlp-json-lines", "otlp-json-document", "openai-chat"])
def test_a_file_saved_with_a_utf8_byte_order_mark_and_windows_line_ends_imports(tmp_path, project, fmt):
    """What Notepad or Windows PowerShell's `Out-File -Encoding utf8` writes: line 1 was refused as not JSON."""
    records = {
        "jsonl": [{"external_id": "a", "input": "q", "output": "x"}, {"external_id": "b", "input": "q", "output": "y"}],
        "otlp-json-lines": [export(llm_span("0000000000000001", "x")), export(llm_span("0000000000000002", "y"))],
        "otlp-json-document": [export(llm_span("0000000000000001", "x"), llm_span("0000000000000002", "y"))],
        "openai-chat": [
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": answer}]}
            for answer in ("x", "y")
        ],
    }[fmt]
    text = json.dumps(records[0], indent=2) if fmt == "otlp-json-document" else "\n".join(map(json.dumps, records))
    path = tmp_path / "outputs.jsonl"
    path.write_bytes("\ufeff".encode() + text.replace("\n", "\r\n").encode() + b"\r\n")

    out, _ = run("--project", project.slug, "--format", fmt.removesuffix("-lines").removesuffix("-document"), str(path))

    assert "2 created" in out
    assert Output.objects.filter(project=project).count() == 2


def test_otlp_json_with_a_bad_line_imports_nothing(tmp_path, project):
    lines = [
        export(llm_span("0000000000000001", "fine")),
        {"outputs": []},  # not an export
        export(llm_span("0000000000000002", None)),  # an LLM span without output
        export(llm_span("0000000000000003", "x", **{"gen_ai.request.model": "m" * 201})),  # refused by ingest
        "{broken",
    ]

    report = refused("--project", project.slug, "--format", "otlp-json", write(tmp_path, "t.jsonl", lines))

    assert "4 invalid lines" in report
    assert 'line 2: Not an OTLP ExportTraceServiceRequest: send {"resourceSpans": [...]} as OTLP/JSON.' in report
    assert f"line 3: span {TRACE_ID}:0000000000000002 (chat): No output text" in report
    assert f"line 4: span {TRACE_ID}:0000000000000003 (chat): model: Expected `str` of length <= 200" in report
    assert "line 5: Not valid JSON" in report
    assert not Output.objects.exists()


def test_otlp_json_whose_first_line_is_broken_names_every_bad_line(tmp_path, project):
    """A broken first line does not make the file look like one pretty-printed document: lines are still read one
    by one, so the third is named too."""
    lines = ["{broken", export(llm_span("0000000000000001", "fine")), "{also broken"]

    report = refused("--project", project.slug, "--format", "otlp-json", write(tmp_path, "t.jsonl", lines))

    assert "2 invalid lines" in report
    assert "line 1: Not valid JSON" in report and "line 3: Not valid JSON" in report
    assert "body" not in report
    assert not Output.objects.exists()


CONVERSATION = {
    "messages": [
        {"role": "system", "content": "You are the shop's support bot."},
        {"role": "user", "content": "Where is my order?"},
        {"role": "assistant", "content": [{"type": "text", "text": "It ships"}, {"type": "text", "text": "tomorrow."}]},
    ]
}


def test_openai_chat_lines_become_outputs(tmp_path, project):
    lines = [
        CONVERSATION,
        {
            "id": "ft-17",
            "model": "gpt-4o-mini",
            "metadata": {"split": "train"},
            "tags": ["orders"],
            "tools": [{"type": "function", "function": {"name": "track"}}],
            "messages": [
                {"role": "user", "content": "Track #1041"},
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "track", "arguments": "{}"}}],
                },
            ],
        },  # fmt: skip
    ]
    path = write(tmp_path, "chats.jsonl", lines)

    out, _ = run("--project", project.slug, "--format", "openai-chat", path)
    # The same conversation written with other spacing and key order: the same id, a duplicate.
    respaced = tmp_path / "respaced.jsonl"
    respaced.write_text(json.dumps(dict(reversed(CONVERSATION.items())), indent=None, separators=(",", ":")) + "\n")
    again, _ = run("--project", project.slug, "--format", "openai-chat", str(respaced))

    assert "2 created" in out and "0 created, 1 duplicates" in again
    digest = hashlib.sha256(json.dumps(CONVERSATION, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    hashed = Output.objects.get(project=project, external_id=f"openai-chat:{digest}")
    assert (hashed.input, hashed.output, hashed.model, hashed.context) == (CONVERSATION["messages"][:2],
                                                                           "It ships\ntomorrow.", "", None)  # fmt: skip
    given = Output.objects.get(project=project, external_id="ft-17")
    assert given.input == [{"role": "user", "content": "Track #1041"}]
    assert given.output == {"tool_calls": lines[1]["messages"][1]["tool_calls"]}
    assert (given.model, given.metadata, given.tags) == ("gpt-4o-mini", {"split": "train"}, ["orders"])
    assert given.context == {"tools": lines[1]["tools"]}


def test_an_earlier_assistant_turn_that_only_called_a_tool_imports_with_null_content(tmp_path, project):
    """OpenAI leaves `content` out of an assistant message that called tools; ingest needs the key, so it is null."""
    called = {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "track"}}]}
    messages = [
        {"role": "user", "content": "Track #1041"},
        called,
        {"role": "tool", "tool_call_id": "c1", "content": "In transit"},
        {"role": "assistant", "content": "It is in transit."},
    ]

    out, _ = run(
        "--project",
        project.slug,
        "--format",
        "openai-chat",
        write(tmp_path, "t.jsonl", [{"id": "t-1", "messages": messages}]),
    )

    assert "1 created" in out
    assert Output.objects.get(project=project, external_id="t-1").input == [
        messages[0],
        {**called, "content": None},
        messages[2],
    ]


def test_openai_chat_with_bad_lines_imports_nothing(tmp_path, project):
    lines = [
        CONVERSATION,
        {"messages": [{"role": "user", "content": "Anyone there?"}]},
        {"messages": CONVERSATION["messages"], "weights": [1]},
        {"messages": CONVERSATION["messages"], "metadata": ["not", "an", "object"]},
        "not json",
        {"id": "x" * 201, "messages": CONVERSATION["messages"]},
    ]

    report = refused("--project", project.slug, "--format", "openai-chat", write(tmp_path, "c.jsonl", lines))

    assert "5 invalid lines" in report
    assert "line 2: The last message must be the assistant's answer (role `assistant`): it is the output." in report
    assert "line 3: Unknown key weights; a line may hold messages, id, model, metadata, tags, tools" in report
    assert "line 4: metadata: Expected `object | null`, got `array`" in report
    assert "line 5: Not valid JSON" in report
    assert "line 6: external_id: Expected `str` of length <= 200" in report
    assert not Output.objects.exists()


@pytest.mark.parametrize("fmt", ["openai-chat", "jsonl", "otlp-json"])
@pytest.mark.parametrize("content", ["", "\n\n  \n", "\ufeff"])
def test_a_file_without_records_is_refused_saying_so(tmp_path, project, fmt, content):
    """An empty file (or blank lines, or a byte order mark alone) is no import of nothing: most likely the wrong file,
    so the command fails saying it holds no records, instead of reporting "0 created"."""
    path = tmp_path / "empty.jsonl"
    path.write_text(content, encoding="utf-8")

    said = refused("--project", project.slug, "--format", fmt, str(path))

    assert f"{path} holds no records: nothing was imported." in said
    assert not Output.objects.exists()


def test_an_otlp_file_without_a_span_is_refused_as_holding_no_records_not_as_empty(tmp_path, project):
    path = tmp_path / "spans.jsonl"
    path.write_text('{"resourceSpans": []}\n', encoding="utf-8")

    said = refused("--project", project.slug, "--format", "otlp-json", str(path))

    assert f"{path} holds no records: nothing was imported." in said and "empty" not in said
