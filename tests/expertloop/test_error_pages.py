"""Pages that answer errors look like the site's pages; under /api/ every unmatched URL answers the API's JSON."""

import pytest
from django.test import RequestFactory
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/nothing-here/", "/p/no-such-project/"])
def test_a_page_that_is_not_there_is_the_sites_404_page(client, expert, path):
    client.force_login(expert)

    response = client.get(path)

    assert response.status_code == 404
    html = response.content.decode()
    assert "<title>Page not found · expertloop</title>" in html
    assert 'class="topbar"' in html and "labeling/app.css" in html  # the site's layout and style
    assert 'href="/">Back to your projects</a>' in html


def test_the_500_page_is_the_sites_and_reads_nothing_from_the_database(rf: RequestFactory, django_assert_num_queries):
    """Rendered when anything failed, the database too: no request context, no query."""
    with django_assert_num_queries(0):
        response = server_error(rf.get("/p/x/"))

    assert response.status_code == 500
    html = response.content.decode()
    assert "<title>Server error · expertloop</title>" in html
    assert 'class="topbar"' in html and "labeling/app.css" in html


@pytest.mark.parametrize("path", ["/api/v1/end-users/", "/api/v1/nothing", "/api/v1/projects/a%20b/outputs"])
def test_an_unmatched_api_url_answers_the_apis_json_error(client, path):
    response = client.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    [error] = response.json()["errors"]
    assert error["message"].startswith("No API endpoint has this URL")


@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
@pytest.mark.parametrize("path", ["/api/", "/api/v1/", "/api/v1/nothing"])
def test_an_unmatched_api_url_points_to_the_docs_and_the_schema_both_served(client, settings, path, debug):
    """The 404 named only `/api/schema/`, a YAML file, to a person who typed `/api/` into a browser: it names the
    human docs too, and each path it names answers."""
    settings.DEBUG = debug
    [error] = client.get(path).json()["errors"]

    assert "see /api/docs/ for the documentation, or /api/schema/ (OpenAPI) for the paths" in error["message"]
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/schema/").status_code == 200


@pytest.mark.parametrize(
    ("path", "meant"),
    [
        ("/api/v1/outputs/", "/api/v1/outputs"),
        ("/api/v1/labels/", "/api/v1/labels"),
        ("/api/v1/projects/demo/datasets/", "/api/v1/projects/demo/datasets"),
    ],
)
def test_an_api_url_off_by_its_trailing_slash_names_the_endpoint_meant(client, path, meant):
    """`POST /api/v1/outputs/` is a 404: the answer says to drop the slash (or add it) rather than only that no
    endpoint has the URL."""
    response = client.post(path, {}, content_type="application/json")

    assert response.status_code == 404
    [error] = response.json()["errors"]
    assert error["message"].startswith("No API endpoint has this URL")
    assert f"Did you mean {meant}?" in error["message"]


def test_an_api_url_no_slash_mends_names_no_endpoint(client):
    [error] = client.get("/api/v1/nothing/").json()["errors"]

    assert "Did you mean" not in error["message"]


@pytest.mark.parametrize(
    ("path", "meant"), [("/api/v1/nothing", None), ("/api/v1/outputs/", "/api/v1/outputs"), ("/api/v1/", None)]
)
def test_with_debug_on_an_unmatched_api_url_still_answers_the_apis_json_error(client, settings, path, meant):
    """DEBUG (the demo) answers a URL no route matches with Django's HTML debug page and never calls handler404: an
    engineer trying the API there saw HTML, not the JSON 404 (and its "Did you mean") that production gives."""
    settings.DEBUG = True

    response = client.post(path, {}, content_type="application/json")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    [error] = response.json()["errors"]
    assert error["message"].startswith("No API endpoint has this URL")
    assert (f"Did you mean {meant}?" in error["message"]) if meant else ("Did you mean" not in error["message"])


def test_with_debug_on_a_page_that_is_not_there_is_still_djangos_debug_page(client, expert, settings):
    settings.DEBUG = True
    client.force_login(expert)

    response = client.get("/nothing-here/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "Using the URLconf defined in" in response.content.decode()  # the page that lists the patterns tried
