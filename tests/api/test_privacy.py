"""Erasing one end user: no text of theirs is left in any table or current dataset file; it is audited.

The proof is the database itself: `pg_dump --data-only` of the test database is searched for the end
user's distinctive strings before (they are there) and after (they are gone), and every ready dataset
version is downloaded in each format and searched too.
"""

import io
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.conf import settings
from django.db import connection

from labeling.models import (
    AuditEvent,
    DatasetVersion,
    Item,
    Membership,
    Output,
    Queue,
    SavedView,
    UsageEvent,
    VersionStatus,
)
from labeling.rules.calendar import cycle_week
from labeling.services.api_keys import create_api_key
from labeling.services.assignment import next_item
from labeling.services.cycles import close_week
from labeling.services.datasets import build_version, create_dataset
from labeling.services.labels import comment_on_item, flag_item, submit_label
from labeling.services.privacy import end_user_digest
from labeling.services.resolution import adjudicate, resolve_item
from labeling.services.routing import route_outputs
from labeling.services.rubrics import publish_rubric
from labeling.services.version_files import version_directory
from tests.conftest import Api, output_record
from tests.helpers.rubrics import QUESTIONS
from tests.helpers.version_files import rendered

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SECRET = "zq81"  # every text of the erased end user carries it; nobody else's does
ANA = f"ana-{SECRET}"
WHEN = "2026-11-18T10:00:00+00:00"  # a past week, so it can be closed into a frozen report


def ana_record(n):
    return output_record(
        n,
        external_id=f"conv-{SECRET}-{n}",
        occurred_at=WHEN,
        end_user_id=ANA,
        session_id=f"sess-{SECRET}",
        input=[{"role": "user", "content": f"My IBAN is {SECRET.upper()}-INPUT-{n}"}],
        output=f"Noted {SECRET.upper()}-OUTPUT-{n}",
        context={"crm": f"{SECRET}-context"},
        metadata={"topic": "billing", "note": f"{SECRET}-meta"},
        feedback={"score": -1, "comment": f"{SECRET}-feedback"},
    )


def bo_record(n):
    return output_record(100 + n, external_id=f"conv-bo-{n}", occurred_at=WHEN, end_user_id="bo", output=f"Bo {n}")


def label_everything(project, expert, rubric, queue):
    """Label every item (ana's with texts of the expert's that quote her), resolve it."""
    while (item := next_item(expert=expert, queue=queue)) is not None:
        ana = item.output.end_user_id == ANA
        answers = {"correct": False, "fix": f"Say {SECRET}-correction"} if ana else {"correct": True}
        submit_label(expert=expert, item=item, rubric=rubric, answers=answers)
        if ana:
            comment_on_item(author=expert, item=item, body=f"{SECRET}-comment")
            flag_item(expert=expert, item=item, note=f"{SECRET}-flag")
        resolve_item(item_id=item.pk)


def dump_database() -> str:
    settings = connection.settings_dict
    command = ["pg_dump", "--data-only", "--no-owner", "-h", settings["HOST"] or "127.0.0.1"]
    command += ["-p", str(settings["PORT"] or 5432), "-U", settings["USER"] or "postgres", settings["NAME"]]
    env = {"PGPASSWORD": settings["PASSWORD"] or "", "PATH": "/usr/bin:/bin"}
    return subprocess.run(command, capture_output=True, check=True, text=True, env=env, timeout=60).stdout


def current_files(reader, project, dataset) -> dict[str, str]:
    """Every ready version of the dataset, downloaded in every format, as text."""
    files = {}
    for version in DatasetVersion.objects.filter(dataset=dataset, status=VersionStatus.READY):
        rendered(version)  # the Parquet file, as the worker renders it (a new version asks for it)
        base = f"/api/v1/projects/{project.slug}/datasets/{dataset.slug}/versions/{version.number}/download"
        for fmt in ("jsonl", "csv", "parquet"):
            response = reader.get(f"{base}?format={fmt}")
            assert response.status_code == 200
            body = b"".join(response.streaming_content)
            text = json.dumps(pq.read_table(io.BytesIO(body)).to_pylist(), default=str) if fmt == "parquet" else None
            files[f"v{version.number}.{fmt}"] = text or body.decode()
    return files


