"""Weeks before the project holding review items (outputs sent with older dates, then routed, say by late feedback):
beat never closes one (`rules.weekly_close.left_to_a_lead`), so their leads are told on the project page and the
home page's card, with a link to the oldest one's meeting page, where the close-by-hand button is. Gold and datasets
do not wait for such a close (an item's gold is resolved when it completes, datasets take every complete item): its
figures do, which only its close freezes into a report.
"""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from labeling.models import Item, Project, ReviewCycle, week_label
from labeling.rules.calendar import cycle_week, week_start
from tests.factories import MembershipFactory
from tests.helpers.labeling import label_outputs, make_items

NOTICE = "weeks-before-the-project"


def named(week) -> str:
    """A week as the pages name it: "2026-W49 (week of 30 Nov)"."""
    return f"{week_label(week)} (week of {week.day} {week:%b})"


def card(page: str, slug: str) -> str:
    return re.search(rf'data-project="{slug}".*?</section>', page, re.S).group(0)


@pytest.fixture
def history(project):
    """The project created 30 days ago; before it, a week of two labeled items, a week of one open item, and a week
    of one item a lead closed already. Returns the two unclosed weeks, oldest first."""
    now = timezone.now()
    Project.objects.filter(pk=project.pk).update(created_at=now - timedelta(days=30))
    project.refresh_from_db()
    closed, oldest, later = (cycle_week(project, now - timedelta(days=days)) for days in (120, 100, 70))
    label_outputs(project, 1, occurred_at=now - timedelta(days=120))
    make_items(project, 1, occurred_at=now - timedelta(days=100))
    label_outputs(project, 2, occurred_at=now - timedelta(days=70))
    ReviewCycle.objects.create(project=project, week=closed, status="closed", closed_at=now)
    assert sorted(Item.objects.values_list("week", flat=True)) == [closed, oldest, later, later]
    assert later < cycle_week(project, project.created_at)
    return oldest, later


def test_a_lead_is_told_on_the_project_page_of_weeks_before_the_project_no_close_reads(client, project, lead, history):
    oldest, _ = history
    client.force_login(lead)

    page = client.get(f"/p/{project.slug}/").content.decode()

    [notice] = re.findall(
        r'<p class="notice weeks-before-the-project" id="weeks-before-the-project">(.*?)</p>', page, re.S
    )
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", notice)).strip()
    assert text.startswith(f"The week {named(oldest)}, before the project was created, holds 1 review item")
    assert "and is not closed (nor is 1 later week before the project)." in text
    assert "Weeks before the project never close by themselves: their figures go into no report" in text
    assert f'href="/p/{project.slug}/meeting/{week_label(oldest)}/#close-week"' in notice
    assert 'id="close-week"' in client.get(f"/p/{project.slug}/meeting/{week_label(oldest)}/").content.decode()


def test_a_lead_reads_it_on_the_home_page_card_of_that_project_only(client, project, lead, other_project, history):
    oldest, later = history
    MembershipFactory(project=other_project, user=lead, role="lead")
    ReviewCycle.objects.create(project=project, week=oldest, status="closed", closed_at=timezone.now())
    client.force_login(lead)

    page = client.get("/").content.decode()

    support = card(page, "support-bot")
    assert f"The week {named(later)}, before the project was created, holds 2 review items" in support
    assert "later week" not in support
    assert f'href="/p/{project.slug}/meeting/{week_label(later)}/#close-week"' in support
    assert NOTICE not in card(page, "sql-assistant")


def test_nothing_is_said_once_those_weeks_are_closed(client, project, lead, history):
    for week in history:
        ReviewCycle.objects.create(project=project, week=week, status="closed", closed_at=timezone.now())
    client.force_login(lead)

    assert NOTICE not in client.get(f"/p/{project.slug}/").content.decode()


def test_an_expert_is_not_told(client, project, expert, lead, other_project, history):
    """Experts see no weekly close on either page: closing is a lead's."""
    MembershipFactory(project=other_project, user=expert, role="expert")
    client.force_login(expert)

    assert NOTICE not in client.get(f"/p/{project.slug}/").content.decode()
    assert NOTICE not in client.get("/").content.decode()


