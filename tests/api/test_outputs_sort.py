"""GET /api/v1/outputs?sort=…: the results newest first (the default), oldest first, slowest first (metadata
`latency_ms`) or longest first, walked page by page with the cursor; an unknown sort is a 400 naming the allowed
ones, and a cursor of one order does not page another."""

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from labeling.services.api_keys import create_api_key
from labeling.services.search_index import index_outputs
from tests.conftest import Api
from tests.factories import OutputFactory

pytestmark = [pytest.mark.django_db]

URL = "/api/v1/outputs"


def at(hour: int) -> datetime:
    return datetime(2026, 11, 10, hour, tzinfo=UTC)


# name: (hour, latency_ms, output). `b` and `c` share a moment, `c` and `d` a latency, `a` and `e` a length; `f` has
# no number for latency (a text), `g` no latency at all and an output never indexed (no length yet).
OUTPUTS = {
    "a": (1, 120, "12345"),
    "b": (2, 4000.5, "1234567890"),
    "c": (2, 900, "1"),
    "d": (3, 900, "1234567"),
    "e": (4, 1e20, "abcde"),
    "f": (5, "slow", "123"),
    "g": (6, None, "the longest of all, but never measured"),
}
ORDERS = {
    "newest": ["g", "f", "e", "d", "c", "b", "a"],
    "oldest": ["a", "b", "c", "d", "e", "f", "g"],
    "slowest": ["e", "b", "d", "c", "a", "g", "f"],  # ties by the later made first; no number: last
    "longest": ["b", "d", "e", "a", "f", "c", "g"],  # not measured yet: last
}


@pytest.fixture
def reader(client, project):
    made = {}
    for name, (hour, latency, text) in OUTPUTS.items():
        metadata = {} if latency is None else {"latency_ms": latency}
        made[name] = OutputFactory(project=project, external_id=name, occurred_at=at(hour), metadata=metadata,
                                   output=text)  # fmt: skip
    index_outputs(project_id=project.pk, output_ids=[output.pk for name, output in made.items() if name != "g"])
    return Api(client, create_api_key(project=project, name="reader", scopes=["read"]).secret)


def walked(api: Api, params: dict) -> list[str]:
    """Every page of the list with these parameters, two outputs a page, following `next`."""
    seen, url = [], f"{URL}?{urlencode({**params, 'page_size': 2})}"
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.json()
        seen += [output["external_id"] for output in response.json()["results"]]
        url = response.json()["next"]
    return seen


@pytest.mark.parametrize("sort", list(ORDERS))
def test_every_sort_walks_every_output_once_in_its_order(reader, sort):
    assert walked(reader, {"sort": sort}) == ORDERS[sort]


def test_no_sort_is_newest_first_and_the_next_link_keeps_the_sort(reader):
    assert walked(reader, {}) == ORDERS["newest"]
    following = reader.get(f"{URL}?sort=slowest&page_size=2").json()["next"]
    assert "sort=slowest" in following


def test_a_sort_narrows_nothing_with_a_filter(reader):
    assert walked(reader, {"sort": "slowest", "has_meta": "latency_ms"}) == ["e", "b", "d", "c", "a", "f"]


def test_an_unknown_sort_is_a_400_naming_the_allowed_ones(reader):
    response = reader.get(f"{URL}?sort=fastest")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "index": None,
            "field": "sort",
            "message": "'fastest' is not a sort. Use one of: newest, oldest, slowest, longest.",
        }
    ]


def test_a_cursor_of_one_order_is_refused_by_another(reader):
    following = reader.get(f"{URL}?sort=longest&page_size=2").json()["next"]
    response = reader.get(following.replace("sort=longest", "sort=slowest"))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "cursor"


def test_the_schema_lists_the_sorts(reader, client):
    schema = client.get("/api/schema/?format=json").json()
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/outputs"]["get"]["parameters"]}
    assert set(parameters["sort"]["schema"]["enum"]) == {"newest", "oldest", "slowest", "longest"}
