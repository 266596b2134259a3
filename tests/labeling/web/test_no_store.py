"""Pages and API responses that show outputs and labels tell browsers and proxies not to keep a copy."""

from django.test import Client

from labeling.models import Queue
from labeling.services.assignment import next_item
from labeling.services.datasets import build_version, create_dataset
from labeling.services.routing import route_outputs
from tests.conftest import Api
from tests.factories import OutputFactory
from tests.helpers.labeling import label_outputs

DATASET = "/api/v1/projects/support-bot/datasets/support-eval"


def test_pages_and_api_responses_that_show_outputs_say_no_store(client, project, lead, expert, read_key):
    [labeled] = label_outputs(project, 1)
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    build_version(dataset_id=dataset.pk)
    fresh = OutputFactory(project=project, output="Your refund was sent on Monday.")
    route_outputs(project_id=project.pk, output_ids=[fresh.pk])
    held = next_item(expert=expert, queue=Queue.objects.get(project=project, slug="sample"))
    client.force_login(lead)
    experts_browser = Client()
    experts_browser.force_login(expert)
    reader = Api(Client(), read_key.secret)
    week = client.get("/p/support-bot/meeting/").headers["Location"]

    responses = {
        "labeling screen": experts_browser.get(f"/p/support-bot/items/{held.pk}/"),
        "meeting page": client.get(week),
        "adjudication": client.get("/p/support-bot/manage/adjudication/"),
        "dashboard": client.get("/p/support-bot/dashboard/"),
        "datasets": client.get("/p/support-bot/datasets/support-eval/"),
        "expert progress": client.get("/p/support-bot/manage/experts/"),
        "API output": reader.get(f"/api/v1/outputs/{labeled.output.external_id}"),
        "API rows": reader.get(f"{DATASET}/versions/1/rows"),
        "API download": reader.get(f"{DATASET}/versions/1/download"),
    }

    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 200)
    assert {name: r.headers["Cache-Control"] for name, r in responses.items()} == dict.fromkeys(responses, "no-store")
    assert "refund was sent" in responses["labeling screen"].content.decode()


def test_a_response_that_sets_its_own_cache_control_keeps_it(client):
    stylesheet = client.get("/static/labeling/app.css")
    login = client.get("/login/")

    assert stylesheet.status_code == 200 and "no-store" not in stylesheet.headers["Cache-Control"]
    assert login.headers["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
