"""The meeting page a lead works from: its agenda over the frozen report, the weeks it offers, the decision form
that brings a refusal into view, and the dashboard's queue filter against agreement (Django test client)."""

import re
from datetime import date, datetime, timedelta

import pytest
from django.urls import reverse

from labeling.models import Decision, Item, Queue, ReviewCycle, week_label
from labeling.rules import calendar
from labeling.services import cycles
from labeling.services.labels import flag_item, submit_label
from labeling.services.resolution import resolve_item
from labeling.services.routing import route_outputs
from tests.factories import OutputFactory, created_weeks_ago
from tests.helpers.forms import form_as_shown
from tests.helpers.labeling import label_outputs
from tests.helpers.metrics import store_week

# Each test reads the running week on the clock and again on a later request: clear_of_week_start keeps it a day
# from a week start, which would set the two a week apart.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db, pytest.mark.usefixtures("clear_of_week_start")]

TIE = ({"correct": True, "helpful": 4}, {"correct": False, "helpful": 4})


def url(name, project, *args):
    return reverse(f"labeling:{name}", args=[project.slug, *args])


def in_week(project, week: date) -> datetime:
    """A moment inside the week: an output that occurred then is queued as one of its items."""
    return calendar.week_start(project, week) + timedelta(hours=12)


def agenda_block(html: str, heading: str) -> str:
    return html.split(f"<h3>{heading}")[1].split('<div class="agenda-block">')[0]


# 1. The agenda shows what was decided since the close --------------------------------------------------------------


def test_an_item_decided_after_the_close_is_marked_done_on_the_meeting_page_while_the_report_stays_frozen(
    client, project, lead, expert, other_expert
):
    """The lead opens last week's meeting, decides one of the two ties it lists and comes back: that item is marked
    "decided since the close" and the heading says so, the other still waits; the frozen report and its export keep
    both, as the week's record. The lead's name in "gold recorded by …" is isolated: a right-to-left override in it
    (U+202E, a username single sign-on took from its claims) reverses nothing after it."""
    type(lead).objects.filter(pk=lead.pk).update(username="lena\u202e")
    lead.refresh_from_db()
    created_weeks_ago(project, 52)
    last_week = calendar.current_week(project) - timedelta(days=7)
    decided, waiting = label_outputs(project, 2, answers=TIE, experts=[expert, other_expert],
                                     occurred_at=in_week(project, last_week))  # fmt: skip
    cycle = cycles.close_week(project_id=project.pk, week=last_week)
    frozen = dict(cycle.report)
    assert [row["item_id"] for row in frozen["agenda"]["adjudication"]] == [decided.pk, waiting.pk]
    client.force_login(lead)
    page = url("meeting-week", project, cycle.label)

    form = form_as_shown(client.get(url("adjudicate", project, decided.pk)).content.decode(), "adjudicate-form")
    assert client.post(url("adjudicate", project, decided.pk), {**form, "q-correct": ["yes"]}).status_code == 302
    html = client.get(page).content.decode()

    block = agenda_block(html, "Needs adjudication")
    assert re.search(r'<span class="count">2</span>\s*<span class="since">1 decided since the close</span>', block)
    done = block.split(f'data-item="{decided.pk}"')[1].split("</li>")[0]
    assert f"decided since the close: gold recorded by <bdi>{lead.username}</bdi>" in done  # isolated by the page
    assert f'data-item="{waiting.pk}"' in block
    still = block.split(f'data-item="{waiting.pk}"')[1].split("</li>")[0]
    assert "since the close" not in still
    # The waiting item comes first, the decided one after it, in a group of its own.
    assert block.index(f'data-item="{waiting.pk}"') < block.index("Done since the close") < block.index(done)
    cycle.refresh_from_db()
    assert cycle.report == frozen
    export = client.get(url("meeting-markdown", project, cycle.label)).content.decode()
    assert "decided since" not in export and str(decided.pk) in export


def test_a_tie_the_experts_settled_after_the_close_is_marked_so(client, project, lead, expert, other_expert):
    """An expert edits their label so the item no longer ties: it left the adjudication list without a lead. (The item
    is of the week before the closed one, still open: a closed week's own labels can no longer be edited.)"""
    created_weeks_ago(project, 52)
    last_week = calendar.current_week(project) - timedelta(days=7)
    earlier = last_week - timedelta(days=7)
    [item] = label_outputs(project, answers=TIE, experts=[expert, other_expert], occurred_at=in_week(project, earlier))
    cycle = cycles.close_week(project_id=project.pk, week=last_week)
    rubric = item.labels.get(expert=other_expert).rubric
    submit_label(expert=other_expert, item=item, rubric=rubric, answers={"correct": True, "helpful": 4})
    resolve_item(item_id=item.pk)  # as the task enqueued on commit would
    client.force_login(lead)

    html = client.get(url("meeting-week", project, cycle.label)).content.decode()

    block = agenda_block(html, "Needs adjudication")
    assert "decided since the close: the labels no longer tie" in block
    assert '<span class="since">1 decided since the close</span>' in block


