"""Flags as the lead works them: from the meeting's agenda to the item's page, where its flags and comments are read
and a flag is marked resolved, and off the agendas after (Django test client)."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from labeling.exceptions import InvalidInput
from labeling.models import AuditEvent, Flag, week_label
from labeling.rules import calendar
from labeling.rules.text import FORMER_MEMBER
from labeling.services import cycles
from labeling.services.labels import comment_on_item, flag_item, resolve_flag
from tests.factories import MembershipFactory, created_weeks_ago
from tests.helpers.labeling import label_outputs
from tests.helpers.reports import flagged_item

from .test_names_isolated import TEMPLATES

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

NOTE = "Refunds take 30 days, not 14"
COMMENT = "I marked it incorrect"


def url(name, project, *args):
    return reverse(f"labeling:{name}", args=[project.slug, *args])


def flag_block(html: str) -> str:
    return html.split("<h3>Flagged items")[1].split('<div class="agenda-block">')[0]


def running_week_page(client, project) -> str:
    return client.get(url("meeting-week", project, week_label(calendar.current_week(project)))).content.decode()


@pytest.fixture
def complete_flagged(project, expert, other_expert):
    """A complete item of this week, flagged and commented on by `expert`."""
    created_weeks_ago(project, 4)
    [item] = label_outputs(project, experts=[expert, other_expert])
    flag_item(expert=expert, item=item, note=NOTE)
    comment_on_item(author=other_expert, item=item, body=COMMENT)
    return item


def test_a_flagged_item_on_the_agenda_links_to_its_page_which_shows_its_flags_and_comments(
    client, project, lead, expert, other_expert, complete_flagged
):
    item = complete_flagged
    client.force_login(lead)

    block = flag_block(running_week_page(client, project))
    item_page = url("adjudicate", project, item.pk)
    assert f'href="{item_page}#discussion">Item {item.pk}</a>' in block

    html = client.get(item_page).content.decode()
    discussion = html.split('id="discussion"')[1].split("</section>")[0]
    assert NOTE in discussion and expert.username in discussion
    assert COMMENT in discussion and other_expert.username in discussion
    assert "Mark resolved" in discussion


def test_a_flagged_item_still_being_labeled_has_a_page_with_its_flags(client, project, rubric, lead, other_expert):
    """One of its two labels is given: it has no gold to decide yet, but the lead reads what was said about it."""
    item = flagged_item(project, rubric, other_expert, note=NOTE, comment=COMMENT)
    client.force_login(lead)

    response = client.get(url("adjudicate", project, item.pk))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="still-labeling"' in html and "1 of 2 labels given" in html
    assert NOTE in html and COMMENT in html and "Mark resolved" in html


def test_a_lead_resolves_a_flag_with_a_note_and_it_leaves_the_running_weeks_agenda(
    client, project, lead, complete_flagged
):
    """The same post twice (a double click) resolves it once, audited once, and answers alike."""
    item = complete_flagged
    flag = item.flags.get()
    client.force_login(lead)
    assert f'data-flag="{flag.pk}"' in flag_block(running_week_page(client, project))

    answers = [
        client.post(url("flag-resolve", project, flag.pk), {"note": "Guideline fixed", "item": item.pk}) for _ in "12"
    ]

    assert [answer.status_code for answer in answers] == [302, 302]
    assert answers[0]["Location"] == answers[1]["Location"] == url("adjudicate", project, item.pk) + "#discussion"
    flag.refresh_from_db()
    assert flag.resolved_at is not None and flag.resolved_by == lead and flag.resolution_note == "Guideline fixed"
    assert AuditEvent.objects.filter(action="flag.resolved", details__flag=flag.pk).count() == 1
    block = flag_block(running_week_page(client, project))
    assert f'data-flag="{flag.pk}"' not in block and "No open flags." in block
    html = client.get(url("adjudicate", project, item.pk)).content.decode()
    discussion = html.split('id="discussion"')[1].split("</section>")[0]
    assert f"Resolved by <bdi>{lead.username}</bdi>" in discussion and "Guideline fixed" in discussion
    assert "Mark resolved" not in discussion


def test_a_flag_resolved_by_someone_whose_account_is_gone_says_a_former_member(client, project, lead, complete_flagged):
    item = complete_flagged
    flag = item.flags.get()
    resolve_flag(lead=lead, project=project, flag_id=flag.pk, note="Guideline fixed")
    Flag.objects.filter(pk=flag.pk).update(resolved_by=None)  # what deleting the account does (SET_NULL)
    client.force_login(lead)

    html = client.get(url("adjudicate", project, item.pk)).content.decode()

    discussion = html.split('id="discussion"')[1].split("</section>")[0]
    assert f"Resolved by <bdi>{FORMER_MEMBER}</bdi> on" in discussion


def test_no_template_spells_out_the_former_member_wording():
    """`rules.text.FORMER_MEMBER` is the one wording, as the agenda and the audit log say it: templates use it through
    the `or_former_member` filter, so a change of words reaches every page."""
    spelled = [
        str(path.relative_to(TEMPLATES))
        for path in TEMPLATES.rglob("*.html")
        if re.search(r"\ba former (?:member|lead|expert)\b", path.read_text(encoding="utf-8"))
    ]

    assert spelled == []


def test_a_flag_resolved_after_the_close_is_marked_on_the_closed_weeks_page_while_the_report_stays_frozen(
    client, project, lead, expert, other_expert
):
    created_weeks_ago(project, 52)
    [item] = label_outputs(project, experts=[expert, other_expert], occurred_at=timezone.now() - timedelta(days=7))
    flag = flag_item(expert=expert, item=item, note=NOTE)
    cycle = cycles.close_week(project_id=project.pk, week=calendar.current_week(project) - timedelta(days=7))
    frozen = dict(cycle.report)
    assert [row["flag_id"] for row in frozen["agenda"]["flags"]] == [flag.pk]
    client.force_login(lead)

    client.post(url("flag-resolve", project, flag.pk), {"note": "Talked it through"})
    html = client.get(url("meeting-week", project, cycle.label)).content.decode()

    block = flag_block(html)
    assert '<span class="since">1 resolved since the close</span>' in block
    done = block.split("Resolved since the close")[1]
    assert f'data-flag="{flag.pk}"' in done and f"resolved since the close by <bdi>{lead.username}</bdi>" in done
    assert "Talked it through" in done
    cycle.refresh_from_db()
    assert cycle.report == frozen
    assert f'data-flag="{flag.pk}"' not in flag_block(running_week_page(client, project))


def test_a_flag_resolved_by_another_lead_is_not_resolved_again(client, project, lead, complete_flagged):
    flag = complete_flagged.flags.get()
    other_lead = MembershipFactory(project=project, role="lead").user
    flag.resolved_at, flag.resolved_by, flag.resolution_note = timezone.now() - timedelta(hours=1), other_lead, "Done"
    flag.save()
    client.force_login(lead)

    response = client.post(url("flag-resolve", project, flag.pk), {"note": "Again", "item": flag.item_id}, follow=True)

    assert f"already resolved by {other_lead.username}" in response.content.decode()
    flag.refresh_from_db()
    assert flag.resolution_note == "Done"
    assert not AuditEvent.objects.filter(action="flag.resolved").exists()


def test_the_name_of_the_lead_who_resolved_a_flag_first_is_isolated_in_the_pages_message_only(
    client, project, lead, complete_flagged
):
    """A username (from single sign-on: any text) with a right-to-left override reverses nothing after it in the
    message; the service's own words (what an API or a log would carry) hold the name as it is, without marks."""
    flag = complete_flagged.flags.get()
    other_lead = MembershipFactory(project=project, role="lead", user__username="LTR \u202eH 794 Item").user
    flag.resolved_at, flag.resolved_by = timezone.now() - timedelta(hours=1), other_lead
    flag.save()
    client.force_login(lead)

    response = client.post(url("flag-resolve", project, flag.pk), {"note": "Again", "item": flag.item_id}, follow=True)

    assert f"already resolved by \u2068{other_lead.username}\u2069 on " in response.content.decode()
    with pytest.raises(InvalidInput) as refused:
        resolve_flag(lead=lead, project=project, flag_id=flag.pk)
    assert f"already resolved by {other_lead.username} on " in refused.value.message


