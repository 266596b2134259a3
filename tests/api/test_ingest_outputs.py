"""POST /api/v1/outputs: strict, all-or-nothing, idempotent by external_id."""

import gzip
import json
import re
from pathlib import Path

import pytest
from django.db import connection
from django.test.client import FakePayload

from labeling.models import Dataset, Output
from labeling.services.api_keys import create_api_key
from labeling.services.records import content_hash
from tests.conftest import output_record

URL = "/api/v1/outputs"
README = Path(__file__).resolve().parents[2] / "README.md"


def batch(records):
    return {"outputs": records}


def test_it_stores_a_batch_and_reports_counts(api, project):
    response = api.post(URL, batch([output_record(i) for i in range(3)]))

    assert response.status_code == 200
    assert response.json() == {"created": 3, "duplicates": 0, "conflicts": 0, "conflict_ids": []}
    stored = Output.objects.get(project=project, external_id="conv-1")
    assert stored.input == [{"role": "user", "content": "Where is my order #1001?"}]
    assert stored.metadata == {"topic": "shipping", "locale": "en-GB"}
    assert stored.tags == ["shipping"]
    assert stored.feedback_score == 1 and stored.feedback_comment == "thanks"
    assert stored.occurred_at.isoformat() == "2026-11-20T08:15:00+00:00"


def test_a_thousand_records_are_stored_in_one_transaction(api, project):
    response = api.post(URL, batch([output_record(i) for i in range(1000)]))

    assert response.status_code == 200
    assert response.json()["created"] == 1000
    assert Output.objects.filter(project=project).count() == 1000
    if connection.vendor == "postgresql":
        # Every row written by one transaction carries that transaction's id in xmin.
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(DISTINCT xmin::text) FROM labeling_output WHERE project_id = %s", [project.pk])
            assert cursor.fetchone() == (1,)


def test_sending_the_same_batch_again_stores_nothing_and_counts_duplicates(api, project):
    records = [output_record(i) for i in range(1000)]
    api.post(URL, batch(records))

    response = api.post(URL, batch(records))

    assert response.json() == {"created": 0, "duplicates": 1000, "conflicts": 0, "conflict_ids": []}
    assert Output.objects.filter(project=project).count() == 1000


def test_a_resent_id_with_other_content_is_a_conflict_and_the_stored_row_stays(api, project):
    api.post(URL, batch([output_record(1), output_record(2)]))

    changed = output_record(1, output="A different answer")
    response = api.post(URL, batch([changed, output_record(2), output_record(3)]))

    assert response.json() == {"created": 1, "duplicates": 1, "conflicts": 1, "conflict_ids": ["conv-1"]}
    assert Output.objects.get(project=project, external_id="conv-1").output.startswith("Your order #1001")


def test_a_key_given_twice_in_a_record_keeps_the_last_value_and_the_docs_say_so(api, project, client):
    """Ingest keeps the last of a duplicated key, as most JSON parsers and peers' ingest APIs do (the other endpoints
    refuse it; here the check would cost a second, Python-level parse of every batch). Idempotency holds: the record
    is compared as decoded, so the same record sent without the duplicate is a duplicate, not a conflict."""
    twice = json.dumps(batch([output_record(1, output="first")])).replace(
        '"output": "first"', '"output": "first", "output": "last"'
    )

    response = api.post(URL, twice)
    again = api.post(URL, batch([output_record(1, output="last")]))

    assert response.status_code == 200 and response.json()["created"] == 1
    assert Output.objects.get(project=project, external_id="conv-1").output == "last"
    assert again.json() == {"created": 0, "duplicates": 1, "conflicts": 0, "conflict_ids": []}
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in ("/api/v1/outputs", "/api/v1/events", "/api/v1/feedback"):
        assert (
            "A key given twice in one JSON object keeps its last value" in schema["paths"][path]["post"]["description"]
        )


def test_the_same_instant_in_another_offset_is_a_duplicate(api):
    api.post(URL, batch([output_record(1, occurred_at="2026-11-20T09:15:00+01:00")]))
    response = api.post(URL, batch([output_record(1, occurred_at="2026-11-20T08:15:00Z")]))
    assert response.json()["duplicates"] == 1


