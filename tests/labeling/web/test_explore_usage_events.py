"""The conversation page shows what an output's end user did around it: their usage events in the days before, during
and after its turns, counted and the nearest listed, so a lead sees whether the customer came back or left after a
bad answer (Django test client)."""

import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from labeling.models import UsageEvent
from labeling.services.privacy import erase_end_user
from tests.factories import OutputFactory

pytestmark = [pytest.mark.django_db]

AT = datetime(2026, 11, 10, 12, tzinfo=UTC)


def event(project, end_user_id: str, name: str, at: datetime) -> UsageEvent:
    return UsageEvent.objects.create(project=project, end_user_id=end_user_id, name=name, occurred_at=at,
                                     received_at=at, content_hash=f"{end_user_id}{name}{at}")  # fmt: skip


def opened(project, external_id: str) -> str:
    return reverse("labeling:explore-output", args=[project.slug]) + "?" + urlencode({"id": external_id})


def span(page: str, end_user_id: str, key: str) -> str:
    section = re.search(rf'<section class="usage-events" data-end-user="{end_user_id}".*?</section>', page, re.S)[0]
    return re.search(rf'data-span="{key}">(.*?)</div>', section, re.S)[1]


def test_an_output_shows_its_end_users_events_before_and_after_it_bounded_and_escaped(
    client, lead, project, other_project
):
    OutputFactory(project=project, external_id="bad-answer", end_user_id="u-1", occurred_at=AT)
    for n in range(12):
        event(project, "u-1", f"page_view {n}", AT - timedelta(hours=n + 1))
    event(project, "u-1", "too early", AT - timedelta(days=8))
    event(project, "u-1", "<b>cancelled</b>", AT + timedelta(hours=2))
    event(project, "u-1", "too late", AT + timedelta(days=8))
    event(project, "u-2", "someone else", AT + timedelta(hours=1))
    event(other_project, "u-1", "another project", AT + timedelta(hours=1))
    client.force_login(lead)

    page = client.get(opened(project, "bad-answer")).content.decode()
    before = span(page, "u-1", "before")
    assert "12 events" in before and "(the last 10 listed)" in before
    assert "page_view 0" in before and "page_view 9" in before and "page_view 10" not in before
    after = span(page, "u-1", "after")
    assert "1 event<" in after and "&lt;b&gt;cancelled&lt;/b&gt;" in after
    assert "0 events" in span(page, "u-1", "during")
    for elsewhere in ("too early", "too late", "someone else", "another project", "<b>cancelled</b>"):
        assert elsewhere not in page


def test_an_output_without_an_end_user_shows_no_events(client, lead, project):
    OutputFactory(project=project, external_id="anonymous", end_user_id="", occurred_at=AT)
    event(project, "u-1", "page_view", AT)
    client.force_login(lead)
    assert 'class="usage-events"' not in client.get(opened(project, "anonymous")).content.decode()


def test_an_erased_end_user_shows_nothing_in_a_session_they_shared(client, lead, project):
    OutputFactory(project=project, external_id="first", session_id="shared", end_user_id="u-1", occurred_at=AT)
    OutputFactory(project=project, external_id="second", session_id="shared", end_user_id="u-2",
                  occurred_at=AT + timedelta(minutes=1))  # fmt: skip
    event(project, "u-1", "came back", AT + timedelta(days=1))
    event(project, "u-2", "left for good", AT + timedelta(days=1))
    client.force_login(lead)
    page = client.get(opened(project, "first"), follow=True).content.decode()
    assert "came back" in page and "left for good" in page

    erase_end_user(project=project, end_user_id="u-2")
    page = client.get(opened(project, "first"), follow=True).content.decode()
    assert "came back" in page
    assert "left for good" not in page and 'data-end-user="u-2"' not in page


def their_outputs(page: str, end_user_id: str) -> str | None:
    """The href of the "their outputs" link of an end user's usage events, unescaped; None when there is none."""
    section = re.search(rf'<section class="usage-events" data-end-user="{end_user_id}".*?</section>', page, re.S)[0]
    link = re.search(r'<a class="small[^"]*" href="([^"]+)">their outputs</a>', section)
    return html.unescape(link[1]) if link else None


def listed(response) -> list[str]:
    return re.findall(r'<li class="result" data-output="([^"]+)"', response.content.decode())


@pytest.mark.parametrize("end_user_id", [" u-1 ", "u-1 ", '"u-1"', "u 1", "u&1=2"])
def test_their_outputs_opens_exactly_that_end_users_outputs(client, lead, project, end_user_id):
    """Written as every filter link is: an id with spaces at its ends (or quotes) is not the trimmed id's."""
    OutputFactory(project=project, external_id="theirs", end_user_id=end_user_id, occurred_at=AT)
    OutputFactory(project=project, external_id="trimmed", end_user_id="u-1", occurred_at=AT)
    client.force_login(lead)
    page = client.get(opened(project, "theirs")).content.decode()

    link = their_outputs(page, html.escape(end_user_id))
    assert link is not None
    assert listed(client.get(link, follow=True)) == ["theirs"]


def test_an_end_user_id_of_the_longest_ingest_takes_with_a_space_at_an_end_opens_its_outputs(client, lead, project):
    """200 characters with a space at an end: in quotes, 202, read off again (the page refused it as 202)."""
    end_user_id = "u" * 199 + " "
    OutputFactory(project=project, external_id="long", end_user_id=end_user_id, occurred_at=AT)
    OutputFactory(project=project, external_id="trimmed", end_user_id=end_user_id.strip(), occurred_at=AT)
    client.force_login(lead)

    link = their_outputs(client.get(opened(project, "long")).content.decode(), end_user_id)
    assert link is not None and listed(client.get(link, follow=True)) == ["long"]