@pytest.fixture
def world(client, project, expert):
    ingest = Api(client, create_api_key(project=project, name="app", scopes=["ingest"]).secret)
    rubric = publish_rubric(project=project, questions=QUESTIONS)
    queue = Queue.objects.create(project=project, slug="all", name="All")
    outputs = [ana_record(n) for n in range(3)] + [bo_record(n) for n in range(4)]
    assert ingest.post("/api/v1/outputs", {"outputs": outputs}).status_code == 200
    events = [{"end_user_id": ANA, "name": "page_view", "occurred_at": WHEN, "properties": {"page": f"/{SECRET}"}},
              {"end_user_id": "bo", "name": "page_view", "occurred_at": WHEN}]  # fmt: skip
    assert ingest.post("/api/v1/events", {"events": events}).status_code == 200
    route_outputs(project_id=project.pk, output_ids=list(Output.objects.values_list("pk", flat=True)))
    Membership.objects.filter(user=expert, project=project).update(role="expert")
    label_everything(project, expert, rubric, queue)
    dataset = create_dataset(project=project, spec={"name": "Eval", "only_resolved": False})
    first = build_version(dataset_id=dataset.pk)
    # One more of bo's outputs, so a second version exists: both versions hold ana's rows.
    assert ingest.post("/api/v1/outputs", {"outputs": [bo_record(9)]}).status_code == 200
    route_outputs(project_id=project.pk, output_ids=list(Output.objects.values_list("pk", flat=True)))
    label_everything(project, expert, rubric, queue)
    second = build_version(dataset_id=dataset.pk)
    week = cycle_week(project, datetime(2026, 11, 18, 10, tzinfo=UTC))
    close_week(project_id=project.pk, week=week)
    return {"dataset": dataset, "versions": (first, second), "rubric": rubric, "queue": queue}


def test_erasure_leaves_no_text_of_the_end_user_in_any_table_or_current_dataset_file(
    client, project, engineer, world, django_capture_on_commit_callbacks
):
    reader = Api(client, create_api_key(project=project, name="reader", scopes=["read"]).secret)
    privacy = Api(client, create_api_key(project=project, name="dpo", scopes=["privacy"]).secret)
    dataset, (first, second) = world["dataset"], world["versions"]
    before = dump_database()
    assert before.count(SECRET) > 20  # in outputs, events, labels, revisions?, comments, flags, rows, the report
    assert "Bo 2" in before
    assert any(SECRET in text for text in current_files(reader, project, dataset).values())

    stored = sorted(Path(settings.MEDIA_ROOT, version_directory(v.pk)) for v in (first, second))
    assert all(directory.is_dir() for directory in stored)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(f"/api/v1/end-users/{ANA}", HTTP_AUTHORIZATION=f"Bearer {privacy.secret}")

    assert response.status_code == 204
    assert not any(directory.exists() for directory in stored)  # the withdrawn versions' rendered files
    after = dump_database()
    leaks = [line for line in after.splitlines() if SECRET in line.lower()]
    assert leaks == []
    assert "Bo 2" in after and "conv-bo-9" in after  # nobody else's data went
    files = current_files(reader, project, dataset)
    assert set(files) == {"v3.jsonl", "v3.csv", "v3.parquet"}
    assert not [name for name, text in files.items() if SECRET in text.lower()]
    assert files["v3.jsonl"].count("\n") == second.row_count - 3

    # The withdrawn versions stay listed with their note; their rows and downloads are gone (410).
    for version in (first, second):
        version.refresh_from_db()
        assert version.status == VersionStatus.WITHDRAWN and not version.rows.exists()
        assert version.withdrawn_by_key.name == "dpo"  # who withdrew it: the erasure's key
        base = f"/api/v1/projects/{project.slug}/datasets/{dataset.slug}/versions/{version.number}"
        gone = reader.get(f"{base}/download?format=jsonl")
        assert gone.status_code == 410
        assert version.withdrawn_note in gone.json()["errors"][0]["message"]
        assert reader.get(f"{base}/rows").status_code == 410
        assert reader.get(base).json()["withdrawn_note"] == version.withdrawn_note
    successor = DatasetVersion.objects.get(dataset=dataset, number=3)
    assert successor.sha256 == __import__("hashlib").sha256(files["v3.jsonl"].encode()).hexdigest()
    latest = reader.get(f"/api/v1/projects/{project.slug}/datasets/{dataset.slug}/versions/latest/download")
    assert latest.headers["X-Dataset-Version"] == "3"

    client.force_login(engineer)  # the dataset page lists them as withdrawn, with the note and no downloads
    page = client.get(f"/p/{project.slug}/datasets/{dataset.slug}/").content.decode()
    assert page.count(">withdrawn</span>") == 2 and second.withdrawn_note in page and first.withdrawn_note in page
    assert "versions/1/download" not in page and "versions/3/download" in page

    audit = AuditEvent.objects.get(action="privacy.end_user_erased")
    assert audit.details["end_user_hmac"] == end_user_digest(project, ANA)
    assert (audit.details["outputs"], audit.details["usage_events"], audit.details["labels"]) == (3, 1, 3)
    assert (audit.details["comments"], audit.details["flags"], audit.details["reports_scrubbed"]) == (3, 3, 1)
    assert audit.details["withdrawn_versions"] == ["eval/v1", "eval/v2"]
    assert audit.details["successor_versions"] == ["eval/v3"]


