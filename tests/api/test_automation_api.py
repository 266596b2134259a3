"""Engineers' automation over REST (issue 15, point 4): a `datasets` key defines datasets and asks for builds and
watches them; an output's routing, labels and gold; the streamed label export; cursors nobody can forge."""

import base64
import csv
import io
import json
import os
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import transaction
from django.test import Client

from labeling.models import AuditEvent, Dataset, DatasetVersion, Item, Label, Queue, VersionStatus, week_label
from labeling.rules.annotators import annotator_pseudonym
from labeling.rules.cursors import NOT_HANDED_OUT
from labeling.services.api_keys import create_api_key
from labeling.services.assignment import skip_item
from labeling.services.datasets import build_version, create_dataset, definition_problems
from labeling.services.labels import flag_item
from labeling.services.resolution import adjudicate
from labeling.services.rubrics import publish_rubric
from tests.conftest import Api, _member
from tests.factories import OutputFactory
from tests.helpers.concurrency import backend_pid, run_at_once, waits_on_a_lock
from tests.helpers.labeling import TIE, label_outputs
from tests.helpers.rubrics import QUESTIONS
from tests.outbox import enqueued, run_as_worker

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

DATASETS = "/api/v1/projects/support-bot/datasets"
EVAL = f"{DATASETS}/support-eval"


@pytest.fixture
def ci(client, project):
    """What a CI job holds: one key with `read` and `datasets`."""
    return Api(client, create_api_key(project=project, name="ci", scopes=["read", "datasets"]).secret)


@pytest.fixture
def builder(client, project):
    return Api(client, create_api_key(project=project, name="builder", scopes=["datasets"]).secret)


@pytest.fixture
def reader(client, read_key):
    return Api(client, read_key.secret)


# The `datasets` scope ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["engineer", "lead"])
def test_engineers_and_leads_may_issue_a_datasets_key_and_the_keys_page_offers_it(client, project, role):
    client.force_login(_member(project, f"{role}-1", role))

    page = client.get("/p/support-bot/keys/")
    issued = client.post("/p/support-bot/keys/", {"name": "nightly eval", "scopes": ["datasets", "read"]})

    assert 'value="datasets"' in page.content.decode()
    assert issued.status_code == 200, issued.content[:500]
    assert project.api_keys.get(name="nightly eval").scopes == ["datasets", "read"]
    assert "/datasets/DATASET_SLUG/build" in issued.content.decode()  # the ready-to-paste example


# Creating a dataset ------------------------------------------------------------------------------------


def test_a_datasets_key_creates_a_dataset_with_the_forms_spec(builder, project, rubric):
    Queue.objects.create(project=project, slug="sample", name="Sample")
    spec = {
        "name": "Support eval", "description": "Nightly", "queues": ["sample"], "questions": ["correct"],
        "only_resolved": False, "tags_any": ["shipping"], "since": "2026-11-01T00:00:00+00:00",
        "until": "2026-12-01T00:00:00+00:00", "splits": {"train": 70, "dev": 10, "test": 20}, "auto_rebuild": False,
    }  # fmt: skip

    response = builder.post(DATASETS, spec)

    assert response.status_code == 201, response.json()
    assert response.headers["Location"] == f"http://testserver{EVAL}"
    body = response.json()
    assert {key: body[key] for key in ("slug", "queues", "questions", "only_resolved", "splits", "auto_rebuild")} == {
        "slug": "support-eval", "queues": ["sample"], "questions": ["correct"], "only_resolved": False,
        "splits": {"dev": 10, "test": 20, "train": 70}, "auto_rebuild": False,
    }  # fmt: skip
    # Posted as `+00:00`, shown as the API writes every moment (rules.moments): the same instants.
    assert body["filters"] == {
        "tags_any": ["shipping"], "since": "2026-11-01T00:00:00Z", "until": "2026-12-01T00:00:00Z",
    }  # fmt: skip
    assert body["latest_version"] is None
    assert body["build"] == {"state": "idle", "version": None, "requested_at": None, "error": ""}
    [event] = AuditEvent.objects.filter(action="dataset.created")
    assert event.actor is None and event.details["api_key"] == project.api_keys.get(name="builder").prefix


def test_a_moment_without_an_offset_is_read_in_the_projects_time_zone(builder, project):
    """As the web form reads it; it was read in the server's zone (UTC here), an hour off for a Paris project."""
    project.time_zone = "Europe/Paris"
    project.save(update_fields=["time_zone"])

    response = builder.post(DATASETS, {"name": "November", "since": "2026-11-01T00:00:00"})

    assert response.status_code == 201, response.json()
    assert response.json()["filters"]["since"] == "2026-10-31T23:00:00Z"  # midnight in Paris, written in UTC