@pytest.mark.parametrize("field", ["model", "end_user_id", "session_id"])
def test_an_id_sent_empty_or_left_out_is_the_same_content(api, project, field):
    """Both are stored as "": a re-send that swaps one for the other was a conflict, as if the content differed."""
    without = {name: value for name, value in output_record(1).items() if name != field}
    api.post(URL, batch([without, output_record(2, **{field: ""})]))

    response = api.post(URL, batch([output_record(1, **{field: ""}), {**output_record(2), field: None}]))

    assert response.json() == {"created": 0, "duplicates": 2, "conflicts": 0, "conflict_ids": []}
    assert set(Output.objects.filter(project=project).values_list(field, flat=True)) == {""}


def test_a_row_hashed_before_empty_ids_hashed_as_null_still_takes_its_resend_as_a_duplicate(api, project):
    """Rows stored earlier hashed "" as sent; the hash cannot be recomputed from the row (it covers the text before
    redaction), so a re-send matches the hash as sent too."""
    record = output_record(1, model="")
    api.post(URL, batch([record]))
    feedback = [record["feedback"]["score"], record["feedback"]["comment"]]
    as_sent = content_hash(
        record["external_id"], "2026-11-20T08:15:00+00:00", record["end_user_id"], record["session_id"], "",
        record["input"], record["output"], record["context"], record["metadata"], record["tags"], feedback,
    )  # fmt: skip
    Output.objects.filter(project=project).update(content_hash=as_sent)

    response = api.post(URL, batch([record]))

    assert response.json()["duplicates"] == 1
    assert api.post(URL, batch([output_record(1, model="", output="Other")])).json()["conflicts"] == 1


def test_metadata_key_order_does_not_make_a_conflict(api):
    api.post(URL, batch([output_record(1, metadata={"a": 1, "b": {"c": 2, "d": 3}})]))
    response = api.post(URL, batch([output_record(1, metadata={"b": {"d": 3, "c": 2}, "a": 1})]))
    assert response.json()["duplicates"] == 1


def test_a_repeated_id_inside_one_batch_is_stored_once(api, project):
    response = api.post(URL, batch([output_record(1), output_record(1), output_record(1, output="other")]))

    assert response.json() == {"created": 1, "duplicates": 1, "conflicts": 1, "conflict_ids": ["conv-1"]}
    assert Output.objects.filter(project=project).count() == 1


def test_optional_fields_may_be_left_out(api, project):
    response = api.post(URL, batch([{"external_id": "min", "output": {"sql": "select 1"}}]))

    assert response.status_code == 200
    stored = Output.objects.get(project=project, external_id="min")
    assert stored.output == {"sql": "select 1"}
    assert stored.input is None and stored.metadata == {} and stored.tags == [] and stored.feedback_score is None
    assert stored.occurred_at is not None


def test_the_same_external_id_in_two_projects_is_two_outputs(api, other_project_key, client, project, other_project):
    from tests.conftest import Api

    api.post(URL, batch([output_record(1)]))
    Api(client, other_project_key.secret).post(URL, batch([output_record(1)]))

    assert Output.objects.filter(external_id="conv-1").count() == 2


def test_one_bad_record_refuses_the_whole_batch(api, project):
    records = [output_record(i) for i in range(999)] + [output_record(999, external_id=999)]

    response = api.post(URL, batch(records))

    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"index": 999, "field": "external_id", "message": "Expected `str`, got `int`"}]
    }
    assert not Output.objects.exists()


def test_every_bad_record_is_listed(api):
    records = [output_record(0, model=7), output_record(1), output_record(2, tags="a"), output_record(3, zzz=1)]

    errors = api.post(URL, batch(records)).json()["errors"]

    assert [(e["index"], e["field"]) for e in errors] == [(0, "model"), (2, "tags"), (3, "zzz")]


def _bad(**overrides):
    return json.dumps(batch([output_record(0), output_record(1, **overrides)]))