def test_after_an_erasure_each_withdrawn_version_names_its_successor_truthfully(client, project, world):
    """Only the newest withdrawn version is "the same without those rows" as its successor; an older one, holding
    other rows (v1 lacks conv-bo-9), is told the successor is a copy of the newest without them."""
    privacy = create_api_key(project=project, name="dpo", scopes=["privacy"])
    first, second = world["versions"]
    assert first.row_count != second.row_count  # v2 holds one more of bo's outputs

    response = client.delete(f"/api/v1/end-users/{ANA}", HTTP_AUTHORIZATION=f"Bearer {privacy.secret}")
    assert response.status_code == 204

    first.refresh_from_db()
    second.refresh_from_db()
    assert "Version 3 is the same without those rows." in second.withdrawn_note
    assert "same without those rows" not in first.withdrawn_note
    assert "Version 3, a copy of version 2 (the latest then) without those rows, replaces it." in first.withdrawn_note


def test_erasure_is_idempotent_and_needs_the_privacy_scope(client, project, world):
    reader = create_api_key(project=project, name="reader", scopes=["read", "ingest"])
    privacy = create_api_key(project=project, name="dpo", scopes=["privacy"])
    url = f"/api/v1/end-users/{ANA}"

    refused = client.delete(url, HTTP_AUTHORIZATION=f"Bearer {reader.secret}")
    assert refused.status_code == 403 and "privacy" in refused.json()["errors"][0]["message"]
    assert client.delete(url).status_code == 401
    assert (
        Output.objects.filter(end_user_id=ANA).count() == 3
        and not AuditEvent.objects.filter(action="privacy.end_user_erased").exists()
    )

    assert client.delete(url, HTTP_AUTHORIZATION=f"Bearer {privacy.secret}").status_code == 204
    versions = list(DatasetVersion.objects.values_list("number", "status"))
    assert client.delete(url, HTTP_AUTHORIZATION=f"Bearer {privacy.secret}").status_code == 204  # again: no change
    assert list(DatasetVersion.objects.values_list("number", "status")) == versions
    unknown = client.delete("/api/v1/end-users/nobody-ever", HTTP_AUTHORIZATION=f"Bearer {privacy.secret}")
    assert unknown.status_code == 204  # the same answer: it does not tell whether an id was known
    assert AuditEvent.objects.filter(action="privacy.end_user_erased").count() == 3
    assert not Output.objects.filter(end_user_id=ANA).exists() and not UsageEvent.objects.filter(end_user_id=ANA)
    assert Output.objects.filter(end_user_id="bo").count() == 5


@pytest.mark.parametrize(
    ("end_user_id", "named"), [("x" * 201, "end user id"), ("a%00b", "URL path contains a NUL character")]
)
def test_a_malformed_end_user_id_is_a_400_naming_it(client, project, end_user_id, named):
    privacy = create_api_key(project=project, name="dpo", scopes=["privacy"])
    response = client.delete(f"/api/v1/end-users/{end_user_id}", HTTP_AUTHORIZATION=f"Bearer {privacy.secret}")
    assert response.status_code == 400
    assert named in response.json()["errors"][0]["message"]
    assert not AuditEvent.objects.filter(action="privacy.end_user_erased").exists()


def test_a_key_erases_only_in_its_own_project(client, project, other_project, world):
    foreign = create_api_key(project=other_project, name="dpo", scopes=["privacy"])
    assert client.delete(f"/api/v1/end-users/{ANA}", HTTP_AUTHORIZATION=f"Bearer {foreign.secret}").status_code == 204
    assert Output.objects.filter(end_user_id=ANA, project=project).count() == 3


