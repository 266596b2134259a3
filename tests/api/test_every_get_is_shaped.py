"""Every JSON answer of a GET the schema lists is shaped by it: no key it leaves out, no object or list it declares
as free-form (`unshaped`), and the answer validates. A client generated from the schema then types all it gets."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission

from labeling.models import week_label
from labeling.rules import calendar
from labeling.services.cycles import close_week
from labeling.services.datasets import build_version, create_dataset
from labeling.services.operator_tokens import issue_operator_token
from labeling.services.redaction import save_rule_set
from tests.api.test_schema_matches_responses import DATA_KEYED, answer_shape, problems, unshaped
from tests.factories import UserFactory
from tests.helpers.labeling import TIE, label_outputs
from tests.helpers.reports import flagged_item

# Every kind of answer (tests/helpers/rubrics.py): gold by unanimity, median and a list of the experts' texts.
EVERY_KIND = (
    {"correct": True, "helpful": 4, "tone": "friendly", "issues": ["long"], "critique": "Too long.", "fix": "Friday."},
    {"correct": True, "helpful": 5, "tone": "friendly", "issues": ["long"], "critique": "Wordy.", "fix": "On Friday."},
)
DATASET = "/api/v1/projects/support-bot/datasets/support-eval"

# The GETs answered with a file, not JSON: the label export (JSONL or CSV) and a version's download (JSONL, CSV,
# Parquet or a zip); their headers and statuses are checked by test_schema_matches_responses.
FILES = {"/api/v1/labels", "/api/v1/projects/{project_slug}/datasets/{dataset_slug}/versions/{version}/download"}


@pytest.fixture
def schema(client):
    return client.get("/api/schema/", HTTP_ACCEPT="application/json").json()


@pytest.fixture
def seeded(clear_of_week_start, project, rubric, other_expert):
    """A week of every kind of answer, a tie, a flag, feedback, redaction rules and two versions of a dataset, closed
    (metrics and the frozen report), then one more labeled output in the next version. The clock is a day from a week
    start: on the wall clock a week starting between reading it and labeling left the closed week's report empty."""
    week = calendar.current_week(project)
    flagged_item(project, rubric, other_expert, note="Refunds take 30 days", comment="I marked it incorrect")
    label_outputs(project, 3, answers=EVERY_KIND, end_user_id="user-1")
    label_outputs(project, 1, answers=TIE, end_user_id="user-2")
    save_rule_set(project=project, builtins=["email"], custom=[{"name": "order", "pattern": r"ORD-\d+"}],
                  phone_region="US")  # fmt: skip
    dataset = create_dataset(project=project, spec={"name": "Support eval", "only_resolved": False})
    build_version(dataset_id=dataset.pk)
    close_week(project_id=project.pk, week=week, now=calendar.week_end(project, week) + timedelta(minutes=1))
    label_outputs(project, 1, answers=EVERY_KIND)
    build_version(dataset_id=dataset.pk)
    return week_label(week)


@pytest.fixture
def operator_token(db):
    operator = UserFactory(username="opal")
    operator.user_permissions.add(Permission.objects.get(codename="operate_all_projects"))
    return issue_operator_token(user=operator, name="script").secret