def test_the_home_page_reads_those_weeks_in_one_query_however_many_projects_hold_them(
    client, project, lead, other_project, history, this_week, django_assert_num_queries
):
    """Every project the lead manages asks, in one query for all of them, whatever the reasons its weeks are left
    open (here also a week behind one a lead closed by hand)."""
    MembershipFactory(project=other_project, user=lead, role="lead")
    label_outputs(project, 1, occurred_at=week_start(project, this_week - timedelta(days=14)) + timedelta(days=1))
    ReviewCycle.objects.create(
        project=project, week=this_week - timedelta(days=7), status="closed", closed_at=timezone.now()
    )
    now = timezone.now()
    Project.objects.filter(pk=other_project.pk).update(created_at=now - timedelta(days=30))
    label_outputs(other_project, 1, occurred_at=now - timedelta(days=70))
    client.force_login(lead)

    # session, user, projects with their counts, the lead's queues, the cycles (each project's latest closed among
    # them), the weeks beat leaves open of both projects
    with django_assert_num_queries(6):
        page = client.get("/").content.decode()

    assert NOTICE in card(page, "support-bot") and NOTICE in card(page, "sql-assistant")
    assert "weeks-behind-a-closed-week" in card(page, "support-bot")


def test_a_week_routed_before_a_time_zone_move_that_falls_before_the_week_created_in_is_told_on_both_pages(
    client, project, lead, other_project
):
    """Created late on the day before a week starts (UTC), an output an hour later was routed into the week before;
    moved to Tokyo, the project was created in the week after it, so beat never closes that week. Both pages say so
    (the home page asked only of projects sent outputs dated before they were created, and said nothing)."""
    MembershipFactory(project=other_project, user=lead, role="lead")
    Project.objects.filter(pk=project.pk).update(time_zone="UTC")
    project.refresh_from_db()
    routed_in = cycle_week(project, timezone.now() - timedelta(days=21))
    created = week_start(project, routed_in + timedelta(days=7)) - timedelta(hours=2)
    Project.objects.filter(pk=project.pk).update(created_at=created)
    label_outputs(project, 1, occurred_at=created + timedelta(hours=1))
    Project.objects.filter(pk=project.pk).update(time_zone="Asia/Tokyo")
    project.refresh_from_db()
    assert Item.objects.get().week == routed_in < cycle_week(project, project.created_at)
    client.force_login(lead)

    assert NOTICE in client.get(f"/p/{project.slug}/").content.decode()
    assert NOTICE in card(client.get("/").content.decode(), "support-bot")


def test_the_meeting_page_and_the_dashboard_say_why_the_weekly_close_leaves_a_week_before_the_project_open(
    client, project, lead, history
):
    """They said it "closes only the weeks after the latest closed one", true of a week left behind a closed one; a
    week before the project is left open because it predates the project."""
    _, later = history
    client.force_login(lead)

    meeting = client.get(f"/p/{project.slug}/meeting/{week_label(later)}/").content.decode()
    dashboard = client.get(reverse("labeling:dashboard", args=[project.slug])).content.decode()

    reason = "it never closes a week before the one the project was created in"
    assert f"the weekly close will not close it ({reason})" in meeting
    [row] = re.findall(rf'<tr data-week="{week_label(later)}">.*?</tr>', dashboard, re.S)
    assert f"the weekly close will not close it ({reason})" in row
    assert "closes only the weeks after the latest closed one" not in meeting + row


# Weeks inside the project that beat leaves open (`rules.weekly_close.beat_closes`): behind a week a lead closed by
# hand, or, in a project that never closed a week, before the last week that ended, where beat starts. No close reads
# their items either, so their leads are told too, each with its reason (`rules.weekly_close.why_left_open`).


def notices(page: str) -> dict[str, str]:
    """The project page's notices of weeks left open, by their id, as text with the close link's href kept."""
    found = re.findall(r'<p class="notice weeks-[a-z-]+" id="(weeks-[a-z-]+)">(.*?)</p>', page, re.S)
    return {key: re.sub(r"\s+", " ", re.sub(r"<(?!a )[^>]+>", "", text)).strip() for key, text in found}


LEFT_OPEN = ("weeks-before-the-project", "weeks-behind-a-closed-week", "weeks-before-the-first-close")


def told(page: str) -> bool:
    return any(key in page for key in LEFT_OPEN)


def in_week(project, week):
    return week_start(project, week) + timedelta(days=1)


@pytest.fixture
def old_project(project, clear_of_week_start):
    """The project created ten weeks ago."""
    Project.objects.filter(pk=project.pk).update(created_at=timezone.now() - timedelta(days=70))
    project.refresh_from_db()
    return project