def test_erasure_leaves_the_end_user_in_no_saved_view_and_no_audit_event_of_an_export_or_a_gold_answer(
    client, project, lead, world
):
    """Filters naming the end user (their id, or a search for it) and a lead's gold answer quoting their output
    were copied into saved views and the audit log; an auditor reading the log afterwards sees none of it."""
    privacy = create_api_key(project=project, name="dpo", scopes=["privacy"])
    client.force_login(lead)
    explore = f"/p/{project.slug}/explore/"
    saved = client.post(f"{explore}views/save", {"name": "One customer", "query": f"end_user={ANA}&feedback=down"})
    assert saved.status_code == 302
    client.post(f"{explore}views/save", {"name": "Thumbs down", "query": "feedback=down"})
    for query in (f"end_user={ANA}", f"q={ANA}+refund", "q=bo"):
        assert client.get(f"{explore}export.jsonl?{query}").status_code == 200
    item = Item.objects.filter(output__end_user_id=ANA).order_by("pk").first()
    adjudicate(lead=lead, item=item, answers={"fix": f"Sorry {SECRET}-adjudicated"}, note="")
    assert SECRET in client.get(f"/p/{project.slug}/manage/audit/").content.decode()

    erasure = client.delete(f"/api/v1/end-users/{ANA}", HTTP_AUTHORIZATION=f"Bearer {privacy.secret}")
    assert erasure.status_code == 204

    assert [line for line in dump_database().splitlines() if SECRET in line.lower()] == []
    assert SECRET not in client.get(f"/p/{project.slug}/manage/audit/").content.decode()
    assert list(SavedView.objects.values_list("name", flat=True)) == ["Thumbs down"]  # nobody else's view went
    exported = AuditEvent.objects.filter(action="outputs.exported").order_by("pk")
    assert [event.details["filter"] for event in exported] == [
        "end_user=%5Berased%5D",
        "q=%5Berased%5D+refund",
        "q=bo",
    ]
    erased = AuditEvent.objects.get(action="privacy.end_user_erased").details
    assert (erased["saved_views_deleted"], erased["audit_events_scrubbed"]) == (1, 4)


def test_erasure_leaves_their_session_and_output_ids_in_no_saved_view_and_no_export_filter(
    client, project, lead, world
):
    """A filter finds the end user's outputs by their session id (`session=`, or searched for) or an output's
    external id as well as by their id; a saved view or an export's audit event with such a filter named them."""
    privacy = create_api_key(project=project, name="dpo", scopes=["privacy"])
    client.force_login(lead)
    explore = f"/p/{project.slug}/explore/"
    saved = client.post(f"{explore}views/save", {"name": "One session", "query": f"session=sess-{SECRET}"})
    assert saved.status_code == 302
    client.post(f"{explore}views/save", {"name": "Bo", "query": "q=conv-bo-1"})
    for query in (f"session=sess-{SECRET}", f"q=conv-{SECRET}-1", f"q=sess-{SECRET}+refund", "session=other"):
        assert client.get(f"{explore}export.jsonl?{query}").status_code == 200
    assert sum(SECRET in line for line in dump_database().splitlines() if "outputs.exported" in line) == 3

    erasure = client.delete(f"/api/v1/end-users/{ANA}", HTTP_AUTHORIZATION=f"Bearer {privacy.secret}")
    assert erasure.status_code == 204

    assert [line for line in dump_database().splitlines() if SECRET in line.lower()] == []
    assert list(SavedView.objects.values_list("name", flat=True)) == ["Bo"]  # nobody else's view went
    exported = AuditEvent.objects.filter(action="outputs.exported").order_by("pk")
    assert [event.details["filter"] for event in exported] == [
        "session=%5Berased%5D",
        "q=%5Berased%5D",
        "q=%5Berased%5D+refund",
        "session=other",
    ]


def test_an_end_user_whose_id_holds_a_newline_can_be_erased(client, project):
    """Ingest takes any id up to 200 characters, a newline included; the erasure's URL (`<path:…>`, which stops at a
    newline) had no route for such an id: an HTML 404, and the end user could not be erased over the API."""
    ingest = Api(client, create_api_key(project=project, name="app", scopes=["ingest"]).secret)
    privacy = create_api_key(project=project, name="dpo", scopes=["privacy"])
    end_user = f"ana\n{SECRET}"
    sent = ingest.post("/api/v1/outputs", {"outputs": [output_record(0, end_user_id=end_user)]})
    assert sent.status_code == 200 and Output.objects.filter(end_user_id=end_user).exists()

    response = client.delete("/api/v1/end-users/ana%0Azq81", HTTP_AUTHORIZATION=f"Bearer {privacy.secret}")

    assert response.status_code == 204, response.content[:200]
    assert not Output.objects.filter(end_user_id=end_user).exists()
    assert AuditEvent.objects.filter(action="privacy.end_user_erased").count() == 1