@pytest.mark.parametrize("item", ["٣", "²", "99999999999999999999", ""])
def test_a_refused_resolution_posted_with_a_bad_item_goes_back_to_the_list_not_a_500(
    client, project, lead, complete_flagged, item
):
    """The posted `item` only says where to go back to after a refusal; digits of other scripts are not an id."""
    flag = complete_flagged.flags.get()
    client.force_login(lead)

    response = client.post(url("flag-resolve", project, flag.pk), {"note": "x" * 600, "item": item})

    assert response.status_code == 302 and response.url == url("adjudication", project)
    assert Flag.objects.get(pk=flag.pk).resolved_at is None


def test_a_flag_of_another_project_is_not_resolved_through_this_one(
    client, project, other_project, lead, complete_flagged
):
    flag = complete_flagged.flags.get()
    MembershipFactory(project=other_project, user=lead, role="lead")
    client.force_login(lead)

    assert client.post(url("flag-resolve", other_project, flag.pk), {"note": "x"}).status_code == 404
    assert Flag.objects.get(pk=flag.pk).resolved_at is None


@pytest.mark.parametrize("who", ["expert", "engineer", "outsider"])
def test_only_the_projects_leads_resolve_its_flags(client, request, project, who, complete_flagged):
    flag = complete_flagged.flags.get()
    client.force_login(request.getfixturevalue(who))

    assert client.post(url("flag-resolve", project, flag.pk)).status_code == 404
    assert client.get(url("adjudicate", project, complete_flagged.pk)).status_code == 404
    assert Flag.objects.get(pk=flag.pk).resolved_at is None


