"""The hostile-input guard's four parts, in one module so that one xdist worker runs them all on one seeded demo and
one discovery (tests/hostile_input_guard/conftest.py). In a file each they went to three or four workers, each seeding
the demo and crawling every page as every persona again to send only its share: on CI's two cores, busy with three
workers throughout, spreading the parts gained no time and spent that work three times more."""

import pytest

from tests.hostile_input_guard.guard import Part, run_guard

pytestmark = [pytest.mark.postgres, pytest.mark.django_db, pytest.mark.heavy]


@pytest.mark.timeout(600)  # minutes on a busy machine, past the suite's 180 s per-test limit
def test_no_web_form_answers_a_hostile_path_or_field_with_a_server_error(site):
    """Every web page's path parameters and form fields (POST), as each persona: no hostile family is a 5xx."""
    run_guard(site, Part.WEB_POST)


@pytest.mark.timeout(600)
def test_no_web_page_answers_a_hostile_path_or_query_with_a_server_error(site):
    """Every web page's path parameters and query fields (GET), as each persona: no hostile family is a 5xx."""
    run_guard(site, Part.WEB_GET)


@pytest.mark.timeout(600)
def test_the_api_answers_no_hostile_path_query_or_json_body_with_a_server_error(site):
    """Every API path and query parameter, form-encoded field and JSON body field: no hostile family is a 5xx."""
    run_guard(site, Part.API)


@pytest.mark.timeout(600)
def test_the_admin_answers_no_hostile_path_query_or_form_with_a_server_error(site):
    """The admin's screens of this project's models: paths, queries and add forms; no hostile family is a 5xx."""
    run_guard(site, Part.ADMIN)