def urls(week: str) -> dict[str, list[str]]:
    """The URLs walked for each GET path of the schema: its parameters filled from the seeded data."""
    return {
        "/api/v1/key": ["/api/v1/key"],
        "/api/v1/outputs": ["/api/v1/outputs"],
        "/api/v1/outputs/{external_id}": ["/api/v1/outputs/out-00001?include=labels,gold",
                                          "/api/v1/outputs/out-00004?include=labels,gold"],
        "/api/v1/outputs/facets": ["/api/v1/outputs/facets"],
        "/api/v1/rubric": ["/api/v1/rubric"],
        "/api/v1/queues": ["/api/v1/queues"],
        "/api/v1/redaction-rules": ["/api/v1/redaction-rules"],
        "/api/v1/metrics/quality": ["/api/v1/metrics/quality"],
        "/api/v1/metrics/agreement": ["/api/v1/metrics/agreement"],
        "/api/v1/metrics/throughput": ["/api/v1/metrics/throughput"],
        "/api/v1/metrics/retention": ["/api/v1/metrics/retention"],
        "/api/v1/metrics/changes": [f"/api/v1/metrics/changes?week={week}"],
        "/api/v1/cycles/{week}/report": [f"/api/v1/cycles/{week}/report"],
        "/api/v1/platform/usage": ["/api/v1/platform/usage"],
        "/api/v1/projects/{project_slug}/datasets": ["/api/v1/projects/support-bot/datasets"],
        "/api/v1/projects/{project_slug}/datasets/{dataset_slug}": [DATASET],
        "/api/v1/projects/{project_slug}/datasets/{dataset_slug}/diff": [f"{DATASET}/diff?from=1&to=latest"],
        "/api/v1/projects/{project_slug}/datasets/{dataset_slug}/versions": [f"{DATASET}/versions"],
        "/api/v1/projects/{project_slug}/datasets/{dataset_slug}/versions/{version}": [f"{DATASET}/versions/1"],
        "/api/v1/projects/{project_slug}/datasets/{dataset_slug}/versions/{version}/rows": [
            f"{DATASET}/versions/1/rows", f"{DATASET}/versions/latest/rows"
        ],
    }  # fmt: skip


def test_every_json_get_of_the_schema_answers_only_what_it_declares(client, schema, seeded, full_key, operator_token):
    """`answers` of a label, a gold answer and a dataset row's annotation were free-form objects: a client generated
    from the schema had no type for an expert's answers."""
    walked = urls(seeded)
    gets = {path for path, operations in schema["paths"].items() if path.startswith("/api/v1/") and "get" in operations}
    assert set(walked) == gets - FILES  # a new GET is walked here too

    found = {}
    for path, addresses in walked.items():
        secret = operator_token if path.startswith("/api/v1/platform/") else full_key.secret
        for url in addresses:
            response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {secret}")
            if response.status_code != 200:
                found[url] = [f"{response.status_code}: {response.content[:300]!r}"]
                continue
            body = response.json()
            found[url] = unshaped(schema, answer_shape(schema, path), body) + problems(schema, path, body)
    assert {url: each for url, each in found.items() if each} == {}


def free_form(schema: dict, node: dict, at: str, seen: frozenset[str] = frozenset()) -> list[str]:
    """The places under `node` the schema leaves untyped (an object with neither properties nor typed
    additionalProperties, a list without items, a value of any type), but under DATA_KEYED keys."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return [] if name in seen else free_form(schema, schema["components"]["schemas"][name], at, seen | {name})
    found = []
    if not set(node) - {"description", "title", "readOnly", "format"}:
        found.append(f"{at}: any value")
    typed = node.get("additionalProperties")
    if (node.get("type") == "object" or "properties" in node) and not node.get("properties") and not typed:
        found.append(f"{at}: a free-form object")
    if node.get("type") == "array" and not node.get("items"):
        found.append(f"{at}: a free-form list")
    for name, each in node.get("properties", {}).items():
        found += free_form(schema, each, f"{at}.{name}", seen) if name not in DATA_KEYED else []
    if isinstance(typed, dict) and typed:
        found += free_form(schema, typed, f"{at}.*", seen)
    if isinstance(node.get("items"), dict):
        found += free_form(schema, node["items"], f"{at}[]", seen)
    for combinator in ("allOf", "oneOf", "anyOf"):
        for branch in node.get(combinator, []):
            found += free_form(schema, branch, at, seen)
    return found


def test_no_json_get_declares_a_free_form_part_even_where_the_seeded_data_is_empty(schema):
    """The walk above sees only what the data fills (this week has no changes, the diff nothing changed): the
    schema itself leaves no part of a JSON answer untyped."""
    found = [
        problem
        for path, operations in schema["paths"].items()
        if path.startswith("/api/v1/") and "get" in operations and path not in FILES
        for problem in free_form(schema, answer_shape(schema, path), path)
    ]

    assert found == []
