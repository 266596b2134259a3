"""A signed-in member reads `GET /api/v1/outputs` and its facets with `?project=<slug>`, as the explore page shows
them (experts only while the project lets them explore, and blind); writes and `/api/v1/key` stay a key's, and a
signed-in browser is told so."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import get_resolver

from api.callers import ProjectOfCaller
from api.parameters import KnownParametersOnly
from labeling.models import Output
from labeling.services.api_keys import create_api_key
from tests.conftest import Api
from tests.factories import OutputFactory

pytestmark = pytest.mark.django_db

OUTPUTS, FACETS = "/api/v1/outputs", "/api/v1/outputs/facets"


@pytest.fixture
def outputs(project, other_project):
    """Three outputs of ours an hour apart (out-2 the newest), and another project's."""
    start = datetime(2026, 11, 18, 9, tzinfo=UTC)
    mine = [
        OutputFactory(
            project=project, external_id=f"out-{n}", model="bot-1", occurred_at=start + n * timedelta(hours=1)
        )
        for n in range(3)
    ]
    OutputFactory(project=other_project, external_id="theirs", model="bot-1", occurred_at=start)
    return mine


def test_an_engineer_reads_the_outputs_and_their_facets_with_the_project_named(client, engineer, outputs, rubric):
    client.force_login(engineer)

    first = client.get(OUTPUTS, {"project": "support-bot", "model": "bot-1", "page_size": 2})
    assert first.status_code == 200, first.content
    assert [row["external_id"] for row in first.json()["results"]] == ["out-2", "out-1"]
    assert first.json()["total"] == 3
    # The next link keeps naming the project: the session follows it as it is.
    following = client.get(first.json()["next"])
    assert following.status_code == 200, following.content
    assert [row["external_id"] for row in following.json()["results"]] == ["out-0"]

    facets = client.get(FACETS, {"project": "support-bot", "model": "bot-1"})
    assert facets.status_code == 200, facets.content
    assert facets.json()["total"] == 3
    assert "gold" in [facet["parameter"] for facet in facets.json()["facets"]]


@pytest.mark.parametrize("path", [OUTPUTS, FACETS])
def test_signed_in_without_the_project_is_a_400_saying_to_name_it(client, engineer, outputs, path):
    client.force_login(engineer)

    response = client.get(path, {"model": "bot-1"})

    assert response.status_code == 400
    assert response.json()["errors"][0]["message"].startswith("Name the project: add `?project=<slug>`")


@pytest.mark.parametrize("path", [FACETS, "/api/v1/outputs/out-1"])
def test_an_expert_reads_them_blind_while_the_project_lets_experts_explore(client, expert, project, outputs, path):
    client.force_login(expert)

    assert client.get(path, {"project": "support-bot"}).status_code == 200
    for name, value in (("gold", "correct:yes"), ("theme", "2026-W47.1")):
        if path != FACETS:
            continue  # one output takes no filter
        refused = client.get(path, {"project": "support-bot", name: value})
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["field"] == name
        assert refused.json()["errors"][0]["message"].startswith("Experts label blind")

    project.experts_can_explore = False
    project.save(update_fields=["experts_can_explore"])
    closed = client.get(path, {"project": "support-bot"})
    assert closed.status_code == 403  # the explore page's refusal, with its reason
    assert closed.json()["errors"][0]["message"] == "This project's leads have not opened the explore page to experts."


def test_an_expert_does_not_page_through_every_output_as_the_export_would(client, expert, outputs):
    """The list pages through every output, as a script would: it is the export's (engineers, leads, admins), and an
    expert, who reads the same outputs a page at a time on the explore page, is told so."""
    client.force_login(expert)

    refused = client.get(OUTPUTS, {"project": "support-bot", "page_size": 200})

    assert refused.status_code == 403
    assert refused.json()["errors"][0]["message"].startswith(
        "Experts read outputs on the explore page, not in bulk over the API"
    )


def test_an_expert_gets_no_gold_facet(client, expert, outputs, rubric):
    client.force_login(expert)

    facets = client.get(FACETS, {"project": "support-bot"})

    assert facets.status_code == 200
    assert "gold" not in [facet["parameter"] for facet in facets.json()["facets"]]


@pytest.mark.parametrize("path", [OUTPUTS, FACETS, "/api/v1/outputs/out-1"])
def test_it_validates_ownership(client, outputs, outsider, path):
    """Another project's member hears 404, before the filter is read."""
    client.force_login(outsider)

    response = client.get(path, {"project": "support-bot", "min_chars": "ten"})

    assert response.status_code == 404
    assert response.json()["errors"][0]["message"] == "No such project."


def test_an_operator_who_is_not_a_member_reads_over_the_api_what_the_explore_page_shows_them(
    client, operator, outputs, rubric
):
    """One rule for the page and the API: the explore page, its facets and one output (gold included: an operator
    reads everything), not the list, which is the export's, as the page's export is refused them."""
    client.force_login(operator)

    assert client.get("/p/support-bot/explore/", {"model": "bot-1"}).status_code == 200
    facets = client.get(FACETS, {"project": "support-bot", "model": "bot-1"})
    assert facets.status_code == 200, facets.content
    assert facets.json()["total"] == 3
    assert "gold" in [facet["parameter"] for facet in facets.json()["facets"]]
    one = client.get("/api/v1/outputs/out-1", {"project": "support-bot", "include": "labels,gold"})
    assert one.status_code == 200, one.content
    assert one.json()["external_id"] == "out-1"

    assert client.get("/p/support-bot/explore/export.csv").status_code == 404
    listed = client.get(OUTPUTS, {"project": "support-bot"})
    assert listed.status_code == 403
    assert listed.json()["errors"][0]["message"].startswith("You read this project's outputs as an operator")