def test_an_erasure_with_a_query_parameter_erases_nothing_and_names_it(client, project):
    """The erasure takes no parameter: `?dry_run=true` (which a caller may expect to preview) was ignored and the end
    user erased; it is a 400 naming it, and nothing is erased."""
    ingest = Api(client, create_api_key(project=project, name="app", scopes=["ingest"]).secret)
    privacy = create_api_key(project=project, name="dpo", scopes=["privacy"])
    assert ingest.post("/api/v1/outputs", {"outputs": [output_record(0, end_user_id="ana")]}).status_code == 200

    response = client.delete("/api/v1/end-users/ana?dry_run=true", HTTP_AUTHORIZATION=f"Bearer {privacy.secret}")

    assert response.status_code == 400, response.content[:200]
    [error] = response.json()["errors"]
    assert error["field"] == "dry_run" and "takes none" in error["message"]
    assert Output.objects.filter(end_user_id="ana").exists()
    assert not AuditEvent.objects.filter(action="privacy.end_user_erased").exists()


def test_an_erasure_with_a_slash_added_to_the_id_erases_nobody_and_names_the_url_meant(client, project):
    """`DELETE /api/v1/end-users/ana/` erased the end user "ana/", who does not exist, and answered 204 as for any id:
    the caller believed ana erased while all her data stayed. When the id names nobody and the id without its last
    slash names an end user, nothing is erased and the 404 names the URL meant (to a key that may read the end user
    ids anyway); an end user "ana/" is erased as such."""
    ingest = Api(client, create_api_key(project=project, name="app", scopes=["ingest"]).secret)
    privacy = create_api_key(project=project, name="dpo", scopes=["privacy", "read"])
    assert ingest.post("/api/v1/outputs", {"outputs": [output_record(0, end_user_id="ana")]}).status_code == 200

    response = client.delete("/api/v1/end-users/ana/", HTTP_AUTHORIZATION=f"Bearer {privacy.secret}")

    assert response.status_code == 404, response.content[:200]
    [error] = response.json()["errors"]
    assert error["message"] == (
        "Nothing was erased: no end user has the id 'ana/' in this project (a slash at the end of the URL is part of "
        "the id). Did you mean /api/v1/end-users/ana?"
    )
    assert Output.objects.filter(end_user_id="ana").exists()
    assert not AuditEvent.objects.filter(action="privacy.end_user_erased").exists()

    assert ingest.post("/api/v1/outputs", {"outputs": [output_record(1, end_user_id="ana/")]}).status_code == 200
    erased = client.delete("/api/v1/end-users/ana/", HTTP_AUTHORIZATION=f"Bearer {privacy.secret}")
    assert erased.status_code == 204
    assert not Output.objects.filter(end_user_id="ana/").exists() and Output.objects.filter(end_user_id="ana").exists()
    nobody = client.delete("/api/v1/end-users/nobody/", HTTP_AUTHORIZATION=f"Bearer {privacy.secret}")
    assert nobody.status_code == 204  # neither id names anyone: the usual answer


def test_to_a_privacy_key_alone_a_slash_added_to_the_id_tells_nothing_of_who_is_known(client, project):
    """The 404 would tell a key that cannot read end user ids that "ana" exists: it answers 204 as for any id."""
    ingest = Api(client, create_api_key(project=project, name="app", scopes=["ingest"]).secret)
    privacy = create_api_key(project=project, name="dpo", scopes=["privacy"])
    assert ingest.post("/api/v1/outputs", {"outputs": [output_record(0, end_user_id="ana")]}).status_code == 200

    known = client.delete("/api/v1/end-users/ana/", HTTP_AUTHORIZATION=f"Bearer {privacy.secret}")
    unknown = client.delete("/api/v1/end-users/nobody/", HTTP_AUTHORIZATION=f"Bearer {privacy.secret}")

    assert known.status_code == unknown.status_code == 204
    assert known.content == unknown.content == b""
    assert Output.objects.filter(end_user_id="ana").exists()
