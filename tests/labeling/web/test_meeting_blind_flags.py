"""Blind labeling on the meeting page: an expert reads another person's flag note or comment on an item only once
they have labeled it, as on the labeling screen (`selectors.work.comments_on`); leads read everything (test client)."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from labeling.models import Membership, ReviewCycle, Role, week_label
from labeling.rules import calendar
from labeling.services.assignment import next_item
from labeling.services.cycles import close_week
from labeling.services.labels import comment_on_item, flag_item, submit_label
from tests.factories import UserFactory
from tests.helpers.reports import flagged_item

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

NOTE = "Clearly wrong: refunds take 30 days"
COMMENT = "I marked it incorrect"
OWN_NOTE = "Not sure about this one"
HIDDEN = "hidden until you have labeled it"


@pytest.fixture
def item(project, rubric, other_expert):
    """An item of this week that another expert labeled, flagged and commented on."""
    return flagged_item(project, rubric, other_expert, note=NOTE, comment=COMMENT)


def pages(client, project) -> list[str]:
    """The meeting page and its Markdown export of the running week; the page's names read without their <bdi>."""
    label = week_label(calendar.current_week(project))
    shown = [
        client.get(reverse(f"labeling:{name}", args=[project.slug, label])).content.decode()
        for name in ("meeting-week", "meeting-markdown")
    ]
    return [re.sub(r"</?bdi>", "", text) for text in shown]


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


OWN_COMMENT = "I flagged it for the refund window"


def _closed(project) -> None:
    """Close the running week (as beat does once it is over): its report is frozen with the names of the day."""
    week = calendar.current_week(project)
    close_week(project_id=project.pk, week=week, now=calendar.week_end(project, week) + timedelta(minutes=1))


def _rename(user, username: str) -> None:
    type(user).objects.filter(pk=user.pk).update(username=username)
    user.refresh_from_db()


def test_an_expert_renamed_after_the_close_still_reads_their_own_flag_and_comment(client, project, expert, item):
    """The frozen report named them by their old username: matched by name, their own note and comment were hidden
    from them as another person's."""
    flag_item(expert=expert, item=item, note=OWN_NOTE)
    comment_on_item(author=expert, item=item, body=OWN_COMMENT)
    _closed(project)
    _rename(expert, "erin.renamed")
    client.force_login(expert)

    for text in pages(client, project):
        assert OWN_NOTE in text and OWN_COMMENT in text
        assert NOTE not in text and COMMENT not in text
    flags = _report(client, project)["agenda"]["flags"]
    own = next(flag for flag in flags if flag["note"] == OWN_NOTE)
    assert not own["expert_hidden"] and [comment["body"] for comment in own["comments"]] == [OWN_COMMENT]


def test_a_new_user_given_a_renamed_experts_old_name_does_not_read_their_flag(client, project, other_expert, item):
    old_name = other_expert.get_username()
    _closed(project)
    _rename(other_expert, "olga.renamed")
    newcomer = UserFactory(username=old_name)
    Membership.objects.create(project=project, user=newcomer, role=Role.EXPERT)
    client.force_login(newcomer)

    for text in pages(client, project):
        assert f"Item {item.pk}" in text
        assert NOTE not in text and COMMENT not in text
        assert HIDDEN in text
    [flag] = _report(client, project)["agenda"]["flags"]
    assert flag["expert_hidden"] is True and flag["note"] is None and flag["comments"] == []


def test_a_hidden_flagger_is_not_named_by_id_either(client, project, expert, other_expert, lead, item):
    """The report keeps who flagged and commented by user id too (names change); an expert's copy drops the id of a
    person it does not name, while a lead reads both."""
    _closed(project)
    client.force_login(expert)
    [flag] = _report(client, project)["agenda"]["flags"]
    assert flag["expert"] is None and "expert_id" not in flag
    assert flag["comments"] == [] and flag["comments_hidden"] == 1

    client.force_login(lead)
    [flag] = _report(client, project)["agenda"]["flags"]
    assert (flag["expert"], flag["expert_id"]) == (other_expert.get_username(), other_expert.pk)
    assert [(comment["author"], comment["author_id"]) for comment in flag["comments"]] == [
        (other_expert.get_username(), other_expert.pk)
    ]
    markdown = client.get(reverse("labeling:meeting-markdown", args=[project.slug, _label(project)])).content.decode()
    assert "expert_id" not in markdown and "author_id" not in markdown


def _label(project) -> str:
    return week_label(calendar.current_week(project))


def test_a_report_frozen_before_ids_were_kept_still_shows_an_expert_their_own_flag(client, project, expert, item):
    """Older frozen reports name people by username only: the reader's own entries are matched by name there."""
    flag_item(expert=expert, item=item, note=OWN_NOTE)
    comment_on_item(author=expert, item=item, body=OWN_COMMENT)
    _closed(project)
    cycle = ReviewCycle.objects.get(project=project, week=calendar.current_week(project))
    for flag in cycle.report["agenda"]["flags"]:
        del flag["expert_id"]
        for comment in flag["comments"]:
            del comment["author_id"]
    cycle.save(update_fields=["report"])
    client.force_login(expert)

    for text in pages(client, project):
        assert OWN_NOTE in text and OWN_COMMENT in text
        assert NOTE not in text and COMMENT not in text