def test_a_key_may_name_its_own_project_and_no_other(client, project, outputs):
    api = Api(client, create_api_key(project=project, name="reader", scopes=["read"]).secret)

    assert api.get(f"{OUTPUTS}?project=support-bot").status_code == 200
    assert api.get(f"{OUTPUTS}?project=sql-assistant").status_code == 404
    assert api.get(f"{OUTPUTS}?project=").status_code == 200  # names none: the key's own, as without it


def test_a_signed_in_browser_asks_what_the_list_takes_without_being_told_to_send_a_key(client, engineer, outputs):
    client.force_login(engineer)

    described = client.options(OUTPUTS, {"project": "support-bot"})

    assert described.status_code == 200, described.content


def test_a_deactivated_accounts_session_is_told_what_anyone_without_credentials_is(client, engineer, outputs):
    client.force_login(engineer)
    engineer.is_active = False
    engineer.save(update_fields=["is_active"])

    response = client.post(OUTPUTS, {}, content_type="application/json")

    assert response.status_code == 401
    assert response.json()["errors"][0]["message"].startswith("No credentials were sent")


@pytest.mark.parametrize("enforce_csrf_checks", [False, True])
def test_a_signed_in_session_never_sends_outputs_and_is_told_to_use_a_key(engineer, project, enforce_csrf_checks):
    """Sending takes an `ingest` key: the session is not an authenticator of the POST at all (so CSRF never decides
    whether a write happens), and the 401 says why instead of "No credentials were sent"."""
    client = Client(enforce_csrf_checks=enforce_csrf_checks)
    client.force_login(engineer)

    body = {"outputs": [{"external_id": "x", "occurred_at": "2026-11-18T09:00:00Z", "output": "hi"}]}
    response = client.post(f"{OUTPUTS}?project=support-bot", body, content_type="application/json")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="expertloop"'
    assert response.json()["errors"][0]["message"].startswith(
        "This endpoint takes a project API key only, not a signed-in session"
    )
    assert not Output.objects.filter(external_id="x").exists()


def test_the_key_endpoint_tells_a_signed_in_browser_it_describes_a_key(client, engineer):
    client.force_login(engineer)

    response = client.get("/api/v1/key")

    assert response.status_code == 401
    message = response.json()["errors"][0]["message"]
    assert message.startswith("`/api/v1/key` describes the project API key a request carries")
    assert "/p/<project>/keys/" in message


def test_an_engineer_reads_one_output_with_its_labels_and_an_expert_its_routing_alone(
    client, engineer, expert, outputs
):
    client.force_login(engineer)
    url = "/api/v1/outputs/out-1"

    found = client.get(url, {"project": "support-bot", "include": "labels,gold"})
    assert found.status_code == 200, found.content
    assert found.json()["external_id"] == "out-1"
    assert client.get(url).status_code == 400  # no project named
    assert client.get("/api/v1/outputs/theirs", {"project": "support-bot"}).status_code == 404

    client.force_login(expert)
    assert client.get(url, {"project": "support-bot"}).status_code == 200
    blind = client.get(url, {"project": "support-bot", "include": "labels"})
    assert blind.status_code == 400
    assert blind.json()["errors"][0] == {
        "index": None,
        "field": "include",
        "message": "Experts label blind: they read an output's routing here, not its labels or gold.",
    }


@pytest.mark.postgres  # the count's 50 ms budget is PostgreSQL's
def test_a_sessions_list_query_count_does_not_grow_with_the_page(client, engineer, project, django_assert_num_queries):
    """Signed in, the list costs the key's queries less the key, plus the session, its user and the membership."""
    start = datetime(2026, 11, 18, 9, tzinfo=UTC)
    for n in range(5):
        OutputFactory(project=project, external_id=f"n-{n}", occurred_at=start + n * timedelta(minutes=1))
    client.force_login(engineer)
    for size in (1, 5):
        # session, user, membership (with its project), the page, and the count in its 50 ms budget (savepoint,
        # timeout set, count, timeout reset, release)
        with django_assert_num_queries(9):
            assert client.get(OUTPUTS, {"project": "support-bot", "page_size": size}).status_code == 200


def test_every_view_of_the_callers_project_asks_for_it_before_the_query_is_read():
    """`ProjectOfCaller` comes before `KnownParametersOnly` in each view's bases: the other way round, the latter's
    empty `check_access` wins and a stranger hears a 400 about the query instead of the 404."""
    views = {
        pattern.callback.cls
        for pattern in get_resolver("api.urls").url_patterns
        if issubclass(getattr(pattern.callback, "cls", object), ProjectOfCaller)
    }

    assert len(views) >= 10  # outputs, facets, one output, labels, metrics, datasets, redaction rules…
    for view in views:
        assert view.__mro__.index(ProjectOfCaller) < view.__mro__.index(KnownParametersOnly), view.__name__
