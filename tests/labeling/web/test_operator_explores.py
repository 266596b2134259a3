"""An operator who is also one of a project's experts explores it as an operator, as they read its members, keys,
datasets and alerts (`rules.access.read_project`, `sees_alerts`): the explore page stays open to them when the project
keeps its experts out, and shows what it shows an operator (gold included), on the web and over the API alike.
Becoming an expert takes nothing from an operator; the export stays the engineers', leads' and admins'."""

from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils.html import escape

from labeling.rules.access import EXPLORE_REFUSED, OPERATOR_EXPORT_REFUSED
from tests.helpers.labeling import label_outputs

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed(project, lead, rubric):
    """Experts kept out of explore; two outputs whose gold the lead's labels decided (pass)."""
    project.experts_can_explore = False
    project.save(update_fields=["experts_can_explore"])
    label_outputs(project, 2, experts=[lead], answers=({"correct": True, "helpful": 4},))
    return project


def make_operator(user):
    user.user_permissions.add(Permission.objects.get(codename="operate_all_projects"))
    return user


def explore_pages(project) -> list[str]:
    return [
        reverse("labeling:explore", args=[project.slug]),
        reverse("labeling:explore-summary", args=[project.slug]),
        reverse("labeling:explore-output", args=[project.slug])
        + "?"
        + urlencode({"id": project.outputs.order_by("pk").first().external_id}),
    ]


def test_an_operator_who_is_also_an_expert_explores_as_an_operator(client, closed, expert):
    client.force_login(make_operator(expert))

    for page in explore_pages(closed):
        assert client.get(page).status_code == 200, page
    explore = reverse("labeling:explore", args=[closed.slug])
    assert "gold: pass" in client.get(explore).content.decode()  # not blind, as an operator reads it
    assert client.get(explore + "?gold=correct:true").status_code == 200
    assert 'id="explore-link"' in client.get(reverse("labeling:project", args=[closed.slug])).content.decode()


def test_the_same_expert_without_the_permission_is_kept_out(client, closed, expert):
    client.force_login(expert)

    refused = client.get(reverse("labeling:explore", args=[closed.slug]))

    assert refused.status_code == 404 and escape(EXPLORE_REFUSED) in refused.content.decode()
    assert 'id="explore-link"' not in client.get(reverse("labeling:project", args=[closed.slug])).content.decode()


def test_an_operator_who_is_also_an_expert_reads_outputs_over_the_api_as_on_the_page(client, closed, expert):
    client.force_login(make_operator(expert))
    one = closed.outputs.order_by("pk").first()

    facets = client.get("/api/v1/outputs/facets", {"project": closed.slug})
    detail = client.get(f"/api/v1/outputs/{one.external_id}", {"project": closed.slug, "include": "gold"})

    assert (facets.status_code, detail.status_code) == (200, 200), detail.content  # not blind: gold included
    assert detail.json()["items"][0]["gold"]
    listing = client.get("/api/v1/outputs", {"project": closed.slug})
    assert listing.status_code == 403 and listing.json()["errors"][0]["message"] == OPERATOR_EXPORT_REFUSED


def test_an_operator_who_is_also_an_expert_is_refused_the_export_as_on_the_api(client, closed, expert):
    client.force_login(make_operator(expert))

    refused = client.get(reverse("labeling:explore-export", args=[closed.slug, "csv"]))

    assert refused.status_code == 404 and escape(OPERATOR_EXPORT_REFUSED) in refused.content.decode()
