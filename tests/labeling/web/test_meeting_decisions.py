"""Decisions carried from meeting to meeting: an earlier week's decision stays on every later meeting page until a
lead marks it done, with its owner and due date, overdue ones marked (Django test client)."""

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from django.urls import reverse

from labeling.models import AuditEvent, Decision, week_label
from labeling.rules import calendar
from labeling.services import cycles
from tests.factories import MembershipFactory, created_weeks_ago

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def url(name, project, *args):
    return reverse(f"labeling:{name}", args=[project.slug, *args])


def open_decisions(html: str) -> str:
    """The page's "Still open from earlier weeks" table, or "" without one."""
    if 'id="open-decisions"' not in html:
        return ""
    return html.split('id="open-decisions"')[1].split("</table>")[0]


@pytest.fixture
def weeks(clear_of_week_start, project):
    created_weeks_ago(project, 52)
    this_week = calendar.current_week(project)
    return this_week - timedelta(days=14), this_week - timedelta(days=7), this_week


def decide(project, lead, week, text, *, owner="engineer", due=None):
    return cycles.decide_in_week(user=lead, project=project, week=week, text=text, owner=owner, due_date=due)


def test_an_earlier_weeks_open_decisions_are_on_the_next_meeting_with_owner_and_due_date_overdue_marked(
    client, project, lead, weeks
):
    before_last, last, this_week = weeks
    today = calendar.local_today(project)
    overdue = decide(project, lead, before_last, "Update the retrieval snippets", due=today - timedelta(days=2))
    upcoming = decide(project, lead, last, "Publish rubric v3", owner="lead", due=today + timedelta(days=3))
    done = decide(project, lead, last, "Ping the carrier team")
    done.done_at = done.created_at
    done.save()
    mine = decide(project, lead, this_week, "Review the escalations queue")
    client.force_login(lead)

    html = client.get(url("meeting-week", project, week_label(this_week))).content.decode()

    table = open_decisions(html)
    assert "No decisions recorded yet." not in html
    rows = {d.pk: table.split(f'data-decision="{d.pk}"')[1].split("</tr>")[0] for d in (overdue, upcoming)}
    assert table.index(f'data-decision="{overdue.pk}"') < table.index(f'data-decision="{upcoming.pk}"')
    assert "Update the retrieval snippets" in rows[overdue.pk] and "engineer" in rows[overdue.pk]
    assert (today - timedelta(days=2)).isoformat() in rows[overdue.pk] and "overdue" in rows[overdue.pk]
    assert week_label(before_last) in rows[overdue.pk]
    assert (today + timedelta(days=3)).isoformat() in rows[upcoming.pk] and "overdue" not in rows[upcoming.pk]
    assert "Mark done" in rows[upcoming.pk]
    assert f'data-decision="{done.pk}"' not in table and f'data-decision="{mine.pk}"' not in table
    # The week a decision was made in does not carry it to itself.
    assert f'data-decision="{upcoming.pk}"' not in open_decisions(
        client.get(url("meeting-week", project, week_label(last))).content.decode()
    )


def test_a_lead_marks_a_carried_decision_done_and_later_meetings_no_longer_show_it(client, project, lead, weeks):
    """The same post twice (a double click) marks it once, audited once, and answers alike."""
    _, last, this_week = weeks
    decision = decide(project, lead, last, "Update the retrieval snippets")
    client.force_login(lead)
    page = url("meeting-week", project, week_label(this_week))

    answers = [client.post(url("decision-done", project, week_label(this_week), decision.pk)) for _ in "12"]

    assert [answer["Location"] for answer in answers] == [page + "#decisions"] * 2
    decision.refresh_from_db()
    assert decision.done_at is not None and decision.done_by == lead
    assert AuditEvent.objects.filter(action="decision.done", details__decision=decision.pk).count() == 1
    assert not open_decisions(client.get(page).content.decode())
    earlier = client.get(url("meeting-week", project, week_label(last))).content.decode()
    row = earlier.split(f'data-decision="{decision.pk}"')[1].split("</tr>")[0]
    assert "done " in row and "Mark done" not in row


@pytest.mark.parametrize("who", ["expert", "engineer", "outsider"])
def test_only_the_projects_leads_mark_decisions_done(client, request, project, lead, weeks, who):
    _, last, this_week = weeks
    decision = decide(project, lead, last, "Update the retrieval snippets")
    client.force_login(request.getfixturevalue(who))

    assert client.post(url("decision-done", project, week_label(this_week), decision.pk)).status_code == 404
    assert Decision.objects.get(pk=decision.pk).done_at is None


def test_a_decision_of_another_project_is_not_marked_done_through_this_one(client, project, other_project, lead, weeks):
    _, last, this_week = weeks
    decision = decide(project, lead, last, "Update the retrieval snippets")
    MembershipFactory(project=other_project, user=lead, role="lead")
    client.force_login(lead)

    assert client.post(url("decision-done", other_project, week_label(this_week), decision.pk)).status_code == 404
    assert Decision.objects.get(pk=decision.pk).done_at is None


def test_decision_texts_are_shown_as_safe_markdown(client, project, lead, weeks):
    """A decision written in Markdown (as the guidelines are) reads as formatted text, never as raw HTML."""
    _, last, this_week = weeks
    text = "Evasive answers fail `correct` on **gpt-4.1-mini**. <script>alert(1)</script> [x](javascript:alert(1))"
    decide(project, lead, last, text)
    decide(project, lead, this_week, text)
    client.force_login(lead)

    html = client.get(url("meeting-week", project, week_label(this_week))).content.decode()

    for table in (open_decisions(html), html.split('class="grid decision-log"')[1].split("</table>")[0]):
        assert "fail <code>correct</code> on <strong>gpt-4.1-mini</strong>" in table
        assert "**" not in table and "`" not in table
        assert "<script>" not in table and "&lt;script&gt;alert(1)" in table and 'href="javascript:' not in table


