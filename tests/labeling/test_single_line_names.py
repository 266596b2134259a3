"""A name (of a project, queue, dataset, saved view, API key or operator token) is one line of plain text: it shows
in crumbs, lists and the subject and body of e-mails, where a line break in it ("Evil\\r\\nBcc: …") would add lines
of its own. Every name field refuses control characters with a message naming the character, through one rule
(labeling.rules.text.name_problem), on the web forms and in the API alike."""

import pytest

from labeling.exceptions import DomainError, InvalidInput
from labeling.models import Dataset, Project, Queue, SavedView
from labeling.rules.text import name_problem
from labeling.services.api_keys import create_api_key
from labeling.services.datasets import create_dataset
from labeling.services.operator_tokens import issue_operator_token
from labeling.services.queues import QueueValues, create_queue
from labeling.services.saved_views import save_view
from tests.conftest import Api
from tests.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

INJECTED = "Evil\r\nBcc: attacker@example.com"


@pytest.mark.parametrize(
    "name, problem",
    [
        ("Support bot", None),
        ("دعم العملاء", None),
        ("a\u202eb", None),  # a bidi override is shown isolated, not refused
        ("Evil\r\nBcc: x", "U+000D"),
        ("Evil\nBcc: x", "U+000A"),
        ("tab\there", "U+0009"),
        ("bell\x07", "U+0007"),
        ("next\x85line", "U+0085"),
        ("line\u2028sep", "U+2028"),
        ("a\x00b", "NUL"),
    ],
)
def test_a_name_is_one_line_without_control_characters(name, problem):
    found = name_problem(name)

    assert (found is None) if problem is None else (problem in found)


def test_the_new_project_form_refuses_a_name_with_a_line_break_beside_the_field(client, db):
    client.force_login(UserFactory(username="sam", is_staff=True))

    response = client.post("/projects/new", {"name": INJECTED, "slug": "evil", "time_zone": "UTC",
                                             "cycle_weekday": "1", "rubric_template": "support-reply"})  # fmt: skip

    page = response.content.decode()
    assert response.status_code == 400
    assert "control character (U+000D" in page[page.index('id="field-name"') :]
    assert not Project.objects.filter(slug="evil").exists()


def test_the_queue_form_refuses_a_name_with_a_line_break(client, lead, project):
    client.force_login(lead)

    response = client.post(f"/p/{project.slug}/manage/queues/new", {"name": INJECTED, "slug": "evil",
                           "sample_rate": "1", "overlap": "1", "priority": "0", "is_active": "on"})  # fmt: skip

    assert response.status_code == 400
    assert "control character (U+000D" in " ".join(response.context["form"].errors["name"])
    assert not Queue.objects.exists()


def test_the_dataset_api_refuses_a_name_with_a_line_break(client, project):
    key = create_api_key(project=project, name="builder", scopes=["datasets", "read"])

    response = Api(client, key.secret).post(f"/api/v1/projects/{project.slug}/datasets", {"name": INJECTED})

    assert response.status_code == 400, response.content
    assert "control character (U+000D" in response.content.decode()
    assert not Dataset.objects.exists()


def test_every_service_that_names_something_refuses_a_control_character(project, lead):
    staff = UserFactory(username="ops", is_staff=True, is_superuser=True)
    attempts = [
        lambda: create_queue(project=project, values=QueueValues(slug="evil", name=INJECTED)),
        lambda: create_dataset(project=project, spec={"name": INJECTED}),
        lambda: save_view(project=project, name="Evil\x1b[2J", query=""),
        lambda: create_api_key(project=project, name=INJECTED, scopes=["ingest"]),
        lambda: issue_operator_token(user=staff, name=INJECTED),
    ]

    for attempt in attempts:
        with pytest.raises(DomainError, match="control character"):
            attempt()
    assert not (Queue.objects.exists() or Dataset.objects.exists() or SavedView.objects.exists())
    assert issubclass(InvalidInput, DomainError)
