"""Withdrawing a dataset version over REST: `POST …/versions/<n>/withdraw {"reason": …}`.

A key with the `datasets` scope that a lead or admin issued (a CI job's), or a signed-in lead or admin. A key an
engineer issued, a key without the scope and a signed-in engineer get a 403, a signed-in expert too (told datasets are
not theirs); other projects a 404. The
answer is the version as it is now; a retry answers the same and changes nothing; `latest` is refused (a retry would
withdraw the next one); a version building is a 409. Subscribed webhooks hear `dataset.version_withdrawn`.
"""

import hashlib
import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from labeling.models import AuditEvent, DatasetLine, DatasetRow, DatasetVersion, VersionStatus, WebhookDelivery
from labeling.services import webhooks
from labeling.services.api_keys import create_api_key
from labeling.services.datasets import build_version, create_dataset
from tests.conftest import Api, _member
from tests.helpers.concurrency import held_halfway, waiting_on_a_lock
from tests.helpers.labeling import label_outputs

BASE = "/api/v1/projects/support-bot/datasets/support-eval"
REASON = "Holds gold a lead overturned: the refund window is 30 days."


def withdraw(api, number, body=None):
    return api.post(f"{BASE}/versions/{number}/withdraw", {"reason": REASON} if body is None else body)


@pytest.fixture
def versions(project):
    label_outputs(project, 3)
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    first = build_version(dataset_id=dataset.pk)
    label_outputs(project, 2)
    return first, build_version(dataset_id=dataset.pk)


@pytest.fixture
def ci(client, project, lead):
    """A CI job's key, issued by a lead, with `read` and `datasets`."""
    return Api(client, create_api_key(project=project, name="ci", scopes=["read", "datasets"], created_by=lead).secret)


def test_a_datasets_key_a_lead_issued_withdraws_a_version_once(ci, project, lead, versions):
    _, second = versions
    endpoint = webhooks.create_endpoint(
        project=project, created_by=lead, url="https://hooks.example.com/in", events=["dataset.version_withdrawn"]
    ).endpoint

    response = withdraw(ci, 2)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["number"], body["status"], body["withdrawn_note"]) == (2, "withdrawn", REASON)
    assert body["withdrawn_by"] is None and body["withdrawn_by_key"] == project.api_keys.get(name="ci").prefix
    assert (body["sha256"], body["row_count"], body["files"]) == (second.sha256, 5, {})
    assert response["X-Dataset-Version"] == "2"
    gone = ci.get(f"{BASE}/versions/2/download")
    assert gone.status_code == 410 and REASON in gone.json()["errors"][0]["message"]
    assert ci.get(f"{BASE}/versions/latest")["X-Dataset-Version"] == "1"
    [audit] = AuditEvent.objects.filter(action="dataset.version_withdrawn")
    assert audit.actor is None and audit.details["api_key"] == body["withdrawn_by_key"]
    [delivery] = WebhookDelivery.objects.filter(endpoint=endpoint)
    data = json.loads(delivery.body)["data"]
    assert (data["version"]["number"], data["version"]["note"], data["latest_version"]) == (2, REASON, 1)
    assert data["version"]["sha256"] == second.sha256 and data["dataset"]["slug"] == "support-eval"

    again = withdraw(ci, 2, {"reason": "A retry with other words."})

    assert again.status_code == 200 and again.json() == body
    assert AuditEvent.objects.filter(action="dataset.version_withdrawn").count() == 1
    assert WebhookDelivery.objects.count() == 1


def test_the_withdrawal_answers_the_version_as_the_list_now_shows_it_questions_included(ci, versions):
    """The answer is the version as listed: with `questions` since the list has them (a client keeps it as `info`)."""
    before = ci.get(f"{BASE}/versions/2").json()

    body = withdraw(ci, 2).json()

    assert body["questions"] and body["questions"] == before["questions"]
    assert body == ci.get(f"{BASE}/versions").json()["results"][0] == ci.get(f"{BASE}/versions/2").json()


def test_a_signed_in_lead_withdraws_with_csrf(project, lead, versions):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(lead)
    assert strict.post(f"{BASE}/versions/2/withdraw", {"reason": REASON}).status_code == 403  # no CSRF token

    client = Client()
    client.force_login(lead)
    response = client.post(f"{BASE}/versions/2/withdraw", {"reason": REASON}, content_type="application/json")

    assert response.status_code == 200 and response.json()["withdrawn_by"] == "lena"


def test_who_may_not_withdraw(client, project, engineer, expert, versions, read_key, other_project):
    engineers_key = create_api_key(project=project, name="eng", scopes=["read", "datasets"], created_by=engineer)
    without_scope = create_api_key(project=project, name="reader", scopes=["read"], created_by=None)
    for key in (engineers_key, without_scope):
        refused = withdraw(Api(client, key.secret), 2)
        assert refused.status_code == 403, key.name
    assert "issued by someone who is not a lead" in withdraw(Api(client, engineers_key.secret), 2).content.decode()
    assert withdraw(Api(client, None), 2).status_code == 401
    client.force_login(engineer)
    refused = withdraw(Api(client, None), 2)
    assert refused.status_code == 403 and "leads and admins" in refused.json()["errors"][0]["message"]
    client.force_login(expert)  # knows the project: told why its datasets are not theirs
    refused = withdraw(Api(client, None), 2)
    assert refused.status_code == 403 and "open its datasets" in refused.json()["errors"][0]["message"]
    client.force_login(_member(other_project, "olga", "lead"))
    assert withdraw(Api(client, None), 2).status_code == 404
    theirs = create_api_key(project=other_project, name="theirs", scopes=["datasets"], created_by=None)
    assert withdraw(Api(client, theirs.secret), 2).status_code == 404

    assert set(DatasetVersion.objects.values_list("status", flat=True)) == {VersionStatus.READY}
    assert not AuditEvent.objects.filter(action="dataset.version_withdrawn").exists()


