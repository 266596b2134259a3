"""Blind labeling on the meeting page: an expert reads another person's flag note or comment on an item only once
they have labeled it, as on the labeling screen (`selectors.work.comments_on`); leads read everything (test client)."""

import pytest
from django.urls import reverse

from labeling.models import Queue, week_label
from labeling.rules import calendar
from labeling.services.assignment import next_item
from labeling.services.labels import comment_on_item, flag_item, submit_label
from tests.factories import created_weeks_ago
from tests.helpers.labeling import make_items

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

NOTE = "Clearly wrong: refunds take 30 days"
COMMENT = "I marked it incorrect"
OWN_NOTE = "Not sure about this one"
HIDDEN = "hidden until you have labeled it"


@pytest.fixture
def item(project, rubric, other_expert):
    """An item of this week that another expert labeled, flagged and commented on."""
    created_weeks_ago(project, 4)
    queue = Queue.objects.create(project=project, slug="billing", name="Billing", overlap=2, weekly_quota=20)
    [item] = make_items(project, 1)
    assert item.queue == queue
    held = next_item(expert=other_expert, queue=queue)
    submit_label(expert=other_expert, item=held, rubric=rubric, answers={"correct": False, "helpful": 2})
    flag_item(expert=other_expert, item=item, note=NOTE)
    comment_on_item(author=other_expert, item=item, body=COMMENT)
    return item


def pages(client, project) -> list[str]:
    """The meeting page and its Markdown export of the running week."""
    label = week_label(calendar.current_week(project))
    return [
        client.get(reverse(f"labeling:{name}", args=[project.slug, label])).content.decode()
        for name in ("meeting-week", "meeting-markdown")
    ]


def test_an_expert_reads_others_flag_notes_and_comments_only_on_items_they_have_labeled(
    client, project, rubric, expert, item
):
    client.force_login(expert)
    for text in pages(client, project):
        assert f"Item {item.pk}" in text  # the flag is on the agenda
        assert NOTE not in text and COMMENT not in text
        assert HIDDEN in text
    held = next_item(expert=expert, queue=item.queue)
    assert held.pk == item.pk
    submit_label(expert=expert, item=held, rubric=rubric, answers={"correct": True, "helpful": 4})
    for text in pages(client, project):
        assert NOTE in text and COMMENT in text
        assert HIDDEN not in text


def test_an_expert_reads_their_own_flag_note_on_an_item_they_have_not_labeled(client, project, expert, item):
    flag_item(expert=expert, item=item, note=OWN_NOTE)
    client.force_login(expert)
    for text in pages(client, project):
        assert OWN_NOTE in text
        assert NOTE not in text and COMMENT not in text


def test_a_lead_reads_every_flag_note_and_comment(client, project, lead, item):
    client.force_login(lead)
    for text in pages(client, project):
        assert NOTE in text and COMMENT in text
        assert HIDDEN not in text


def test_an_expert_reads_through_the_api_what_the_page_shows(client, project, expert, item):
    client.force_login(expert)
    label = week_label(calendar.current_week(project))
    report = client.get(f"/api/v1/cycles/{label}/report?project={project.slug}").json()
    [flag] = report["agenda"]["flags"]
    assert NOTE not in str(report) and COMMENT not in str(report)
    assert flag["item_id"] == item.pk
    assert flag["note_hidden"] is True and flag["comments_hidden"] == 1 and flag["comments"] == []


def _report(client, project) -> dict:
    label = week_label(calendar.current_week(project))
    return client.get(f"/api/v1/cycles/{label}/report?project={project.slug}").json()


def test_an_expert_learns_who_flagged_an_item_only_once_they_have_labeled_it(
    client, project, rubric, expert, other_expert, item
):
    """Knowing which colleague flagged an item biases a label as much as the note would."""
    flagger = other_expert.get_username()
    client.force_login(expert)
    for text in pages(client, project):
        assert f"Item {item.pk}" in text
        assert flagger not in text
    [flag] = _report(client, project)["agenda"]["flags"]
    assert flagger not in str(flag)
    assert flag["expert"] is None and flag["expert_hidden"] is True
    held = next_item(expert=expert, queue=item.queue)
    submit_label(expert=expert, item=held, rubric=rubric, answers={"correct": True, "helpful": 4})
    for text in pages(client, project):
        assert f"flagged by {flagger}" in text
    [flag] = _report(client, project)["agenda"]["flags"]
    assert flag["expert"] == flagger and not flag.get("expert_hidden")


def test_an_expert_reads_their_own_name_on_their_flag_of_an_item_they_have_not_labeled(
    client, project, expert, other_expert, item
):
    flag_item(expert=expert, item=item, note=OWN_NOTE)
    client.force_login(expert)
    for text in pages(client, project):
        assert f"flagged by {expert.get_username()}" in text
        assert other_expert.get_username() not in text
    names = {flag["expert"] for flag in _report(client, project)["agenda"]["flags"]}
    assert names == {expert.get_username(), None}


def test_a_lead_reads_who_flagged_every_item(client, project, lead, other_expert, item):
    flagger = other_expert.get_username()
    client.force_login(lead)
    for text in pages(client, project):
        assert f"flagged by {flagger}" in text
    [flag] = _report(client, project)["agenda"]["flags"]
    assert flag["expert"] == flagger