# Each case: a body, the status, the record index and field it must name (None for body-level errors).
BAD_BODIES = {
    "body is not JSON": ("{not json", 400, None, None),
    "body is empty": ("", 400, None, None),
    "body is a list": ("[]", 400, None, "outputs"),
    "outputs is not a list": ('{"outputs": {}}', 400, None, "outputs"),
    "unknown top-level key": ('{"outputs": [], "extra": 1}', 400, None, "extra"),
    "missing external_id": (json.dumps(batch([{"output": "x"}])), 400, 0, "external_id"),
    "empty external_id": (_bad(external_id=""), 400, 1, "external_id"),
    "external_id over 200 chars": (_bad(external_id="x" * 201), 400, 1, "external_id"),
    "number where a string belongs": (_bad(end_user_id=12345), 400, 1, "end_user_id"),
    "number as external_id": (_bad(external_id=17), 400, 1, "external_id"),
    "string where an object belongs": (_bad(metadata="topic=shipping"), 400, 1, "metadata"),
    "string as feedback": (_bad(feedback="good"), 400, 1, "feedback"),
    "feedback score out of range": (_bad(feedback={"score": 5}), 400, 1, "feedback.score"),
    "boolean as feedback score": (_bad(feedback={"score": True}), 400, 1, "feedback.score"),
    "tags not strings": (_bad(tags=[1, 2]), 400, 1, "tags[0]"),
    "chat message without role": (_bad(input=[{"content": "hi"}]), 400, 1, "input[0].role"),
    "input is a number": (_bad(input=42), 400, 1, "input"),
    "output missing": (json.dumps(batch([{"external_id": "a"}])), 400, 0, "output"),
    "output null": (_bad(output=None), 400, 1, "output"),
    "NUL in output": (_bad(output="abc\u0000def"), 400, 1, "output"),
    "NUL in external_id": (_bad(external_id="a\u0000"), 400, 1, "external_id"),
    "NUL inside metadata": (_bad(metadata={"note": {"deep": ["ok", "x\u0000"]}}), 400, 1, "metadata.note.deep[1]"),
    "NUL in a metadata key": (_bad(metadata={"k\u0000": 1}), 400, 1, "metadata.k\u0000"),
    "nesting deeper than the limit": (_bad(context=json.loads("[" * 40 + "]" * 40)), 400, 1, "context" + "[0]" * 31),
    "occurred_at without a zone": (_bad(occurred_at="2026-11-20T09:15:00"), 400, 1, "occurred_at"),
    "occurred_at unparseable": (_bad(occurred_at="yesterday"), 400, 1, "occurred_at"),
    "occurred_at as a number": (_bad(occurred_at=1732000000), 400, 1, "occurred_at"),
    "unknown field": (_bad(ouptut="typo"), 400, 1, "ouptut"),
    "unknown field in feedback": (_bad(feedback={"score": 1, "stars": 5}), 400, 1, "feedback.stars"),
    "NaN": (
        '{"outputs": [{"external_id": "a", "output": "ok"}, {"external_id": "b", "output": NaN}]}',
        400,
        1,
        "output",
    ),
    "Infinity": (
        '{"outputs": [{"external_id": "a", "output": "x", "metadata": {"score": Infinity}}]}',
        400,
        0,
        "metadata.score",
    ),
    "metadata integer too large for a double": (_bad(metadata={"tokens": 10**309}), 400, 1, "metadata.tokens"),
    "-Infinity": ('{"outputs": [{"external_id": "a", "output": -Infinity}]}', 400, 0, "output"),
    "lone surrogate escape": ('{"outputs": [{"external_id": "a", "output": "\\ud800"}]}', 400, 0, "output"),
}