@pytest.mark.parametrize(
    ("number", "body", "status", "field"),
    [
        ("latest", None, 400, "version"),
        (2, {}, 400, "reason"),
        (2, {"reason": "  "}, 400, "reason"),
        (2, {"reason": 5}, 400, "reason"),
        (2, {"reason": "x" * 2001}, 400, "reason"),
        (2, {"reason": REASON, "note": "typo"}, 400, "note"),
        (7, None, 404, None),
        ("9999999999", None, 404, None),
    ],
)
def test_bad_requests_withdraw_nothing(ci, versions, number, body, status, field):
    response = withdraw(ci, number, body)

    assert response.status_code == status, response.content
    if field:
        assert response.json()["errors"][0]["field"] == field
    assert set(DatasetVersion.objects.values_list("status", flat=True)) == {VersionStatus.READY}


def test_a_version_still_building_is_a_409(ci, versions):
    first, _ = versions
    DatasetVersion.objects.create(dataset=first.dataset, number=3, status=VersionStatus.BUILDING)

    response = withdraw(ci, 3)

    assert response.status_code == 409 and "still being built" in response.json()["errors"][0]["message"]
    assert DatasetVersion.objects.get(number=3).status == VersionStatus.BUILDING


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_withdrawal_waits_for_a_build_in_flight_that_copies_the_versions_rows(project, lead, versions):
    """The next build copies v2's unchanged rows, pointing at v2's lines. Withdrawing v2 meanwhile waits for it, and
    then deletes only the lines no row points at: v3 keeps every line it copied, and its download is whole."""
    _, second = versions
    label_outputs(project, 2)  # new rows, so v3 is built (incrementally on v2)
    ci = Api(Client(), create_api_key(project=project, name="ci", scopes=["read", "datasets"], created_by=lead).secret)
    withdrawal = {}

    with held_halfway(lambda: build_version(dataset_id=second.dataset_id), DatasetLine._meta.db_table):
        thread, errors = waiting_on_a_lock(lambda: withdrawal.setdefault("response", withdraw(ci, 2)))
    thread.join(60)

    assert errors == [] and withdrawal["response"].status_code == 200
    third = DatasetVersion.objects.get(number=3)
    assert third.status == VersionStatus.READY and third.rows_copied == 5
    assert not DatasetRow.objects.filter(version=third).exclude(line_id__in=DatasetLine.objects.values("pk")).exists()
    download = ci.get(f"{BASE}/versions/3/download")
    assert hashlib.sha256(b"".join(download.streaming_content)).hexdigest() == third.sha256


def test_latest_once_every_version_is_withdrawn_says_so_and_to_build_one(ci, versions):
    """It said "This dataset has no ready version yet.", as for a dataset never built: a CI job whose versions an
    erasure withdrew was left to guess why `latest` was gone."""
    withdraw(ci, 2)
    withdraw(ci, 1)

    response = ci.get(f"{BASE}/versions/latest/download")

    assert response.status_code == 404
    assert response.json()["errors"][0]["message"] == (
        f"This dataset has no ready version: its newest, version 2, was withdrawn ({REASON}). Build a new one."
    )


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (
            VersionStatus.FAILED,
            "This dataset has no ready version: its newest, version 3, failed to build. Build again.",
        ),
        (
            VersionStatus.BUILDING,
            "This dataset has no ready version yet: version 3 is building. Ask again when ready.",
        ),
    ],
)
def test_latest_while_the_newest_failed_or_builds_after_withdrawn_ones_says_which(ci, versions, status, said):
    """It read "version 3 is failed"."""
    withdraw(ci, 2)
    withdraw(ci, 1)
    DatasetVersion.objects.create(dataset=versions[0].dataset, number=3, status=status)

    response = ci.get(f"{BASE}/versions/latest/download")

    assert response.status_code == 404
    assert response.json()["errors"][0]["message"] == said


def test_the_api_docs_try_it_out_body_is_a_real_reason_not_string(client, ci, versions):
    """/api/docs/ filled "Try it out" with `{"reason": "string"}`, and executing it withdrew the version with "string"
    as the note every later request for it is answered with."""
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    body = schema["paths"]["/api/v1/projects/{project_slug}/datasets/{dataset_slug}/versions/{version}/withdraw"][
        "post"
    ]
    [example] = body["requestBody"]["content"]["application/json"]["examples"].values()

    assert example["value"] == {"reason": "Gold answers of the refund items were wrong: rebuilt after adjudication"}
    response = withdraw(ci, 1, example["value"])
    assert response.status_code == 200, response.content
    assert response.json()["withdrawn_note"] == example["value"]["reason"]


@pytest.mark.parametrize("issuer", ["lead", "engineer"])
def test_a_keys_withdrawal_asks_its_issuers_role_once(client, project, versions, issuer, request):
    """The view asks who issued the key before any 400; the service it calls takes that answer, not a second query."""
    key = create_api_key(project=project, name="ci", scopes=["datasets"], created_by=request.getfixturevalue(issuer))

    with CaptureQueriesContext(connection) as queries:
        response = withdraw(Api(client, key.secret), 2)

    assert response.status_code == (200 if issuer == "lead" else 403)
    asked = [query["sql"] for query in queries if 'FROM "labeling_membership"' in query["sql"]]
    assert len(asked) == 1, asked
