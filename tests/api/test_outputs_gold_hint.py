"""`gold=fail` (the explore menu's word, without its question) is refused with the form that says it, naming the
project's verdict question: on the API, on the explore page, and by what reads its filter (export, add, new queue)."""

import pytest
from django.urls import reverse

from labeling.services.api_keys import create_api_key
from tests.conftest import Api

pytestmark = [pytest.mark.django_db]


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("fail", "did you mean gold=correct:fail?"),
        ("Pass", "did you mean gold=correct:Pass?"),
        ("false", "did you mean gold=correct:false?"),
        ("great", "as in gold=correct:fail."),
    ],
)
def test_a_gold_answer_without_its_question_suggests_the_verdict_question(client, project, rubric, value, hint):
    api = Api(client, create_api_key(project=project, name="reader", scopes=["read"]).secret)
    for path in ("/api/v1/outputs", "/api/v1/outputs/facets"):
        response = api.get(f"{path}?gold={value}")
        assert response.status_code == 400
        (error,) = response.json()["errors"]
        assert error["field"] == "gold"
        assert error["message"].startswith(f"{value!r} is not `key:value`. A gold answer names its question")
        assert hint in error["message"]


def test_the_explore_page_suggests_it_too_and_a_project_without_a_rubric_says_only_the_form(client, lead, project):
    client.force_login(lead)
    url = reverse("labeling:explore", args=[project.slug]) + "?gold=fail"
    page = client.get(url)
    assert page.status_code == 400
    assert "is not `key:value`." in page.content.decode() and "did you mean" not in page.content.decode()


def test_the_explore_page_suggests_the_verdict_question(client, lead, project, rubric):
    client.force_login(lead)
    page = client.get(reverse("labeling:explore", args=[project.slug]) + "?gold=fail")
    assert page.status_code == 400
    assert "did you mean gold=correct:fail?" in page.content.decode()


def test_the_explore_pages_export_suggests_it_as_the_api_does(client, engineer, project, rubric):
    """The export reads the filter by the same rule as the page and the API: not a plainer refusal of `gold=fail`."""
    client.force_login(engineer)
    response = client.get(reverse("labeling:explore-export", args=[project.slug, "csv"]) + "?gold=fail")
    assert response.status_code == 400
    assert "did you mean gold=correct:fail?" in response.content.decode()


def test_adding_all_results_of_a_hand_typed_filter_suggests_it_too(client, lead, project, rubric):
    client.force_login(lead)
    response = client.post(
        reverse("labeling:explore-add", args=[project.slug]), {"filter": "gold=fail", "queue": "x", "all": "1"}
    )
    assert response.status_code == 400
    assert "did you mean gold=correct:fail?" in response.content.decode()


def test_a_new_queue_made_from_a_hand_typed_filter_suggests_it_too(client, lead, project, rubric):
    client.force_login(lead)
    response = client.get(reverse("labeling:queue-create", args=[project.slug]), {"explore": "gold=fail"})
    assert response.status_code == 400
    assert "did you mean gold=correct:fail?" in response.content.decode()