def test_a_dataset_made_of_a_name_alone_takes_the_forms_defaults(builder):
    response = builder.post(DATASETS, {"name": "Everything"})

    assert response.status_code == 201
    dataset = Dataset.objects.get(slug="everything")
    assert (dataset.splits, dataset.only_resolved, dataset.auto_rebuild) == ({"test": 20, "train": 80}, True, True)


def test_the_api_docs_try_it_out_body_of_a_new_dataset_is_accepted_as_it_is(client, builder):
    """/api/docs/ fills "Try it out" from the schema: with no example given, Swagger UI made one of placeholders
    (`"questions": ["string"]`, `"splits": {"additionalProp1": 1, …}`, …), a 400 naming five problems."""
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    examples = schema["paths"]["/api/v1/projects/{project_slug}/datasets"]["post"]["requestBody"]["content"]
    [example] = examples["application/json"]["examples"].values()

    response = builder.post(DATASETS, example["value"])

    assert response.status_code == 201, response.content


BAD_SPECS = {
    "no name": ({}, "name", "required"),
    "a name of dashes": ({"name": "---"}, "name", "at least one letter or digit"),
    "an unknown field": ({"name": "x", "split": {"train": 100}}, "split", "Unknown field"),
    # A misspelt field was not named when another field failed too: `{"nmae": …}` was "name: This field is required."
    "a misspelt name": ({"nmae": "Nightly eval"}, "nmae", "Unknown field"),
    "a misspelt field beside a bad one": (
        {"name": "x", "sinse": "2026-11-01", "splits": {"a": "x"}},
        "sinse",
        "Unknown",
    ),
    "shares not adding up": ({"name": "x", "splits": {"train": 80, "test": 10}}, "splits", "adding up to 100"),
    "a share that is text": ({"name": "x", "splits": {"train": "most"}}, "splits", "'train': A valid integer"),
    "a bad split name": ({"name": "x", "splits": {"Train Set": 100}}, "splits", "lowercase"),
    "an unknown queue": ({"name": "x", "queues": ["nope"]}, "queues", "No such queue"),
    "queues not a list": ({"name": "x", "queues": "sample"}, "queues", "list"),
    "until before since": (
        {"name": "x", "since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
        "until",
        "after `since`",
    ),  # fmt: skip
    "a bad moment": ({"name": "x", "since": "yesterday"}, "since", "Not a moment: write an ISO 8601 date and time"),
    "a flag that is not one": ({"name": "x", "only_resolved": "perhaps"}, "only_resolved", "true or false"),
    # DRF's BooleanField took "false", "no", "off", 0 and 1 from a JSON body: a quoted "false" was read as false.
    "a flag sent as text": ({"name": "x", "only_resolved": "false"}, "only_resolved", "true or false"),
    "a flag sent as a number": ({"name": "x", "auto_rebuild": 0}, "auto_rebuild", "true or false"),
    "a flag sent as yes": ({"name": "x", "auto_rebuild": "yes"}, "auto_rebuild", "true or false"),
    "an unknown question": ({"name": "x", "questions": ["correct", "corect"]}, "questions", "No such question"),
    "a name that is a number": ({"name": 5}, "name", "Not a valid string"),
    "a question that is a number": ({"name": "x", "questions": [5]}, "questions", "Not a valid string"),
    "a tag that is a flag": ({"name": "x", "tags_any": [True]}, "tags_any", "Not a valid string"),
}


@pytest.mark.parametrize(("spec", "field", "message"), BAD_SPECS.values(), ids=BAD_SPECS.keys())
def test_a_bad_definition_is_a_400_naming_the_field_and_stores_nothing(builder, rubric, spec, field, message):
    response = builder.post(DATASETS, spec)

    assert response.status_code == 400
    assert any(e["field"] == field and message in e["message"] for e in response.json()["errors"]), response.json()
    assert not Dataset.objects.exists()


@pytest.mark.parametrize("queue", [1, 1.0, True, {"slug": "1"}], ids=["a number", "a float", "a flag", "an object"])
def test_a_queue_that_is_not_a_string_is_a_400_naming_queues_and_stores_nothing(builder, project, queue):
    """DRF's SlugField read the number 1 as the slug "1": `"queues": [1]` made a dataset of the queue `1`."""
    Queue.objects.create(project=project, slug="1", name="One")

    response = builder.post(DATASETS, {"name": "x", "queues": [queue]})

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "queues" and "Queue slugs are strings" in error["message"], error
    assert not Dataset.objects.exists()


def test_questions_are_keys_of_any_of_the_projects_rubric_versions(builder, project, rubric):
    """A key the current rubric dropped still names the answers of the rows labeled under an older version."""
    publish_rubric(project=project, questions=[question for question in QUESTIONS if question["key"] != "tone"])

    kept = builder.post(DATASETS, {"name": "Tone", "questions": ["tone", "correct"]})
    refused = Api(builder.client, create_api_key(project=project, name="b2", scopes=["datasets"]).secret).post(
        DATASETS, {"name": "Typo", "questions": ["tone", "corect", "helpfull"]}
    )

    assert kept.status_code == 201 and kept.json()["questions"] == ["tone", "correct"]
    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        {"index": None, "field": "questions", "message": "No such question in this project's rubric: corect, helpfull."}
    ]


