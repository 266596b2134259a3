import pytest

from tests.hostile_input_guard.guard import Part, run_guard

pytestmark = [pytest.mark.postgres, pytest.mark.django_db, pytest.mark.heavy]


@pytest.mark.timeout(600)  # minutes on a busy machine, past the suite's 180 s per-test limit
def test_the_api_answers_no_hostile_path_query_or_json_body_with_a_server_error(site):
    """Every API path and query parameter, form-encoded field and JSON body field: no hostile family is a 5xx."""
    run_guard(site, Part.API)