def test_a_week_behind_a_week_a_lead_closed_by_hand_is_told_with_its_reason(
    client, old_project, lead, other_project, this_week
):
    project = old_project
    MembershipFactory(project=other_project, user=lead, role="lead")  # else the home page sends the lead to the project
    behind, later_behind, closed = (this_week - timedelta(days=7 * n) for n in (5, 4, 3))
    label_outputs(project, 2, occurred_at=in_week(project, behind))
    make_items(project, 1, occurred_at=in_week(project, later_behind))
    make_items(project, 1, occurred_at=in_week(project, closed))
    ReviewCycle.objects.create(project=project, week=closed, status="closed", closed_at=timezone.now())
    client.force_login(lead)

    found = notices(client.get(f"/p/{project.slug}/").content.decode())

    assert list(found) == ["weeks-behind-a-closed-week"]
    text = found["weeks-behind-a-closed-week"]
    assert text.startswith(f"The week {named(behind)} holds 2 review items")
    assert "and is not closed (nor is 1 later week left open)." in text
    assert "The weekly close will not close it (it closes only the weeks after the latest closed one)" in text
    assert f'href="/p/{project.slug}/meeting/{week_label(behind)}/#close-week"' in text
    assert 'id="close-week"' in client.get(f"/p/{project.slug}/meeting/{week_label(behind)}/").content.decode()
    card_text = card(client.get("/").content.decode(), project.slug)
    assert "weeks-behind-a-closed-week" in card_text and week_label(behind) in card_text


def test_a_project_that_never_closed_a_week_is_told_of_the_weeks_before_its_last_ended_one(
    client, old_project, lead, other_project, this_week
):
    project = old_project
    MembershipFactory(project=other_project, user=lead, role="lead")
    early = this_week - timedelta(days=7 * 6)
    label_outputs(project, 3, occurred_at=in_week(project, early))
    make_items(project, 1, occurred_at=in_week(project, this_week - timedelta(days=7)))  # the last ended: beat's
    client.force_login(lead)

    found = notices(client.get(f"/p/{project.slug}/").content.decode())
    home = card(client.get("/").content.decode(), project.slug)

    assert list(found) == ["weeks-before-the-first-close"]
    text = found["weeks-before-the-first-close"]
    assert text.startswith(f"The week {named(early)} holds 3 review items and is not closed.")
    assert "(the project never closed a week, and it starts at the last one that ended)" in text
    assert f'href="/p/{project.slug}/meeting/{week_label(early)}/#close-week"' in text
    assert "weeks-before-the-first-close" in home and f"/meeting/{week_label(early)}/#close-week" in home
    assert not told(card(client.get("/").content.decode(), other_project.slug))


def test_a_week_before_the_project_and_one_behind_a_closed_week_are_told_each_with_its_reason(
    client, project, lead, history, this_week
):
    oldest, _ = history
    behind, closed = this_week - timedelta(days=14), this_week - timedelta(days=7)
    make_items(project, 1, occurred_at=in_week(project, behind))
    ReviewCycle.objects.create(project=project, week=closed, status="closed", closed_at=timezone.now())
    client.force_login(lead)

    found = notices(client.get(f"/p/{project.slug}/").content.decode())

    assert list(found) == ["weeks-before-the-project", "weeks-behind-a-closed-week"]
    assert f"meeting/{week_label(oldest)}/#close-week" in found["weeks-before-the-project"]
    assert f"meeting/{week_label(behind)}/#close-week" in found["weeks-behind-a-closed-week"]
    # Each reason's oldest week has its items counted, the one behind the closed week too (after the older one).
    assert "holds 1 review item and" in found["weeks-behind-a-closed-week"]


def test_a_week_behind_a_closed_one_is_told_with_its_items_after_an_older_week_whose_failed_close_beat_retries(
    client, old_project, lead, other_project, this_week
):
    """Beat retries the older week's failed close, so it is not told of; the week after it is, with its own items
    counted (not the retried week's, nor none)."""
    project = old_project
    MembershipFactory(project=other_project, user=lead, role="lead")
    retried, behind, closed = (this_week - timedelta(days=7 * n) for n in (6, 5, 3))
    label_outputs(project, 2, occurred_at=in_week(project, behind))  # makes the queue the next ones are routed to
    make_items(project, 3, occurred_at=in_week(project, retried))
    assert Item.objects.filter(week=retried).count() == 3
    ReviewCycle.objects.create(project=project, week=retried, failure_kind="close", last_error="boom")
    ReviewCycle.objects.create(project=project, week=closed, status="closed", closed_at=timezone.now())
    client.force_login(lead)

    found = notices(client.get(f"/p/{project.slug}/").content.decode())
    home = card(client.get("/").content.decode(), project.slug)

    assert list(found) == ["weeks-behind-a-closed-week"]
    text = found["weeks-behind-a-closed-week"]
    assert text.startswith(f"The week {named(behind)} holds 2 review items and is not")
    assert f'href="/p/{project.slug}/meeting/{week_label(behind)}/#close-week"' in text
    # The retried week is told of as a failed close, not as a week left open.
    left_open = "".join(home.split("home-left-open")[1:])
    assert "holds 2 review items" in left_open and week_label(retried) not in left_open


