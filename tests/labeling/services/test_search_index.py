"""services.search_index: what makes an output findable, its words (weighted by where they stand) and its length
in characters, for text, chat-shaped and object outputs; and an output or a late feedback comment becomes
searchable once the routing task its ingest asked for has run."""

import json

import pytest
from django.db import connection

from labeling.models import Output
from labeling.rules.explore import parse_filter
from labeling.rules.text import text_chars
from labeling.selectors.explore import filter_outputs
from labeling.services.ingest import ingest_outputs, record_feedback
from labeling.services.search_index import index_outputs
from tests.factories import OutputFactory
from tests.outbox import enqueued, run_as_worker

pytestmark = pytest.mark.django_db

CHAT = [{"role": "assistant", "content": "Refunds take five days."}]
OBJECT = {"answer": "Parcel ORD-1 ships.", "sources": [1, 2], "extra": {"note": "Signed"}, "ok": True, "no": None}


@pytest.mark.parametrize(
    ("output", "chars"),
    [
        ("Crème brûlée, 👍", 15),  # characters, not bytes
        (CHAT, 9 + 23),  # every string value: the role too
        (OBJECT, 19 + 6),  # strings at any depth; numbers, booleans, null and keys are not text
        ("", 0),
        (42, 0),
    ],
)
def test_the_length_is_the_characters_of_the_outputs_strings(project, output, chars):
    stored = OutputFactory(project=project, output=output)

    assert index_outputs(project_id=project.pk, output_ids=[stored.pk]) == 1
    stored.refresh_from_db()
    assert stored.output_chars == chars == text_chars(output)  # SQL (PostgreSQL) and Python (SQLite) agree


def lexemes(output: Output) -> dict[str, str]:
    """The output's indexed words and the weights of their places (A output, B input and comment, C context)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT lexeme, array_to_string(weights, '') FROM labeling_output, unnest(search_vector) WHERE id = %s",
            [output.pk],
        )
        return dict(cursor.fetchall())


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("output", "words"),
    [
        ("Refunds arrive Friday.", {"refund": "A", "arriv": "A", "friday": "A"}),
        (CHAT, {"assist": "A", "refund": "A", "take": "A", "five": "A", "day": "A"}),
        # "ORD-1" is the word "ord" and the number -1 to the parser (explore asks for the exact string too)
        (OBJECT, {"parcel": "A", "ord": "A", "-1": "A", "ship": "AC", "sign": "A"}),  # "ship" in the context too
    ],
)
def test_the_vector_holds_stemmed_unaccented_words_weighted_by_their_place(project, output, words):
    stored = OutputFactory(
        project=project,
        output=output,
        input=[{"role": "user", "content": "Where is my crème brûlée?"}],
        feedback_comment="Slow answer",
        context={"docs": ["Shipping policy"], "page": 3},
    )
    index_outputs(project_id=project.pk, output_ids=[stored.pk])

    found = lexemes(stored)
    elsewhere = {"user": "B", "creme": "B", "brule": "B", "slow": "B", "answer": "B", "ship": "C", "polici": "C"}
    expected = elsewhere | words
    assert found == expected


@pytest.mark.postgres
def test_only_the_named_projects_outputs_are_indexed(project, other_project):
    stored = OutputFactory(project=project, output="Refunds arrive Friday.")

    assert index_outputs(project_id=other_project.pk, output_ids=[stored.pk]) == 0
    assert index_outputs(project_id=project.pk, output_ids=[]) == 0
    stored.refresh_from_db()
    assert stored.search_vector is None and stored.output_chars is None


def found(project, q: str) -> list[str]:
    return list(filter_outputs(project, parse_filter({"q": [q]})).values_list("external_id", flat=True))


def run_routing(callbacks) -> None:
    """Run the routing task each request asked for (through the outbox), here, as a worker would."""
    [message] = enqueued("labeling.route_outputs")
    assert len(callbacks) == 1
    run_as_worker(message)
    message.delete()


@pytest.mark.postgres
def test_an_output_and_its_late_feedback_comment_are_searchable_after_routing(
    project, django_capture_on_commit_callbacks
):
    body = {"outputs": [{"external_id": "conv-1", "input": "Where is it?", "output": "Your parcel ships today."}]}
    with django_capture_on_commit_callbacks() as callbacks:
        ingest_outputs(project=project, body=json.dumps(body).encode())
    assert found(project, "parcel") == []  # stored, not indexed yet: the ingest request stays fast
    run_routing(callbacks)
    assert found(project, "parcel") == ["conv-1"] and found(project, "damaged") == []
    assert Output.objects.get(external_id="conv-1").output_chars == 24

    feedback = {"feedback": [{"external_id": "conv-1", "score": -1, "comment": "The box arrived damaged"}]}
    with django_capture_on_commit_callbacks() as callbacks:
        record_feedback(project=project, body=json.dumps(feedback).encode())
    assert found(project, "damaged") == []
    run_routing(callbacks)
    assert found(project, "damaged") == ["conv-1"] and found(project, "parcel") == ["conv-1"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the search vector is PostgreSQL's")
def test_an_output_too_big_for_one_vector_is_indexed_from_its_start(project):
    """A tsvector holds at most 1 MB: 1.6 MB of unique words (a pasted data URL, a long context) must not fail the
    batch it came in; its first 100,000 characters per part are searchable."""
    huge = " ".join(f"w{n:07x}" for n in range(200_000))  # 1.8 MB, every word unique
    big = OutputFactory(project=project, external_id="big", input="Hi", output=huge, context=[huge])
    small = OutputFactory(project=project, external_id="small", input="Hi", output="Refunds take five days.")

    assert index_outputs(project_id=project.pk, output_ids=[big.pk, small.pk]) == 2
    assert set(filter_outputs(project, parse_filter({"q": ["w0000010"]})).values_list("external_id", flat=True)) == {
        "big"
    }
    assert filter_outputs(project, parse_filter({"q": ["refund"]})).get() == small


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the search vector is PostgreSQL's")
def test_redacting_stored_outputs_takes_the_removed_text_out_of_the_search(project):
    from labeling.services.redaction import redact_stored_outputs, save_rule_set

    output = OutputFactory(project=project, input="Hi", output="Write to jane.doe@example.com for your refund.")
    index_outputs(project_id=project.pk, output_ids=[output.pk])
    assert filter_outputs(project, parse_filter({"q": ["jane.doe@example.com"]})).exists()

    save_rule_set(project=project, builtins=["email"], custom=[], phone_region="US")
    redact_stored_outputs(project=project)

    assert not filter_outputs(project, parse_filter({"q": ["jane.doe@example.com"]})).exists()
    assert filter_outputs(project, parse_filter({"q": ["refund"]})).get() == output