def test_a_done_decision_links_leads_to_what_the_project_changed_meanwhile_and_the_section_to_where_it_is_done(
    client, project, lead, expert, weeks
):
    """A decision recorded at 10:00 on one day and marked done at 10:00 two days later: its row links the leads to the
    audit log of exactly those moments (the rubric published in between), not of the whole days (a key made at 09:00
    on the first, one revoked at 11:00 on the last); the section links to the rubric and queue editors, where
    decisions are carried out. An expert, who may not read the audit log, gets neither."""
    _, last, _ = weeks
    decision = decide(project, lead, last, "Publish rubric v3 with a refund-date example")
    recorded = calendar.local_today(project) - timedelta(days=3)
    recorded_at = calendar.day_start(project, recorded) + timedelta(hours=10)
    done_at = calendar.day_start(project, recorded + timedelta(days=2)) + timedelta(hours=10)
    Decision.objects.filter(pk=decision.pk).update(created_at=recorded_at, done_at=done_at)
    AuditEvent.objects.all().delete()  # the record's own row, written now
    at = {
        "before": recorded_at - timedelta(hours=1),
        "added": recorded_at + timedelta(microseconds=300),
        "meanwhile": recorded_at + timedelta(days=1),
        "done": done_at,  # the done's own audit row is of the decision's `done_at` (mark_decision_done)
        "after": done_at + timedelta(hours=1),
    }
    events = {name: AuditEvent.objects.create(project=project, action="rubric.published", actor=lead) for name in at}
    for name, moment in at.items():
        AuditEvent.objects.filter(pk=events[name].pk).update(at=moment)
    page = url("meeting-week", project, week_label(last))
    client.force_login(lead)

    html = client.get(page).content.decode()

    row = html.split(f'data-decision="{decision.pk}"')[1].split("</tr>")[0]
    link = row.split("What changed meanwhile")[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    assert link.startswith(url("audit", project) + "?since=")
    audit = client.get(link)
    assert audit.status_code == 200
    assert [r["event"].pk for r in audit.context["rows"]] == [events[n].pk for n in ("done", "meanwhile", "added")]
    assert 'id="audit-moments"' in audit.content.decode()
    section = html.split('id="decisions"')[1]
    assert f'href="{url("rubric", project)}"' in section and f'href="{url("queues", project)}"' in section

    client.force_login(expert)
    html = client.get(page).content.decode()
    assert url("audit", project) not in html
    assert f'href="{url("rubric", project)}"' not in html.split('id="decisions"')[1]


def test_a_decision_done_at_the_end_of_a_second_links_to_a_log_holding_its_own_done(client, project, lead, monkeypatch):
    """A clock that reads the next second at each call, from a Wednesday's 12:00:00.9999: the decision marked done and
    its "decision.done" audit row are one moment, so the row's "What changed meanwhile" link lists it."""
    start, ticks = datetime(2026, 11, 18, 12, 0, 0, 999_900, tzinfo=UTC), count()
    monkeypatch.setattr("django.utils.timezone.now", lambda: start + timedelta(seconds=next(ticks)))
    created_weeks_ago(project, 52)
    last = calendar.current_week(project) - timedelta(days=7)
    decision = decide(project, lead, last, "Publish rubric v3")
    client.force_login(lead)

    cycles.mark_decision_done(user=lead, project=project, decision_id=decision.pk)

    decision.refresh_from_db()
    assert decision.done_at.microsecond == 999_900
    html = client.get(url("meeting-week", project, week_label(last))).content.decode()
    row = html.split(f'data-decision="{decision.pk}"')[1].split("</tr>")[0]
    link = row.split("What changed meanwhile")[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    assert "decision.done" in [r["event"].action for r in client.get(link).context["rows"]]


def test_a_done_decisions_link_holds_the_moments_from_its_record_to_its_done_exactly(client, project, lead, weeks):
    """Recorded at 10:00:00.7 and done at 10:00:00.5 two days later: the link's window was whole seconds, from
    10:00:00 to 10:00:01 both included, and listed a key made at 10:00:00.3 before the record and one revoked at
    10:00:01 after the done."""
    _, last, _ = weeks
    decision = decide(project, lead, last, "Publish rubric v3 with a refund-date example")
    recorded = calendar.local_today(project) - timedelta(days=3)
    recorded_at = calendar.day_start(project, recorded) + timedelta(hours=10, microseconds=700_000)
    done_at = calendar.day_start(project, recorded + timedelta(days=2)) + timedelta(hours=10, microseconds=500_000)
    Decision.objects.filter(pk=decision.pk).update(created_at=recorded_at, done_at=done_at)
    AuditEvent.objects.all().delete()  # the record's own row, written now
    at = {
        "before": recorded_at - timedelta(microseconds=400_000),
        "added": recorded_at,
        "meanwhile": recorded_at + timedelta(days=1),
        "done": done_at,
        "after": done_at + timedelta(microseconds=500_000),  # the next whole second
    }
    events = {name: AuditEvent.objects.create(project=project, action="api_key.created", actor=lead) for name in at}
    for name, moment in at.items():
        AuditEvent.objects.filter(pk=events[name].pk).update(at=moment)
    client.force_login(lead)

    html = client.get(url("meeting-week", project, week_label(last))).content.decode()

    row = html.split(f'data-decision="{decision.pk}"')[1].split("</tr>")[0]
    link = row.split("What changed meanwhile")[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    listed = [r["event"].pk for r in client.get(link).context["rows"]]
    assert listed == [events[name].pk for name in ("done", "meanwhile", "added")]
