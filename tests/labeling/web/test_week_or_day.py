"""The meeting and dashboard pages read a week as the REST API does (`calendar.week_of_label_or_day`): an ISO week
label or a day in the week; anything else is a 4xx saying what is wrong, never a 500."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from labeling.models import Project

pytestmark = pytest.mark.django_db

# Weeks long over whenever the test runs, in a project made before them: no wall clock near a week boundary.
MADE = datetime(2026, 10, 1, 12, tzinfo=UTC)


@pytest.fixture
def lead_client(client, lead, project):
    Project.objects.filter(pk=project.pk).update(created_at=MADE)
    client.force_login(lead)
    return client


def meeting_url(label: str) -> str:
    return reverse("labeling:meeting-week", args=["support-bot", label])


def test_a_day_in_the_meeting_address_goes_to_its_weeks_page(lead_client):
    response = lead_client.get(meeting_url("2026-11-12"))  # a Thursday of 2026-W46

    assert response.status_code == 302 and response["Location"] == meeting_url("2026-W46")
    assert lead_client.get(response["Location"]).status_code == 200


def test_the_meeting_takes_week_as_a_label_or_a_day(lead_client):
    meeting = reverse("labeling:meeting", args=["support-bot"])

    assert lead_client.get(meeting, {"week": "2026-11-15"})["Location"] == meeting_url("2026-W46")  # its Sunday
    assert lead_client.get(meeting, {"week": "2026-W47"})["Location"] == meeting_url("2026-W47")


@pytest.mark.parametrize(
    ("week", "message"),
    [
        ("last tuesday", "is not a week or a day: write an ISO week, e.g. 2026-W48, or a date, e.g. 2026-11-26."),
        ("2026-02-30", "2026-02-30 is not a day of the calendar: the date does not exist."),
        ("2099-01-07", "The week 2099-W02 has not started yet."),
    ],
)
def test_the_meeting_refuses_a_week_that_is_no_week_with_a_400_saying_why(lead_client, week, message):
    response = lead_client.get(reverse("labeling:meeting", args=["support-bot"]), {"week": week})

    assert response.status_code == 400
    assert message in response.content.decode()


@pytest.mark.parametrize("label", ["last-tuesday", "2026-02-30", "2099-01-07"])
def test_a_meeting_address_naming_no_started_week_is_not_found(lead_client, label):
    assert lead_client.get(meeting_url(label)).status_code == 404


def test_the_dashboard_range_takes_days_in_its_weeks(lead_client):
    response = lead_client.get(
        reverse("labeling:dashboard", args=["support-bot"]), {"from": "2026-11-12", "to": "2026-11-23"}
    )

    assert response.status_code == 200
    assert (response.context["first_label"], response.context["last_label"]) == ("2026-W46", "2026-W48")
    assert response.context["filters"]["from"] == "2026-W46"  # the form shows the week it read


def test_the_dashboard_names_a_day_that_does_not_exist(lead_client):
    response = lead_client.get(reverse("labeling:dashboard", args=["support-bot"]), {"from": "2026-02-30"})

    assert response.status_code == 400
    error = response.context["errors"]["from"]
    assert error == "`from` (2026-02-30) is not a day of the calendar: the date does not exist."