def test_an_open_weeks_agenda_is_live_and_marks_nothing(client, project, lead, expert, other_expert):
    created_weeks_ago(project, 52)
    label_outputs(project, answers=TIE, experts=[expert, other_expert])
    client.force_login(lead)
    html = client.get(url("meeting-week", project, week_label(calendar.current_week(project)))).content.decode()
    block = agenda_block(html, "Needs adjudication")
    assert '<span class="count">1</span>' in block and "since the close" not in block


def test_a_past_weeks_agenda_lists_the_ties_of_that_week_and_earlier_never_a_later_weeks(
    client, project, lead, expert, other_expert
):
    """Each week's page lists the ties of its own items and of earlier weeks still waiting (as its flags are listed),
    not the project's live queue: a tie on this week's item is not on last week's agenda, open or closed."""
    created_weeks_ago(project, 52)
    this_week = calendar.current_week(project)
    weeks = [this_week - timedelta(weeks=2), this_week - timedelta(weeks=1), this_week]
    tied = {
        week: label_outputs(project, answers=TIE, experts=[expert, other_expert], occurred_at=in_week(project, week))[0]
        for week in weeks
    }
    assert [tied[week].week for week in weeks] == weeks
    client.force_login(lead)

    def listed(week: date) -> set[int]:
        block = agenda_block(client.get(url("meeting-week", project, week_label(week))).content.decode(), "Needs")
        return {int(item_id) for item_id in re.findall(r'<li data-item="(\d+)"', block)}

    earlier, last_week = tied[weeks[0]].pk, tied[weeks[1]].pk
    assert listed(weeks[1]) == {earlier, last_week}  # an open past week: its own and the earlier tie
    assert listed(this_week) == {earlier, last_week, tied[this_week].pk}  # the running week: every tie so far
    cycle = cycles.close_week(project_id=project.pk, week=weeks[1])
    assert {row["item_id"] for row in cycle.report["agenda"]["adjudication"]} == {earlier, last_week}
    assert listed(weeks[1]) == {earlier, last_week}  # closed: the frozen agenda, the same items


# 4. Weeks before the project -----------------------------------------------------------------------------------


def test_a_week_before_the_project_has_no_agenda_and_no_earlier_week_to_go_to(
    client, project, lead, expert, other_expert
):
    """The project was created this week: 2020-W01 holds nothing to review, so it lists no agenda (not today's), and
    its "previous" link does not lead further back; the project's first week has no "previous" either."""
    created_weeks_ago(project, 0)
    [item] = label_outputs(project, answers=TIE, experts=[expert, other_expert])
    item.flags.create(expert=expert, note="Odd answer")
    client.force_login(lead)
    this_week = calendar.current_week(project)

    old = client.get(url("meeting-week", project, "2020-W01")).content.decode()
    first = client.get(url("meeting-week", project, week_label(this_week))).content.decode()
    export = client.get(url("meeting-markdown", project, "2020-W01")).content.decode()

    assert 'id="before-project-note"' in old
    assert (
        'id="no-agenda"' in old
        and "Needs adjudication" not in old
        and f"Item {item.pk}" not in old
        and "Odd answer" not in old
    )
    assert 'rel="prev"' not in old and 'rel="next"' in old
    assert f"Item {item.pk}" in first and "Odd answer" in first
    assert 'rel="prev"' not in first and 'rel="next"' not in first
    assert f"item {item.pk}" not in export.lower() and "Odd answer" not in export and "Needs adjudication (0)" in export


def test_a_week_before_the_project_takes_no_decision_and_gets_no_cycle(client, project, lead):
    """Such a week has no meeting: its page offers no decision form, and a decision posted to it anyway is refused
    with why, leaving no decision and no cycle behind (an open week that could never be closed)."""
    created_weeks_ago(project, 0)
    client.force_login(lead)

    page = client.get(url("meeting-week", project, "2020-W01")).content.decode()
    refused = client.post(url("decision-add", project, "2020-W01"), {"text": "Ship the fix", "owner": "lena"})

    assert 'id="decision-form"' not in page
    assert refused.status_code == 400
    assert "2020-W01 ended before this project was created" in refused.content.decode()
    assert not ReviewCycle.objects.filter(project=project).exists()
    assert not Decision.objects.exists()