def test_a_week_holding_more_review_items_than_a_page_counts_says_over_that_many(
    client, old_project, lead, this_week, monkeypatch
):
    """A page load counts the oldest week's items up to a cap (a week of imported history may hold any number)."""
    monkeypatch.setattr("labeling.selectors.left_open.COUNTED_UP_TO", 2)
    project = old_project
    behind, closed = this_week - timedelta(days=7 * 5), this_week - timedelta(days=7 * 3)
    label_outputs(project, 3, occurred_at=in_week(project, behind))
    ReviewCycle.objects.create(project=project, week=closed, status="closed", closed_at=timezone.now())
    client.force_login(lead)

    text = notices(client.get(f"/p/{project.slug}/").content.decode())["weeks-behind-a-closed-week"]
    assert text.startswith(f"The week {named(behind)} holds over 2 review items and is")

    Item.objects.filter(pk=Item.objects.filter(week=behind).order_by("pk").first().pk).delete()
    text = notices(client.get(f"/p/{project.slug}/").content.decode())["weeks-behind-a-closed-week"]
    assert text.startswith(f"The week {named(behind)} holds 2 review items and is")


@pytest.mark.parametrize(
    "closed_weeks_ago, failed",
    [
        (5, False),  # the week itself is closed
        (6, False),  # the latest closed week is before it: beat closes it (it is due)
        (6, True),  # behind a closed week, but its close failed: beat retries it
    ],
)
def test_no_week_beat_closes_or_closed_is_told(
    client, old_project, lead, other_project, this_week, closed_weeks_ago, failed
):
    project = old_project
    MembershipFactory(project=other_project, user=lead, role="lead")
    week = this_week - timedelta(days=7 * 5)
    label_outputs(project, 1, occurred_at=in_week(project, week))
    make_items(project, 1, occurred_at=in_week(project, this_week))  # the running week: not due yet
    make_items(project, 1, occurred_at=in_week(project, this_week - timedelta(days=7)))  # the last ended: after it
    ReviewCycle.objects.create(
        project=project, week=this_week - timedelta(days=7 * closed_weeks_ago), status="closed",
        closed_at=timezone.now(),
    )  # fmt: skip
    if failed:
        ReviewCycle.objects.create(project=project, week=week, failure_kind="close", last_error="boom")
        ReviewCycle.objects.create(
            project=project, week=this_week - timedelta(days=14), status="closed", closed_at=timezone.now()
        )
    client.force_login(lead)

    assert notices(client.get(f"/p/{project.slug}/").content.decode()) == {}
    assert not told(card(client.get("/").content.decode(), project.slug))


def test_an_expert_is_not_told_of_a_week_behind_a_closed_one(client, old_project, expert, lead, this_week):
    project = old_project
    label_outputs(project, 1, occurred_at=in_week(project, this_week - timedelta(days=21)))
    ReviewCycle.objects.create(
        project=project, week=this_week - timedelta(days=14), status="closed", closed_at=timezone.now()
    )
    client.force_login(lead)
    assert "weeks-behind-a-closed-week" in client.get(f"/p/{project.slug}/").content.decode()
    client.force_login(expert)

    assert "weeks-behind-a-closed-week" not in client.get(f"/p/{project.slug}/").content.decode()
    assert "weeks-behind-a-closed-week" not in client.get("/").content.decode()


