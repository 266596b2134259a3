"""The project's annotation schema over REST: its rubric (current version, questions, older versions) and its
queues. Engineers integrating over the API had learnt question keys only from 400 messages."""

import pytest

from labeling.models import Item, ItemStatus, Queue, Rubric
from labeling.services.rubrics import publish_rubric
from tests.conftest import Api, _member
from tests.factories import OutputFactory
from tests.helpers.rubrics import QUESTIONS

RUBRIC = "/api/v1/rubric"
QUEUES = "/api/v1/queues"
TOPIC = {"key": "topic", "kind": "choice", "prompt": "What is it about?", "options": ["billing", "shipping"]}


@pytest.fixture
def reader(client, read_key):
    return Api(client, read_key.secret)


@pytest.fixture
def rubrics(project):
    """Version 1 with a `topic` question, version 2 (current) without it and with guidelines."""
    first = publish_rubric(project=project, questions=[*QUESTIONS, TOPIC])
    second = publish_rubric(project=project, questions=QUESTIONS, guidelines="Be *fair*.")
    return first, second


@pytest.fixture
def queues(project):
    sample = Queue.objects.create(project=project, slug="sample", name="Sample", overlap=2, weekly_quota=50)
    complaints = Queue.objects.create(project=project, slug="complaints", name="Complaints", priority=5)
    paused = Queue.objects.create(project=project, slug="old", name="Old", is_active=False)
    eligible = _member(project, "erin", "expert")
    complaints.eligible_experts.add(eligible)
    for status in [ItemStatus.OPEN, ItemStatus.OPEN, ItemStatus.COMPLETE]:
        output = OutputFactory(project=project)
        Item.objects.create(project=project, queue=sample, output=output, week="2026-11-16", overlap=2, status=status)
    Item.objects.create(
        project=project, queue=complaints, output=OutputFactory(project=project), week="2026-11-16", overlap=1
    )
    return sample, complaints, paused


def test_the_rubric_is_the_current_version_with_every_field_of_its_questions(reader, rubrics):
    first, second = rubrics

    response = reader.get(RUBRIC)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["project"], body["version"], body["guidelines"]) == ("support-bot", 2, "Be *fair*.")
    assert body["published_at"] == second.created_at.isoformat().replace("+00:00", "Z")
    assert [question["key"] for question in body["questions"]] == [question["key"] for question in QUESTIONS]
    correct, helpful, tone = body["questions"][:3]
    # Defaults the stored form leaves out are spelt out, so a client needs no knowledge of them.
    assert correct == {
        "key": "correct", "kind": "binary", "prompt": "Is the answer correct?", "required": True, "help": "",
        "options": None, "scale": None,
    }  # fmt: skip
    assert (helpful["scale"], helpful["required"]) == ([1, 5], False)
    assert tone["options"] == ["friendly", "curt", "rude"]
    assert body["versions"] == [
        {"version": 2, "published_at": body["published_at"]},
        {"version": 1, "published_at": first.created_at.isoformat().replace("+00:00", "Z")},
    ]


def test_a_version_stored_under_looser_rules_is_read_as_it_was_stored(reader, rubrics):
    """The questions were checked when they were published; reading them checks nothing again. A version published
    before a rule was tightened (a prompt of 600 characters, a field since dropped) is answered, not a server error."""
    first, _ = rubrics
    stored = [{**QUESTIONS[0], "prompt": "Is it correct? " * 40, "placeholder": "yes/no"}, *first.questions[1:]]
    Rubric.objects.filter(pk=first.pk).update(questions=stored)

    response = reader.get(f"{RUBRIC}?version=1")

    assert response.status_code == 200, response.content
    correct = response.json()["questions"][0]
    assert correct["prompt"] == "Is it correct? " * 40
    assert (correct["required"], correct["help"], correct["options"]) == (True, "", None)
    assert "placeholder" not in correct


def test_an_older_version_is_answered_by_number(reader, rubrics):
    body = reader.get(f"{RUBRIC}?version=1").json()

    assert body["version"] == 1
    assert "topic" in [question["key"] for question in body["questions"]]
    assert [version["version"] for version in body["versions"]] == [2, 1]


def test_a_version_that_does_not_exist_is_a_404_listing_those_that_do(reader, rubrics):
    response = reader.get(f"{RUBRIC}?version=3")

    assert response.status_code == 404, response.content
    assert response.json()["errors"][0]["message"] == "No rubric version 3: the versions are 2, 1."


