"""An id past what a 64-bit integer holds (a typo, a fuzzer) is a 404 or a form error, never a 500: on SQLite,
which refuses such a number outright (OverflowError), as on PostgreSQL."""

import pytest

from labeling.models import Queue
from labeling.rules.ids import fits_an_id, id_from_text
from labeling.services.rubrics import publish_rubric
from tests.helpers.rubrics import QUESTIONS

pytestmark = [pytest.mark.django_db]

HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    "value, fits",
    [(1, True), (2**63 - 1, True), (2**63, False), (int(HUGE), False), (-(2**63), True), (-(2**63) - 1, False)],
)
def test_an_id_fits_a_64_bit_signed_integer(value, fits):
    assert fits_an_id(value) is fits


@pytest.mark.parametrize(
    "text, value",
    [
        (str(2**63 - 1), 2**63 - 1),
        (str(-(2**63)), -(2**63)),
        (str(2**63), None),
        (str(-(2**63) - 1), None),
        ("9" * 5000, None),  # past Python's 4,300-digit limit for int(): a ValueError before
        ("-" + "9" * 5000, None),
        ("0" * 5000 + "7", 7),
    ],
)
def test_an_id_from_text_is_read_without_int_on_thousands_of_digits(text, value):
    assert id_from_text(text) == value


def test_a_huge_item_id_is_a_404_on_the_labeling_screen_and_its_actions(client, expert, project):
    publish_rubric(project=project, questions=QUESTIONS)
    client.force_login(expert)

    responses = [
        client.get(f"/p/{project.slug}/items/{HUGE}/"),
        client.post(f"/p/{project.slug}/items/{HUGE}/", {"q-correct": "yes"}),
        client.post(f"/p/{project.slug}/items/{HUGE}/skip", {"reason": ""}),
        client.post(f"/p/{project.slug}/items/{HUGE}/flag", {"note": "odd"}),
        client.post(f"/p/{project.slug}/items/{HUGE}/comment", {"body": "odd"}),
    ]

    assert [response.status_code for response in responses] == [404] * len(responses)


@pytest.mark.parametrize("value", [HUGE, "9" * 5000, "²", "٣"])
def test_a_huge_or_not_ascii_eligible_expert_id_is_a_form_error(client, lead, project, value):
    """`"²".isdigit()` is true, yet `int("²")` raises: only ASCII digits are taken for an id."""
    client.force_login(lead)

    fields = {"name": "Huge", "slug": "huge", "sample_rate": "1", "overlap": "1", "priority": "0", "is_active": "on"}

    response = client.post(f"/p/{project.slug}/manage/queues/new", {**fields, "eligible_experts": [value]})

    assert response.status_code == 400
    assert "eligible_experts" in response.context["form"].errors
    assert not Queue.objects.exists()