def test_the_exports_flag_notes_end_with_one_stop(client, project, lead, other_expert, complete_flagged):
    """A note that ends in ? . or ! gets no full stop after it; one without gets one."""
    item = complete_flagged
    flag_item(expert=other_expert, item=item, note="Is the answer too cautious?")
    flag_item(expert=lead, item=item, note="It cuts both ways.")
    client.force_login(lead)

    export = client.get(url("meeting-markdown", project, week_label(calendar.current_week(project)))).content.decode()

    assert "too cautious? Output:" in export and "both ways. Output:" in export
    assert f"{NOTE}. Output:" in export
    assert "?." not in export and ".." not in export


def test_a_resolution_note_with_an_override_reverses_neither_its_quotation_marks_nor_the_queue_after_it(
    client, project, lead, expert, other_expert
):
    created_weeks_ago(project, 52)
    [item] = label_outputs(project, experts=[expert, other_expert], occurred_at=timezone.now() - timedelta(days=7))
    flag = flag_item(expert=expert, item=item, note="\u05d4\u05e2\u05e8\u05d4")
    cycle = cycles.close_week(project_id=project.pk, week=calendar.current_week(project) - timedelta(days=7))
    client.force_login(lead)

    client.post(url("flag-resolve", project, flag.pk), {"note": "\u202eTalked it through"})
    done = flag_block(client.get(url("meeting-week", project, cycle.label)).content.decode())

    assert "<q><bdi>\u202eTalked it through</bdi></q>" in done
    assert '<p class="flag-note" dir="auto">\u05d4\u05e2\u05e8\u05d4</p>' in done.split("Resolved since the close")[1]
