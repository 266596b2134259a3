import pytest

from tests.hostile_input_guard.guard import Part, run_guard

pytestmark = [pytest.mark.postgres, pytest.mark.django_db, pytest.mark.heavy]


@pytest.mark.timeout(600)  # minutes on a busy machine, past the suite's 180 s per-test limit
def test_no_web_form_answers_a_hostile_path_or_field_with_a_server_error(site):
    """Every web page's path parameters and form fields (POST), as each persona: no hostile family is a 5xx."""
    run_guard(site, Part.WEB_POST)