def taken(slug: str) -> str:
    return (
        f"The dataset '{slug}' exists already: a name's slug (its letters and digits, lowercase, joined by dashes, "
        "64 at most) must differ from every other dataset's."
    )


def test_two_long_names_alike_in_their_first_64_characters_share_a_slug_and_the_409_says_so(builder, project):
    assert builder.post(DATASETS, {"name": "y" * 200}).status_code == 201

    response = builder.post(DATASETS, {"name": "y" * 199 + "z"})

    assert response.status_code == 409
    assert response.json()["errors"] == [{"index": None, "field": "name", "message": taken("y" * 64)}]


def test_a_taken_name_is_a_409_conflict_naming_it(builder, project):
    """The definition is sound; the project's state refuses it, as a conflict: the status says so, the body which
    dataset holds the name."""
    create_dataset(project=project, spec={"name": "Support eval"})

    response = builder.post(DATASETS, {"name": "Support  eval"})

    assert response.status_code == 409
    assert response.json()["errors"] == [{"index": None, "field": "name", "message": taken("support-eval")}]
    assert Dataset.objects.count() == 1


def test_the_409_is_decided_by_the_problems_kind_not_its_wording(project):
    """A name taken is a problem of its own kind (the 409 is told by it); a name's other problem, though on the same
    field, is not one."""
    from labeling.services.datasets.definitions import NameTakenProblem

    create_dataset(project=project, spec={"name": "Support eval"})

    [(field, problem)] = definition_problems(project=project, name="Support  EVAL")
    [(_, bad_name)] = definition_problems(project=project, name="---")

    assert (field, isinstance(problem, NameTakenProblem)) == ("name", True)
    assert not isinstance(bad_name, NameTakenProblem)


def test_a_taken_name_beside_other_problems_is_named_in_their_400(builder, project):
    """One 400 names every problem of a definition, the name taken among them: fixing the others first would only
    meet the conflict next."""
    create_dataset(project=project, spec={"name": "Support eval"})

    response = builder.post(DATASETS, {"name": "Support eval", "splits": {"train": 90}})

    assert response.status_code == 400
    assert {error["field"] for error in response.json()["errors"]} == {"name", "splits"}
    assert {"index": None, "field": "name", "message": taken("support-eval")} in response.json()["errors"]


