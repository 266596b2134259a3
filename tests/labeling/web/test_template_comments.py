"""Notes written for the people who read the templates stay out of the pages (operator walkthrough W): Django's
`{# … #}` ends at the line's end, so one spread over two lines is printed as text, as the meeting page's and the
adjudication page's were (Django test client)."""

import re
from pathlib import Path

import pytest

from tests.helpers.labeling import label_outputs

TEMPLATES = Path(__file__).resolve().parents[3] / "labeling" / "templates"
UNCLOSED = re.compile(r"\{#(?!.*?#\})")  # any `{#` on the line, not only its first, with no `#}` after it
TIE = ({"correct": True, "helpful": 4}, {"correct": False, "helpful": 4})


def test_no_template_opens_a_one_line_comment_it_does_not_close_on_that_line():
    """A note of several lines is a `{% comment %}` block; a `{#` with no `#}` after it on its line is shown."""
    unclosed = [
        f"{path.relative_to(TEMPLATES)}:{number}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if UNCLOSED.search(line)
    ]
    assert unclosed == []


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_meeting_and_adjudication_pages_show_no_template_note(client, project, lead, expert, other_expert):
    [item] = label_outputs(project, answers=TIE, experts=[expert, other_expert])
    client.force_login(lead)
    meeting = client.get(f"/p/{project.slug}/meeting/", follow=True)
    adjudication = client.get(f"/p/{project.slug}/manage/adjudication/{item.pk}/")

    assert meeting.status_code == adjudication.status_code == 200
    for page in (meeting, adjudication):
        html = page.content.decode()
        assert "{#" not in html and "#}" not in html