def test_a_chat_message_without_content_is_stored_as_sent_and_a_bad_content_is_refused(api, project):
    """A message may leave `content` out (an OpenAI turn that only called tools, dumped with `exclude_none`): it is
    stored as sent, as null content is; a content that is neither a string, a list of parts nor null is refused."""
    tool_turn = {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function"}]}
    missing = api.post(URL, batch([output_record(0, input=[{"role": "user", "content": "hi"}, tool_turn])]))
    null = api.post(URL, batch([output_record(1, input=[{"role": "assistant", "content": None}])]))
    number = api.post(URL, batch([output_record(2, input=[{"role": "user", "content": 42}])]))

    assert missing.status_code == 200 and missing.json()["created"] == 1
    assert Output.objects.get(project=project, external_id="conv-0").input[1] == tool_turn
    assert null.status_code == 200 and null.json()["created"] == 1
    assert number.status_code == 400
    assert number.json()["errors"][0]["field"] == "input[0].content"


@pytest.mark.parametrize("body, status, index, field", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_input_is_refused_naming_the_record_and_field(api, body, status, index, field):
    response = api.post(URL, body)

    assert response.status_code == status, response.content
    errors = response.json()["errors"]
    assert errors and all(error["message"] for error in errors)
    assert (errors[0]["index"], errors[0]["field"]) == (index, field), errors
    assert not Output.objects.exists()


def test_invalid_utf8_is_refused_naming_the_record(api):
    body = b'{"outputs": [{"external_id": "a", "output": "ok"}, {"external_id": "b", "output": "caf\xe9"}]}'

    response = api.post(URL, body)

    assert response.status_code == 400
    assert response.json()["errors"][0] | {"message": None} == {"index": 1, "field": "output", "message": None}
    assert not Output.objects.exists()


def test_wrong_content_type_is_415_naming_the_one_to_send(api):
    """`curl -d` without `-H` sends a form: the 415 named only what was sent, not what to send."""
    response = api.post(URL, "external_id=a&output=b", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415
    message = response.json()["errors"][0]["message"]
    assert "application/x-www-form-urlencoded" in message
    assert message.endswith("Send the body with `Content-Type: application/json`.")
    assert not Output.objects.exists()


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_number_is_named_without_offering_null_where_null_is_refused(api, value):
    """It said "send null or a string" for `output`, which may not be null."""
    response = api.post(URL, f'{{"outputs": [{{"external_id": "n", "output": {value}}}]}}')

    assert response.status_code == 400
    assert response.json()["errors"] == [{"index": 0, "field": "output", "message": f"{value} is not valid JSON."}]


def test_a_body_without_a_content_type_is_a_415_saying_which_to_send(client, full_key):
    """It said 'Unsupported media type ""' (or "text/plain" behind servers that assume it), a type never sent."""
    body = json.dumps(batch([output_record(0)])).encode()

    response = client.request(
        REQUEST_METHOD="POST",
        PATH_INFO=URL,
        CONTENT_LENGTH=str(len(body)),
        HTTP_AUTHORIZATION=f"Bearer {full_key.secret}",
        **{"wsgi.input": FakePayload(body)},
    )

    assert response.status_code == 415
    assert response.json()["errors"][0]["message"] == (
        "The request has no Content-Type header: send the body with `Content-Type: application/json`."
    )
    assert not Output.objects.exists()


def test_a_text_plain_body_is_a_415_that_allows_no_content_type_was_sent(client, full_key):
    """`make demo`'s development server (wsgiref) reads a request without a Content-Type as text/plain: the 415
    named a type the engineer never sent, with nothing to say why."""
    body = json.dumps(batch([output_record(0)]))

    response = client.post(URL, body, content_type="text/plain", HTTP_AUTHORIZATION=f"Bearer {full_key.secret}")

    assert response.status_code == 415
    assert response.json()["errors"][0]["message"] == (
        "The body was sent as text/plain, or with no Content-Type (which the development server reads as "
        "text/plain): send the body with `Content-Type: application/json`."
    )


@pytest.mark.parametrize("url, key", [(URL, "outputs"), ("/api/v1/events", "events"), ("/api/v1/feedback", "feedback")])
def test_a_body_that_starts_with_a_byte_order_mark_is_a_400_that_names_it(client, full_key, url, key):
    """PowerShell's and .NET's UTF-8 writers put EF BB BF before the JSON: the 400 said "The body is not valid JSON:
    JSON is malformed: invalid character (byte 0).", which names neither the bytes nor what to do."""
    body = b"\xef\xbb\xbf" + json.dumps({key: []}).encode()

    response = client.post(url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {full_key.secret}")

    assert response.status_code == 400
    assert response.json()["errors"] == [{"index": None, "field": None, "message": (
        "The body starts with a UTF-8 byte order mark (bytes EF BB BF): send the JSON without it."
    )}]  # fmt: skip


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_a_compressed_body_is_a_415_naming_the_content_encoding(client, project, coding):
    """The Content-Encoding was ignored: a gzipped batch was a 400 "not valid JSON: invalid character (byte 0)", and
    a body that said it was compressed but was not went through. The JSON endpoints take plain JSON only (OTLP takes
    gzip and deflate)."""
    key = create_api_key(project=project, name="ci", scopes=["ingest", "datasets"])
    bodies = {
        URL: batch([output_record(0)]),
        "/api/v1/events": {"events": [{"end_user_id": "u-1", "name": "session_start"}]},
        "/api/v1/projects/support-bot/datasets": {"name": "Nightly"},
    }
    for url, body in bodies.items():
        sent = gzip.compress(json.dumps(body).encode()) if coding == "gzip" else json.dumps(body)
        response = client.post(url, sent, content_type="application/json", HTTP_CONTENT_ENCODING=coding,
                               HTTP_AUTHORIZATION=f"Bearer {key.secret}")  # fmt: skip

        assert response.status_code == 415, (url, response.content[:200])
        assert response.json()["errors"][0]["message"] == (
            f"Content-Encoding {coding!r} is not supported here: send the JSON uncompressed."
        )
    assert not Output.objects.exists() and not Dataset.objects.exists()


def test_a_body_in_another_charset_is_a_415_naming_it(client, project):
    """Ingest read `application/json; charset=latin-1` as UTF-8 regardless: "Straße" in Latin-1 was refused as invalid
    UTF-8 without a word on the charset (or, were its bytes valid UTF-8, stored misread); the dataset endpoints
    honoured it. Every JSON endpoint now names the charset and says the API reads UTF-8, the body refused whole."""
    key = create_api_key(project=project, name="ci", scopes=["ingest", "datasets"])
    bodies = {
        URL: batch([output_record(0, output="Straße")]),
        "/api/v1/events": {"events": [{"end_user_id": "Straße", "name": "session_start"}]},
        "/api/v1/projects/support-bot/datasets": {"name": "Straße"},
        "/api/v1/otel/v1/traces": {"resourceSpans": []},
    }
    for url, body in bodies.items():
        # generic: the test client's post would transcode the bytes into the declared charset itself.
        response = client.generic("POST", url, json.dumps(body, ensure_ascii=False).encode("latin-1"),
                                  content_type="application/json; charset=latin-1",
                                  HTTP_AUTHORIZATION=f"Bearer {key.secret}")  # fmt: skip

        assert response.status_code == 415, (url, response.content[:200])
        answer = response.json()  # OTLP answers in its Status shape
        message = answer["errors"][0]["message"] if "errors" in answer else answer["message"]
        assert message.startswith("The body's charset 'latin-1' is not read here: the API reads JSON as UTF-8."), url
    assert not Output.objects.exists() and not Dataset.objects.exists()


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", '"utf-8"', "utf8"])
def test_a_body_declared_utf_8_is_read(api, charset):
    response = api.post(URL, json.dumps(batch([output_record(0, output="Straße")]), ensure_ascii=False).encode(),
                        content_type=f"application/json; charset={charset}")  # fmt: skip

    assert response.status_code in (200, 201, 202), response.content[:300]
    assert Output.objects.get().output == "Straße"


def test_a_body_over_the_limit_is_413(api, settings):
    settings.INGEST_MAX_BODY_BYTES = 10_000
    records = [output_record(i) for i in range(40)]

    response = api.post(URL, batch(records))

    assert response.status_code == 413
    assert "10000 bytes" in response.json()["errors"][0]["message"]
    assert not Output.objects.exists()


def test_the_default_body_limit_is_five_megabytes(api):
    big = output_record(0, output="x" * (5 * 1024 * 1024))
    assert api.post(URL, batch([big])).status_code == 413


def test_more_than_a_thousand_records_are_refused(api):
    records = [{"external_id": str(i), "output": "x"} for i in range(1001)]

    response = api.post(URL, batch(records))

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"index": None, "field": "outputs", "message": "At most 1000 records per request; got 1001."}
    ]
    assert not Output.objects.exists()


def test_large_integers_and_unicode_round_trip(api, project):
    record = output_record(0, metadata={"big": 2**70, "name": "Zoë ✓ 你好", "emoji": "🙂"}, output="¿Dónde está? — ok")

    assert api.post(URL, batch([record])).status_code == 200

    stored = api.get(f"{URL}/conv-0").json()
    assert stored["metadata"] == {"big": 2**70, "name": "Zoë ✓ 你好", "emoji": "🙂"}
    assert stored["output"] == "¿Dónde está? — ok"


def test_every_column_round_trips_exactly(api, project):
    """The batch is bound as one JSON document: quotes, backslashes, falsy values and JSON nulls stay as sent."""
    record = {
        "external_id": 'a"b\\c\td',
        "output": "null",
        "input": [{"role": "user", "content": 'line\nbreak \\n "quoted"', "name": None}],
        "context": False,
        "model": "gpt-4o \\ mini",
        "end_user_id": 'user\u00e9"1',
        "session_id": "s\\1",
        "occurred_at": "2026-11-20T08:15:00.123456+02:00",
        "metadata": {"ratio": 0.1, "none": None, "zero": 0, "empty": "", "list": [2.5, -3]},
        "tags": ["a\\b", 'c"d'],
        "feedback": {"score": -1, "comment": "tab\there"},
    }
    other = {"external_id": "ctx-none", "output": 0, "context": None, "input": "x"}

    assert api.post(URL, batch([record, other])).json()["created"] == 2

    stored = Output.objects.get(project=project, external_id='a"b\\c\td')
    assert stored.output == "null" and stored.context is False
    assert stored.input == record["input"] and stored.metadata == record["metadata"] and stored.tags == record["tags"]
    assert (stored.model, stored.end_user_id, stored.session_id) == ("gpt-4o \\ mini", 'user\u00e9"1', "s\\1")
    assert stored.occurred_at.isoformat() == "2026-11-20T06:15:00.123456+00:00"
    assert (stored.feedback_score, stored.feedback_comment) == (-1, "tab\there")
    assert stored.feedback_at is not None and stored.redaction_version is None
    bare = Output.objects.get(project=project, external_id="ctx-none")
    assert bare.output == 0 and bare.context is None and bare.input == "x"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # SQL NULL, not the JSON null
            cursor.execute("SELECT context IS NULL FROM labeling_output WHERE external_id = 'ctx-none'")
            assert cursor.fetchone() == (True,)
    # And a re-send is a duplicate, not a conflict.
    assert api.post(URL, batch([record, other])).json()["duplicates"] == 2


def test_the_readmes_first_outputs_are_one_template_among_others_and_each_is_stored_as_written(api, project):
    """The README's first ingest example is a support bot's, as the demo's first project is; it says so, and a
    summarizer's and a SQL assistant's records follow in the same fields. Each, as written there, is stored."""
    section = README.read_text().split("### Outputs: `POST /api/v1/outputs`")[1].split("### Errors")[0]
    first_example = section.index("```sh")
    assert "support bot" in section[:first_example] and "another template" in section[:first_example]
    curl_body = re.search(r"-d '(.*?)'\n```", section, re.S)[1]
    other_templates = re.search(r"for other templates.*?```json\n(.*?)```", section, re.S)[1]

    for records in (json.loads(curl_body)["outputs"], json.loads(other_templates)):
        response = api.post(URL, batch(records))
        assert response.status_code == 200, response.json()
        assert response.json()["created"] == len(records)
    assert Output.objects.filter(project=project).count() == 4