def table_scans(*models) -> int:
    """The scans (sequential and index, each rescan counted) of the models' tables so far in this transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0) FROM pg_stat_xact_user_tables"
            " WHERE relname = ANY(%s)",
            [[model._meta.db_table for model in models]],
        )
        return int(cursor.fetchone()[0])


def test_a_page_load_reads_no_more_of_a_project_150_weeks_old_than_of_one_10_weeks_old(
    client, project, lead, other_project, this_week
):
    """Both pages asked each calendar week since the project's creation whether it was closed, one probe of the
    cycles' index a week (1 ms for 150 weeks, 57-110 ms for a lead of 40 such projects). They read the closed weeks
    in one range and look only into the weeks between them: as many scans whatever the project's age."""
    if connection.vendor != "postgresql":
        pytest.skip("counts the scans in PostgreSQL's statistics of the transaction")
    MembershipFactory(project=other_project, user=lead, role="lead")  # else the home page sends the lead to the project
    behind = this_week - timedelta(days=21)
    label_outputs(project, 1, occurred_at=in_week(project, behind))
    client.force_login(lead)

    def scans_at_age(weeks: int) -> int:
        Project.objects.filter(pk=project.pk).update(created_at=timezone.now() - timedelta(weeks=weeks))
        project.refresh_from_db()
        created, closed = cycle_week(project, project.created_at), set(project.cycles.values_list("week", flat=True))
        every_week = (created + timedelta(days=7 * n) for n in range((this_week - created).days // 7))
        ReviewCycle.objects.bulk_create(
            ReviewCycle(project=project, week=week, status="closed", closed_at=timezone.now())
            for week in every_week
            if week != behind and week not in closed
        )

        def both_pages() -> str:
            home = client.get("/").content.decode()
            return client.get(f"/p/{project.slug}/").content.decode() + card(home, project.slug)

        both_pages()  # whatever a first load reads once
        before = table_scans(ReviewCycle, Item)
        page = both_pages()
        assert page.count(f"meeting/{week_label(behind)}/#close-week") == 2
        return table_scans(ReviewCycle, Item) - before

    young = scans_at_age(10)
    assert scans_at_age(150) == young


def test_a_closed_week_off_the_projects_calendar_does_not_hide_a_later_open_week_holding_items(
    client, old_project, lead, this_week
):
    """An imported (or old) closed cycle dated off the project's weekday grid is no edge of the weeks left open: the
    weeks between closed ones are walked 7 days from each edge, so from it they would all miss the grid, and the week
    behind the latest closed one went untold."""
    project = old_project
    off_grid, behind, closed = (
        this_week - timedelta(days=7 * 6 - 3),
        this_week - timedelta(days=28),
        this_week - timedelta(days=21),
    )
    label_outputs(project, 2, occurred_at=in_week(project, behind))
    ReviewCycle.objects.create(project=project, week=off_grid, status="closed", closed_at=timezone.now())
    ReviewCycle.objects.create(project=project, week=closed, status="closed", closed_at=timezone.now())
    client.force_login(lead)

    found = notices(client.get(f"/p/{project.slug}/").content.decode())

    assert list(found) == ["weeks-behind-a-closed-week"]
    assert found["weeks-behind-a-closed-week"].startswith(f"The week {named(behind)} holds 2 review items")


def test_an_open_first_week_and_a_reopened_week_between_closed_ones_are_both_told(client, old_project, lead):
    """Two separate gaps of one project: its first week, before its first close, and a week reopened between two
    closed weeks. The notice names the oldest and counts the other; once the oldest closes, it names the other."""
    project = old_project
    first = cycle_week(project, project.created_at)
    reopened = first + timedelta(days=14)
    label_outputs(project, 1, occurred_at=in_week(project, first))
    make_items(project, 2, occurred_at=in_week(project, reopened))
    for week in (first + timedelta(days=7), first + timedelta(days=21)):
        ReviewCycle.objects.create(project=project, week=week, status="closed", closed_at=timezone.now())
    ReviewCycle.objects.create(project=project, week=reopened, status="open")
    client.force_login(lead)

    text = notices(client.get(f"/p/{project.slug}/").content.decode())["weeks-behind-a-closed-week"]

    assert text.startswith(f"The week {named(first)} holds 1 review item and")
    assert "(nor is 1 later week left open)" in text

    ReviewCycle.objects.create(project=project, week=first, status="closed", closed_at=timezone.now())
    text = notices(client.get(f"/p/{project.slug}/").content.decode())["weeks-behind-a-closed-week"]
    assert text.startswith(f"The week {named(reopened)} holds 2 review items and is not closed.")


def test_a_week_after_a_closed_first_week_of_the_project_is_told(client, old_project, lead):
    """The closed week is the split (the week the project was created in): the gap after it starts 7 days on."""
    project = old_project
    first = cycle_week(project, project.created_at)
    behind = first + timedelta(days=7)
    label_outputs(project, 1, occurred_at=in_week(project, behind))
    for week in (first, first + timedelta(days=14)):
        ReviewCycle.objects.create(project=project, week=week, status="closed", closed_at=timezone.now())
    client.force_login(lead)

    found = notices(client.get(f"/p/{project.slug}/").content.decode())

    assert list(found) == ["weeks-behind-a-closed-week"]
    assert found["weeks-behind-a-closed-week"].startswith(f"The week {named(behind)} holds 1 review item and")