def test_the_schema_documents_the_409_of_a_name_taken(client, db):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    responses = schema["paths"]["/api/v1/projects/{project_slug}/datasets"]["post"]["responses"]

    assert "name is taken" in responses["409"]["description"]
    assert responses["409"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorsOut"}


@pytest.mark.django_db(transaction=True)
def test_a_name_taken_while_the_request_runs_is_a_409_naming_it(project):
    """Two jobs create the same dataset at once: the first inserts and holds its transaction until the second's
    insert waits on the unique slug, then commits; the second passed the name check before, and is a 409."""
    secret = create_api_key(project=project, name="builder", scopes=["datasets"]).secret
    inserted, second_pid = threading.Event(), []

    def first_creates():
        with transaction.atomic():
            create_dataset(project=project, spec={"name": "Race one"})
            inserted.set()
            deadline = time.monotonic() + 20
            while not (second_pid and waits_on_a_lock(second_pid[0])):
                assert time.monotonic() < deadline, "the second insert never waited for the first"
                time.sleep(0.02)
        return "created"

    def second_creates():
        assert inserted.wait(20)
        second_pid.append(backend_pid())
        return Api(Client(), secret).post(DATASETS, {"name": "Race one"})

    results, errors = run_at_once(lambda step: step(), [(first_creates,), (second_creates,)])

    assert errors == []
    [refused] = [result for result in results if result != "created"]
    assert refused.status_code == 409, refused.content[:300]
    assert refused.json()["errors"] == [{"index": None, "field": "name", "message": taken("race-one")}]
    assert Dataset.objects.count() == 1
    assert AuditEvent.objects.filter(action="dataset.created").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_name_without_latin_letters_taken_while_the_request_runs_is_a_409_naming_it(project):
    """No unique slug guards such a name (its slug is generated): the second create waits for the first on the
    project's row lock, then finds the name taken, instead of making a second dataset of the same name."""
    secret = create_api_key(project=project, name="builder", scopes=["datasets"]).secret
    inserted, second_pid = threading.Event(), []

    def first_creates():
        with transaction.atomic():
            create_dataset(project=project, spec={"name": "日本語"})
            inserted.set()
            deadline = time.monotonic() + 20
            while not (second_pid and waits_on_a_lock(second_pid[0])):
                assert time.monotonic() < deadline, "the second create never waited for the first"
                time.sleep(0.02)
        return "created"

    def second_creates():
        assert inserted.wait(20)
        second_pid.append(backend_pid())
        return Api(Client(), secret).post(DATASETS, {"name": "日本語"})

    results, errors = run_at_once(lambda step: step(), [(first_creates,), (second_creates,)])

    assert errors == []
    [refused] = [result for result in results if result != "created"]
    assert refused.status_code == 409, refused.content[:300]
    assert refused.json()["errors"][0]["field"] == "name"
    assert "exists already" in refused.json()["errors"][0]["message"]
    assert list(Dataset.objects.values_list("name", flat=True)) == ["日本語"]


def test_only_a_datasets_key_of_the_project_or_a_signed_in_engineer_may_create(
    client, project, reader, ingest_key, other_project, expert
):
    other = create_api_key(project=other_project, name="other", scopes=["read", "datasets"])

    refused = reader.post(DATASETS, {"name": "x"})
    assert refused.status_code == 403 and "`datasets` scope" in refused.json()["errors"][0]["message"]
    assert Api(client, ingest_key.secret).post(DATASETS, {"name": "x"}).status_code == 403
    assert Api(client, other.secret).post(DATASETS, {"name": "x"}).status_code == 404
    assert Api(client, None).post(DATASETS, {"name": "x"}).status_code == 401
    client.force_login(expert)  # knows the project: a 403 saying datasets are not theirs
    assert client.post(DATASETS, {"name": "x"}, content_type="application/json").status_code == 403
    assert not Dataset.objects.exists()

    client.force_login(_member(project, "enzo", "engineer"))
    assert client.post(DATASETS, {"name": "x"}, content_type="application/json").status_code == 201
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(_member(project, "lena", "lead"))
    assert strict.post(DATASETS, {"name": "y"}, content_type="application/json").status_code == 403  # no CSRF


# Building and watching ---------------------------------------------------------------------------------


@pytest.fixture
def dataset(project, lead):
    label_outputs(project, 3)
    return create_dataset(project=project, spec={"name": "Support eval"})


def test_a_datasets_key_asks_for_a_build_and_watches_it_until_its_version_is_ready(
    builder, reader, project, dataset, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        asked = builder.post(f"{EVAL}/build", {})

    assert asked.status_code == 202
    assert asked.json() == {"status": "requested", "status_url": f"http://testserver{EVAL}", "latest_version": None}
    assert asked.headers["Location"] == asked.json()["status_url"]
    assert builder.get(EVAL).json()["build"]["state"] == "queued"
    [message] = enqueued("labeling.build_dataset")
    assert message.args == [dataset.pk]
    event = AuditEvent.objects.get(action="dataset.build_requested")
    assert event.details["api_key"] == project.api_keys.get(name="builder").prefix

    DatasetVersion.objects.create(dataset=dataset, number=1, status=VersionStatus.BUILDING)
    building = builder.get(EVAL).json()["build"]
    assert (building["state"], building["version"]) == ("building", 1)
    assert reader.get(f"{EVAL}/versions/1").json()["status"] == "building"  # a version's status, while it builds
    DatasetVersion.objects.filter(dataset=dataset).delete()

    run_as_worker(message)

    watched = builder.get(EVAL).json()
    assert watched["build"] == {"state": "idle", "version": None, "requested_at": None, "error": ""}
    assert watched["latest_version"] == 1
    assert reader.get(f"{EVAL}/versions/1").json()["status"] == "ready"


def test_a_failed_build_says_why(builder, dataset):
    Dataset.objects.filter(pk=dataset.pk).update(build_error="disk full")

    assert builder.get(EVAL).json()["build"]["state"] == "failed"
    assert builder.get(EVAL).json()["build"]["error"] == "disk full"


def test_a_build_answer_names_the_version_it_started_from(builder, dataset):
    build_version(dataset_id=dataset.pk)

    assert builder.post(f"{EVAL}/build?full=true", {}).json()["latest_version"] == 1
    assert builder.post(f"{EVAL}/build?full=maybe", {}).status_code == 400


def test_a_build_refuses_a_body_it_would_ignore(builder, dataset):
    """`{"full": true}` was an ordinary build that answered as if it were the full one asked for."""
    refused = builder.post(f"{EVAL}/build", {"full": True})

    assert refused.status_code == 400
    [error] = refused.json()["errors"]
    assert error["field"] == "full" and "?full=true" in error["message"]
    assert not enqueued("labeling.build_dataset")


def test_a_build_needs_the_datasets_scope_of_the_project_in_the_url(client, reader, dataset, other_project):
    other = create_api_key(project=other_project, name="other", scopes=["read", "datasets"])
    create_dataset(project=other_project, spec={"name": "Support eval"})

    refused = reader.post(f"{EVAL}/build", {})
    assert refused.status_code == 403 and "`datasets` scope" in refused.json()["errors"][0]["message"]
    assert Api(client, other.secret).post(f"{EVAL}/build", {}).status_code == 404
    assert Api(client, other.secret).get(EVAL).status_code == 404
    assert not enqueued("labeling.build_dataset")


def test_a_datasets_key_watches_a_dataset_but_reads_no_rows(builder, dataset, ingest_key, client, other_project):
    """It sees the definitions, the build state and each version's status, as the README's CI job polls them."""
    build_version(dataset_id=dataset.pk)

    assert builder.get(EVAL).status_code == 200
    assert [d["slug"] for d in builder.get(DATASETS).json()["results"]] == [dataset.slug]
    assert builder.get(f"{EVAL}/versions").json()["results"][0]["status"] == "ready"
    assert builder.get(f"{EVAL}/versions/1").json()["status"] == "ready"
    assert builder.get(f"/api/v1/projects/{other_project.slug}/datasets").status_code == 404  # its project only
    assert builder.get(f"{EVAL}/versions/1/download").status_code == 403
    assert builder.get(f"{EVAL}/versions/1/rows").status_code == 403
    assert Api(client, ingest_key.secret).get(EVAL).status_code == 403
    assert builder.get(f"{DATASETS}/nope").status_code == 404


def _readme_poll_loop() -> str:
    """Step 3 of the README's CI example, as written: from its `# 3.` comment to the `# 4.` one."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Automation from CI") :]
    example = section[section.index("```sh\n") + len("```sh\n") : section.index("```\n", section.index("```sh\n") + 1)]
    return example[example.index("# 3.") : example.index("# 4.")]


POLLS = {
    "idle": ("", "ci", 0, ""),
    "failed": ("Database gone away", "ci", 1, "build failed: Database gone away"),
    "refused": ("", "revoked", 1, "error: 401"),
}


@pytest.mark.shell_tools
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("error", "key", "exit_code", "stderr"), POLLS.values(), ids=POLLS.keys())
def test_the_readmes_poll_loop_ends_when_the_build_is_over_and_fails_the_job_when_it_failed(
    live_server, project, error, key, exit_code, stderr
):
    """The loop runs in bash with curl and jq against a server: it stops at `idle`; at `failed` it stops too,
    says why and exits non-zero (so the CI job fails instead of waiting for ever), as on a refused key."""
    dataset = create_dataset(project=project, spec={"name": "Nightly eval"})
    Dataset.objects.filter(pk=dataset.pk).update(build_error=error)
    secret = create_api_key(project=project, name="ci", scopes=["datasets"]).secret if key == "ci" else "el_revoked"
    env = {"PATH": os.environ["PATH"], "API": f"{live_server.url}{DATASETS}", "AUTH": f"Authorization: Bearer {secret}"}

    try:
        done = subprocess.run(["bash", "-c", _readme_poll_loop()], env=env, capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail("the README's poll loop never ended")

    assert (done.returncode, stderr in done.stderr) == (exit_code, True), done.stderr


# One output's routing, labels and gold -----------------------------------------------------------------


@pytest.fixture
def tie(project, lead):
    """A tied item, adjudicated by the lead with a fix; one outsider expert skipped it and another flagged it."""
    [item] = label_outputs(project, 1, answers=TIE)
    adjudicate(lead=lead, item=item, answers={"correct": False, "fix": "Parcels arrive in 3 days."})
    skipper, flagger = (_member(project, name, "expert") for name in ("sam", "fay"))
    skip_item(expert=skipper, item=item, reason="not my area")
    flag_item(expert=flagger, item=item, note="Discuss on Monday")
    return item


def test_an_output_with_its_labels_and_gold(reader, project, tie, django_assert_num_queries):
    labels = list(Label.objects.filter(item=tie).select_related("rubric").order_by("pk"))

    with django_assert_num_queries(7):  # the key (found, touched), the output, its items, labels, skips, flags
        response = reader.get(f"/api/v1/outputs/{tie.output.external_id}?include=labels,gold")

    assert response.status_code == 200, response.json()
    [item] = response.json()["items"]
    assert {key: item[key] for key in ("id", "queue", "week", "status", "overlap")} == {
        "id": tie.pk, "queue": "sample", "week": week_label(tie.week), "status": "complete", "overlap": 2,
    }  # fmt: skip
    assert item["labels"] == [
        {
            "annotator": annotator_pseudonym(project.pk, label.expert_id),
            "answers": label.answers,
            "rubric_version": label.rubric.version,
            "labeled_at": label.updated_at.isoformat().replace("+00:00", "Z"),
            "seconds_spent": label.seconds_spent,
        }
        for label in labels
    ]
    assert [(s["annotator"], s["reason"]) for s in item["skips"]] == [
        (annotator_pseudonym(project.pk, project.memberships.get(user__username="sam").user_id), "not my area")
    ]
    assert [f["note"] for f in item["flags"]] == ["Discuss on Monday"]
    assert item["gold"] == {
        "status": "resolved",
        "answers": {
            "correct": {"value": False, "method": "adjudicated"},
            "fix": {"value": "Parcels arrive in 3 days.", "method": "adjudicated"},
            "helpful": {"value": 3, "method": "median"},
        },
        "open_ties": [],
    }
    assert "lab0" not in response.content.decode()  # experts are never named


def test_without_include_an_output_shows_its_routing_only(reader, tie):
    response = reader.get(f"/api/v1/outputs/{tie.output.external_id}")

    [item] = response.json()["items"]
    assert not {"labels", "skips", "flags", "gold"} & set(item)
    assert set(reader.get(f"/api/v1/outputs/{tie.output.external_id}?include=gold").json()["items"][0]) >= {"gold"}


@pytest.mark.parametrize(
    ("include", "named"),
    [("bogus", "`bogus`"), ("labels,gold,Labels", "`Labels`"), ("labels&include=x", "`x`")],
)
def test_an_unknown_include_is_a_400_naming_it(reader, tie, include, named):
    response = reader.get(f"/api/v1/outputs/{tie.output.external_id}?include={include}")

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "include" and named in error["message"] and "labels, gold" in error["message"]


def test_another_projects_output_is_not_found_and_the_read_scope_is_needed(client, tie, other_project, ingest_key):
    OutputFactory(project=other_project, external_id="elsewhere")
    other = create_api_key(project=other_project, name="other", scopes=["read"])

    assert Api(client, other.secret).get(f"/api/v1/outputs/{tie.output.external_id}?include=labels").status_code == 404
    assert Api(client, ingest_key.secret).get(f"/api/v1/outputs/{tie.output.external_id}").status_code == 403
    assert Api(client, other.secret).get("/api/v1/outputs/elsewhere?include=bogus").status_code == 400


# The label export --------------------------------------------------------------------------------------


@pytest.fixture
def weeks(project, lead):
    """Labels on items of three cycle weeks: two items in the first, a tie in the second, one in the third."""
    items = label_outputs(project, 2) + label_outputs(project, 1, answers=TIE) + label_outputs(project, 1)
    first = items[0].week - timedelta(weeks=10)
    for item, offset in zip(items, (0, 0, 1, 2), strict=True):
        Item.objects.filter(pk=item.pk).update(week=first + timedelta(weeks=offset))
    return [first + timedelta(weeks=n) for n in range(3)]


def _expected(project, items_weeks) -> list[dict]:
    """The export's lines, made from the database by hand."""
    labels = (
        Label.objects.filter(item__week__in=items_weeks)
        .select_related("item__output", "item__queue", "item__resolution", "rubric")
        .order_by("item__week", "item_id", "pk")
    )
    expected = []
    for label in labels:
        resolution = label.item.resolution
        gold = {key: entry for key, entry in resolution.automatic.items() if entry["method"] != "tie"}
        gold.update(resolution.adjudicated)
        expected.append(
            {
                "external_id": label.item.output.external_id,
                "queue": label.item.queue.slug,
                "item": label.item_id,
                "week": week_label(label.item.week),
                "annotator": annotator_pseudonym(project.pk, label.expert_id),
                "answers": label.answers,
                "rubric_version": label.rubric.version,
                "labeled_at": label.updated_at.isoformat().replace("+00:00", "Z"),
                "seconds_spent": label.seconds_spent,
                "gold": {key: {"value": e["value"], "method": e["method"]} for key, e in gold.items()},
            }
        )
    return expected


def test_the_label_export_streams_every_label_of_the_weeks_as_the_database_holds_them(
    reader, project, weeks, monkeypatch
):
    monkeypatch.setattr("labeling.services.label_exports.LABEL_CHUNK", 2)  # several reads and chunks on a small fixture
    first, second, _ = map(week_label, weeks)

    response = reader.get(f"/api/v1/labels?from={first}&to={second}")

    assert response.status_code == 200 and response.streaming
    assert response.headers["Content-Type"] == "application/x-ndjson"
    assert (
        response.headers["Content-Disposition"] == f'attachment; filename="support-bot-labels-{first}-{second}.jsonl"'
    )
    chunks = list(response.streaming_content)
    lines = [json.loads(line) for line in b"".join(chunks).decode().splitlines()]
    assert len(chunks) == 3  # six labels, two a chunk: written as they are read
    assert lines == _expected(project, weeks[:2])
    tied = [line for line in lines if line["week"] == second]
    assert len(tied) == 2 and tied[0]["gold"] == {"helpful": {"value": 3, "method": "median"}}  # the tie left out


def test_the_label_export_as_csv(reader, project, weeks):
    week = week_label(weeks[2])

    response = reader.get(f"/api/v1/labels?from={week}&to={week}&format=csv")

    assert response.headers["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    [expected, other] = _expected(project, weeks[2:])
    assert len(rows) == 2 and rows[0]["external_id"] == expected["external_id"]
    assert json.loads(rows[0]["answers"]) == expected["answers"] and json.loads(rows[0]["gold"]) == expected["gold"]
    assert rows[0]["annotator"] == expected["annotator"] and rows[0]["week"] == week


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-W60", "from"),
        ("to=last-week", "to"),
        ("from=2026-W48&to=2026-W40", "from"),
        ("from=2020-W01&to=2026-W01", "from"),
        ("format=xlsx", "format"),
    ],
)
def test_bad_weeks_or_formats_are_400s(reader, project, query, field):
    response = reader.get(f"/api/v1/labels?{query}")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    if field == "format":
        assert response.json()["errors"][0]["message"] == '"xlsx" is not a format. The formats: jsonl, csv.'


def test_the_label_export_is_for_the_keys_project_and_its_engineers(client, project, weeks, other_project, expert):
    other = create_api_key(project=other_project, name="other", scopes=["read"])
    week = week_label(weeks[0])

    assert Api(client, other.secret).get(f"/api/v1/labels?project=support-bot&from={week}").status_code == 404
    assert b"".join(Api(client, other.secret).get(f"/api/v1/labels?from={week}").streaming_content) == b""
    client.force_login(expert)  # knows the project: a 403 saying whose the labels are
    assert client.get(f"/api/v1/labels?project=support-bot&from={week}").status_code == 403
    client.force_login(_member(project, "enzo", "engineer"))
    response = client.get(f"/api/v1/labels?project=support-bot&from={week}&to={week}")
    assert response.status_code == 200 and len(b"".join(response.streaming_content).splitlines()) == 4


# Cursors -----------------------------------------------------------------------------------------------


@pytest.fixture
def paged(project, lead):
    """Two of everything a cursor pages: datasets, versions, rows, outputs."""
    label_outputs(project, 2)
    dataset = create_dataset(project=project, spec={"name": "Support eval", "splits": {"train": 100}})
    build_version(dataset_id=dataset.pk)
    DatasetVersion.objects.create(dataset=dataset, number=2, status=VersionStatus.FAILED)
    create_dataset(project=project, spec={"name": "Second"})


PAGED = {
    "datasets": DATASETS,
    "versions": f"{EVAL}/versions",
    "rows": f"{EVAL}/versions/1/rows",
    "outputs": "/api/v1/outputs",
}


@pytest.mark.parametrize("endpoint", ["datasets", "versions", "rows"])
def test_a_page_size_of_thousands_of_digits_is_lowered_to_the_largest_page(ci, paged, endpoint):
    """Past Python's 4,300-digit limit for int() (a ValueError, a 500 before): lowered, as the schema says of any
    larger value."""
    response = ci.get(f"{PAGED[endpoint]}?page_size={'9' * 5000}")

    assert response.status_code == 200
    assert response.json()["results"]


def _cursor(link: str) -> str:
    return parse_qs(urlsplit(link).query)["cursor"][0]


def _forged(cursor: str) -> list[str]:
    """What a client might try: an unsigned position, the position altered under the old signature, another
    signature, the signature cut off."""
    position, signature = cursor.rsplit(".", 1)
    # DRF's positions are base64 text; the outputs list's are `<microseconds>_<pk>`.
    raw = "" if "_" in position else base64.urlsafe_b64decode(position + "=" * (-len(position) % 4)).decode()
    altered = base64.urlsafe_b64encode(f"{raw}0".encode()).decode().rstrip("=") if raw else f"{position}0"
    return [position, f"{altered}.{signature}", f"{position}.{'A' * len(signature)}", f"{position}."]


@pytest.mark.parametrize("endpoint", PAGED)
def test_every_cursor_paged_endpoint_follows_its_own_cursors_and_refuses_any_other(ci, paged, endpoint):
    url = PAGED[endpoint]
    first = ci.get(f"{url}?page_size=1").json()
    cursor = _cursor(first["next"])
    borrowed = _cursor(
        ci.get(f"{PAGED['datasets' if endpoint != 'datasets' else 'versions']}?page_size=1").json()["next"]
    )

    followed = ci.get(first["next"].removeprefix("http://testserver"))

    assert followed.status_code == 200 and followed.json()["results"] != first["results"]
    assert len(cursor) < 50  # short enough to read in a log
    for bad in [*_forged(cursor), borrowed]:
        response = ci.get(f"{url}?page_size=1&cursor={bad}")
        assert response.status_code == 400, (bad, response.json())
        assert response.json()["errors"] == [{"index": None, "field": "cursor", "message": NOT_HANDED_OUT}]


def test_the_explore_page_refuses_a_cursor_of_the_api(client, project, lead, ci, paged):
    cursor = _cursor(ci.get("/api/v1/outputs?page_size=1").json()["next"])
    client.force_login(lead)

    response = client.get(f"/p/support-bot/explore/?cursor={cursor}")

    assert response.status_code == 400 and "not handed out by this endpoint" in response.content.decode()


def _refused(response) -> bool:
    return response.status_code == 400 and response.json()["errors"] == [
        {"index": None, "field": "cursor", "message": NOT_HANDED_OUT}
    ]


def test_a_rows_cursor_pages_only_the_version_and_filters_it_was_handed_out_for(ci, project, other_project, paged):
    """The same endpoint of another project, another version of the dataset, or the same rows with a filter
    added would read from a position that means nothing there: each is a 400. A new page size is not a new list."""
    rows = f"{EVAL}/versions/1/rows"
    cursor = _cursor(ci.get(f"{rows}?page_size=1").json()["next"])
    label_outputs(project, 1)
    build_version(dataset_id=Dataset.objects.get(project=project, slug="support-eval").pk)
    label_outputs(other_project, 2)
    build_version(dataset_id=create_dataset(project=other_project, spec={"name": "Support eval"}).pk)
    other = Api(ci.client, create_api_key(project=other_project, name="b", scopes=["read"]).secret)
    elsewhere = rows.replace("/support-bot/", "/sql-assistant/")

    assert ci.get(f"{EVAL}/versions/latest").json()["number"] == 3
    assert _refused(other.get(f"{elsewhere}?page_size=1&cursor={cursor}"))
    assert _refused(ci.get(f"{EVAL}/versions/3/rows?page_size=1&cursor={cursor}"))
    assert _refused(ci.get(f"{EVAL}/versions/latest/rows?page_size=1&cursor={cursor}"))
    assert _refused(ci.get(f"{rows}?page_size=1&split=train&cursor={cursor}"))
    assert ci.get(f"{rows}?page_size=5&cursor={cursor}").json()["results"][0]["id"] == "out-00001"


def test_an_outputs_cursor_pages_only_the_project_and_filters_it_was_handed_out_for(ci, other_project, paged):
    cursor = _cursor(ci.get("/api/v1/outputs?page_size=1").json()["next"])
    label_outputs(other_project, 2)
    other = Api(ci.client, create_api_key(project=other_project, name="b", scopes=["read"]).secret)

    assert _refused(other.get(f"/api/v1/outputs?page_size=1&cursor={cursor}"))
    assert _refused(ci.get(f"/api/v1/outputs?page_size=1&model=gpt-4o-mini&cursor={cursor}"))
    assert [o["external_id"] for o in ci.get(f"/api/v1/outputs?page_size=5&cursor={cursor}").json()["results"]] == [
        "out-00000"
    ]