def test_previous_goes_back_to_the_weeks_that_hold_review_work_sent_with_older_dates(client, project, lead):
    """Outputs sent with older timestamps are queued in their own weeks, before the project was created: "previous"
    leads back to the oldest of them, and no further."""
    created_weeks_ago(project, 0)
    this_week = calendar.current_week(project)
    oldest = this_week - timedelta(weeks=2)
    Queue.objects.create(project=project, slug="imported", name="Imported")
    sent_late = OutputFactory(project=project, occurred_at=calendar.week_start(project, oldest) + timedelta(days=1))
    route_outputs(project_id=project.pk, output_ids=[sent_late.pk])
    assert Item.objects.get().week == oldest
    client.force_login(lead)

    def prev_of(week: date) -> str | None:
        html = client.get(url("meeting-week", project, week_label(week))).content.decode()
        found = re.search(r'rel="prev" href="[^"]*/meeting/([^/"]+)/"', html)
        return found[1] if found else None

    assert prev_of(this_week) == week_label(this_week - timedelta(weeks=1))
    assert prev_of(this_week - timedelta(weeks=1)) == week_label(oldest)
    assert prev_of(oldest) is None


# 3. The decision form lands on its error -------------------------------------------------------------------------


def test_the_decision_form_posts_to_its_own_anchor_and_a_refusal_shows_there(client, project, lead):
    created_weeks_ago(project, 52)
    label = week_label(calendar.current_week(project) - timedelta(days=7))
    client.force_login(lead)

    html = client.get(url("meeting-week", project, label)).content.decode()
    action = re.search(r'<form method="post" action="([^"]+)"[^>]*id="decision-form"', html)
    assert action and action[1] == url("decision-add", project, label) + "#decision-form"

    refused = client.post(action[1].split("#")[0], {"text": "Ship it", "due_date": "20266-01-05"})
    assert refused.status_code == 400
    form = refused.content.decode().split('id="decision-form"')[1].split("</form>")[0]
    assert "The due date must be a real date, up to 9999-12-31: pick it in the calendar." in form
    assert 'max="9999-12-31"' in form


# 2. The dashboard's queue filter and agreement ---------------------------------------------------------------------


def test_with_a_queue_filter_the_dashboard_says_agreement_covers_all_queues(client, project, lead, rubric):
    """Agreement is stored per week and question, for all queues together: filtered to one queue, the page says so
    next to the agreement charts instead of passing them off as that queue's."""
    created_weeks_ago(project, 52)
    week = calendar.current_week(project) - timedelta(days=7)
    billing = Queue.objects.create(project=project, slug="billing", name="Billing")
    Queue.objects.create(project=project, slug="escalations", name="Escalations")
    store_week(project, billing, week, passes=41, n=50, alpha=0.75)
    client.force_login(lead)

    filtered = client.get(url("dashboard", project), {"queue": "escalations"}).content.decode()
    unfiltered = client.get(url("dashboard", project)).content.decode()

    note = filtered.split('id="agreement-scope"')[1].split("</p>")[0]
    assert "Agreement covers all queues" in note and "Escalations" in note
    assert 'id="agreement-scope"' not in unfiltered


def test_with_a_queue_filter_the_dashboard_says_retention_covers_all_end_users(client, project, lead, rubric):
    """Retention is stored per cohort for the project's end users, not per queue: filtered to one queue, the page says
    so beside the retention chart, as it does for agreement."""
    created_weeks_ago(project, 52)
    Queue.objects.create(project=project, slug="escalations", name="Escalations")
    client.force_login(lead)

    filtered = client.get(url("dashboard", project), {"queue": "escalations"}).content.decode()
    unfiltered = client.get(url("dashboard", project)).content.decode()

    note = filtered.split('id="retention-scope"')[1].split("</p>")[0]
    assert "Retention covers all queues" in note and "Escalations" in note
    assert 'id="retention-scope"' not in unfiltered


def test_the_agenda_and_report_md_name_each_items_queue_as_the_adjudication_list_does(
    client, project, lead, expert, other_expert
):
    """The agenda said the queue's slug ("weekly-sample · 2026-W44") where the adjudication list, home and dashboard
    say its name: it says the name now, isolated, and so does report.md."""
    created_weeks_ago(project, 52)
    [tie] = label_outputs(project, answers=TIE, experts=[expert, other_expert], queue="weekly-sample")
    Queue.objects.filter(project=project, slug="weekly-sample").update(name="عينة أسبوعية")
    flag_item(expert=expert, item=tie, note="Look")
    client.force_login(lead)
    label = week_label(calendar.current_week(project))

    html = client.get(url("meeting-week", project, label)).content.decode()
    markdown = client.get(url("meeting-markdown", project, label)).content.decode()

    for heading in ("Needs adjudication", "Flagged items"):
        block = agenda_block(html, heading)
        assert "<bdi>عينة أسبوعية</bdi>" in block and "weekly-sample" not in block
    assert f"- Item {tie.pk} (عينة أسبوعية, {label})" in markdown and "weekly-sample" not in markdown