# `1.0`, ` 3`, `3 `, `+3` and a fullwidth 3 were read as versions 1 and 3 (DRF's IntegerField takes them).
@pytest.mark.parametrize(
    "version",
    ["zzz", "latest", "0", "-2", "1.5", "99999999999", "9" * 1001, "1.0", "%203", "3%20", "%2B3", "%EF%BC%93"],
)
def test_a_malformed_version_is_a_400_naming_it_and_what_it_takes(reader, rubrics, version):
    """Not DRF's bare "A valid integer is required.": what a version is, with an example."""
    response = reader.get(f"{RUBRIC}?version={version}")

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["field"], error["message"]) == (
        "version",
        "Use a published version's number, a whole number such as 3 (`versions` lists them), or leave `version` out "
        "for the current one.",
    )


def test_a_project_without_a_rubric_is_a_404_saying_so(reader, project):
    response = reader.get(RUBRIC)

    assert response.status_code == 404
    assert "No rubric" in response.json()["errors"][0]["message"]


def test_the_queues_with_their_settings_and_open_items(reader, queues):
    response = reader.get(QUEUES)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["project"] == "support-bot"
    assert body["results"] == [
        {"slug": "complaints", "name": "Complaints", "active": True, "priority": 5, "overlap": 1,
         "weekly_quota": None, "items_open": 1},
        {"slug": "old", "name": "Old", "active": False, "priority": 0, "overlap": 1, "weekly_quota": None,
         "items_open": 0},
        {"slug": "sample", "name": "Sample", "active": True, "priority": 0, "overlap": 2, "weekly_quota": 50,
         "items_open": 2},
    ]  # fmt: skip
    assert b"erin" not in response.content  # no people's names


@pytest.mark.parametrize("path", [RUBRIC, QUEUES])
def test_it_validates_ownership(client, rubrics, queues, other_project, other_project_key, path):
    """Project B's key and members see B's (empty) rubric and queues, and are told A does not exist."""
    Queue.objects.create(project=other_project, slug="sql-sample", name="SQL sample")
    other = Api(client, other_project_key.secret)

    if path == QUEUES:
        assert [queue["slug"] for queue in other.get(path).json()["results"]] == ["sql-sample"]
    else:
        assert other.get(path).status_code == 404  # B has no rubric
    assert other.get(f"{path}?project=support-bot").status_code == 404
    client.force_login(_member(other_project, "otto", "lead"))
    response = client.get(f"{path}?project=support-bot")
    assert response.status_code == 404
    assert b"complaints" not in response.content and b"correct" not in response.content


@pytest.mark.parametrize("role", ["expert", "lead", "engineer", "admin"])
@pytest.mark.parametrize("path", [RUBRIC, QUEUES])
def test_a_signed_in_member_reads_with_the_project_in_the_query(client, rubrics, queues, project, role, path):
    client.force_login(_member(project, f"{role}-1", role))

    response = client.get(f"{path}?project=support-bot")

    assert response.status_code == 200, response.content
    assert response.json()["project"] == "support-bot"
    assert client.get(path).status_code == 400  # a session names the project


@pytest.mark.parametrize("path", [RUBRIC, QUEUES])
def test_no_credentials_is_a_401_and_a_key_without_the_read_scope_a_403(client, rubrics, ingest_key, path):
    assert client.get(f"{path}?project=support-bot").status_code == 401
    response = Api(client, ingest_key.secret).get(path)
    assert response.status_code == 403
    assert "read" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("path", [RUBRIC, QUEUES])
def test_an_unknown_parameter_is_a_400_naming_it(reader, rubrics, path):
    response = reader.get(f"{path}?verison=1")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "verison"


@pytest.mark.parametrize("path", [RUBRIC, f"{RUBRIC}?version=1", QUEUES])
def test_each_read_takes_two_queries_however_many_rows(
    reader, project, rubrics, queues, path, django_assert_num_queries
):
    for _ in range(3):
        publish_rubric(project=project, questions=QUESTIONS)
    for index in range(5):
        Queue.objects.create(project=project, slug=f"extra-{index}", name=f"Extra {index}")
    reader.get(path)  # the key's last use is written once a minute, not counted here

    with django_assert_num_queries(2):  # key, rows
        response = reader.get(path)

    assert response.status_code == 200
    assert Rubric.objects.filter(project=project).count() == 5
