"""Signed in, every endpoint a role does not open refuses a member of the project (or an operator) one way: a 403
with the reason, the same reason the page of the same data gives (tests/labeling/web/test_role_refusals.py); anyone
else hears 404 "No such project.", which tells nothing. Walked here endpoint by endpoint."""

import pytest

from labeling.rules.access import (
    DATASETS_REFUSED,
    EXPLORE_REFUSED,
    LABELS_REFUSED,
    LISTING_REFUSED,
    OPERATOR_EXPORT_REFUSED,
    OPERATOR_NOT_MEMBER,
    PLATFORM_REFUSED,
    REDACTION_RULES_REFUSED,
    WITHDRAW_VERSION_REFUSED,
)
from labeling.services.datasets import build_version, create_dataset
from tests.helpers.labeling import label_outputs

pytestmark = pytest.mark.django_db

DATASET = "/api/v1/projects/support-bot/datasets/support-eval"


@pytest.fixture
def dataset(project, lead):
    """A dataset with a ready version v1."""
    label_outputs(project, 2)
    built = create_dataset(project=project, spec={"name": "Support eval"}, actor=lead)
    build_version(dataset_id=built.pk)
    return built


# (who knows the project, experts may explore, method, address, what they are told)
REFUSALS = [
    ("expert", False, "get", "/api/v1/outputs/facets?project=support-bot", EXPLORE_REFUSED),
    ("expert", False, "get", "/api/v1/outputs/out-00000?project=support-bot", EXPLORE_REFUSED),
    ("expert", True, "get", "/api/v1/outputs?project=support-bot", LISTING_REFUSED),
    ("operator", True, "get", "/api/v1/outputs?project=support-bot", OPERATOR_EXPORT_REFUSED),
    ("expert", True, "get", "/api/v1/projects/support-bot/datasets", DATASETS_REFUSED),
    ("expert", True, "get", f"{DATASET}/versions", DATASETS_REFUSED),
    ("expert", True, "get", f"{DATASET}/versions/1/download", DATASETS_REFUSED),
    ("expert", True, "post", f"{DATASET}/versions/1/withdraw", DATASETS_REFUSED),
    ("engineer", True, "post", f"{DATASET}/versions/1/withdraw", WITHDRAW_VERSION_REFUSED),
    ("expert", True, "get", "/api/v1/labels?project=support-bot", LABELS_REFUSED),
    ("engineer", True, "get", "/api/v1/redaction-rules?project=support-bot", REDACTION_RULES_REFUSED),
    ("operator", True, "get", f"{DATASET}/diff", OPERATOR_NOT_MEMBER),
    ("operator", True, "get", f"{DATASET}/versions/1/rows", OPERATOR_NOT_MEMBER),
    ("operator", True, "post", "/api/v1/projects/support-bot/datasets", OPERATOR_NOT_MEMBER),
    ("operator", True, "post", f"{DATASET}/build", OPERATOR_NOT_MEMBER),
    ("operator", True, "post", f"{DATASET}/versions/1/withdraw", OPERATOR_NOT_MEMBER),
    # the lead's screens of the same data (the rubric's, the queues') tell an operator so
    ("operator", True, "get", "/api/v1/rubric?project=support-bot", OPERATOR_NOT_MEMBER),
    ("operator", True, "get", "/api/v1/queues?project=support-bot", OPERATOR_NOT_MEMBER),
]


@pytest.mark.parametrize(
    ("persona", "may_explore", "method", "path", "reason"), REFUSALS, ids=[f"{r[0]} {r[3]}" for r in REFUSALS]
)
def test_a_role_refused_gets_a_403_with_the_reason_and_an_outsider_a_404(
    client, project, dataset, persona, may_explore, method, path, reason, request
):
    project.experts_can_explore = may_explore
    project.save(update_fields=["experts_can_explore"])
    client.force_login(request.getfixturevalue(persona))
    body = {"reason": "Bad gold."} if method == "post" else None

    refused = getattr(client, method)(path, body, content_type="application/json")

    assert refused.status_code == 403, refused.content
    assert refused.json()["errors"][0]["message"] == reason

    client.force_login(request.getfixturevalue("outsider"))
    stranger = getattr(client, method)(path, body, content_type="application/json")
    assert stranger.status_code == 404
    assert stranger.json()["errors"][0]["message"] == "No such project."


@pytest.mark.parametrize(
    "path",
    ["/datasets", "/datasets/support-eval", "/datasets/support-eval/versions", "/datasets/support-eval/versions/1"],
)
def test_an_operator_reads_over_the_api_what_the_datasets_pages_show_them(
    client, project, dataset, operator, lead, path
):
    """The datasets list, a dataset (its definition and build state) and its versions are on the pages an operator who
    is not a member reads (labeling/web/dataset_views.py): the API answers them the same as a member."""
    url = f"/api/v1/projects/support-bot{path}"
    client.force_login(lead)
    members = client.get(url)
    client.force_login(operator)

    read = client.get(url)

    assert members.status_code == 200
    assert read.status_code == 200, read.content
    assert read.json() == members.json()


@pytest.mark.parametrize("persona", ["lead", "expert", "outsider"])
def test_a_signed_in_non_operator_hears_the_platform_pages_reason_from_the_usage_api(client, request, persona):
    client.force_login(request.getfixturevalue(persona))

    refused = client.get("/api/v1/platform/usage")

    assert refused.status_code == 403
    assert refused.json()["errors"][0]["message"] == PLATFORM_REFUSED
