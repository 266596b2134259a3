"""The weekly figures a lead and an expert read on several screens say the same thing, in units that say what they
count: the quota of the queues that have one, a running week's labels against last week by the same moment, an
expert's card in items and in labels, and one "labels this week" on every page (labels on the week's items)."""

import re
from datetime import date, timedelta

import pytest
from django.urls import reverse

from labeling.models import Item, Label, Queue, QueueWeek, Slot, week_label
from labeling.rules import calendar
from labeling.selectors.platform import platform_rows
from labeling.selectors.report import report_of_week
from labeling.services.assignment import next_item
from labeling.services.labels import submit_label
from labeling.services.metrics import refresh_week_metrics
from labeling.services.queues import QueueValues, update_queue
from tests.factories import MembershipFactory, OutputFactory, created_weeks_ago
from tests.helpers.labeling import make_items

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

ANSWERS = {"correct": True, "helpful": 4}


@pytest.fixture(autouse=True)
def project_from_long_ago(project):
    created_weeks_ago(project, 52)


def url(name, project, *args):
    return reverse(f"labeling:{name}", args=[project.slug, *args])


def tile(html: str, key: str) -> str:
    """The text of a meeting page's headline tile, tags dropped and spaces squeezed."""
    part = html.split(f'data-tile="{key}">')[1].split('<div class="tile"')[0].split("</section>")[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part)).strip()


def throughput_cells(html: str, week: date) -> list[str]:
    row = html.split(f'<tr data-week="{week_label(week)}">')[1].split("</tr>")[0]
    return [cell.split("</td>")[0] for cell in row.split('<td class="num">')[1:]]


def queue_week(project, queue, week, *, quota, items, labels):
    QueueWeek.objects.create(project=project, week=week, queue=queue, quota=quota, items=items, items_complete=0,
                             labels_wanted=2 * items, labels=labels, backlog=2 * items - labels)  # fmt: skip


def item_of_week(project, queue, week: date, *, overlap=2) -> Item:
    item = Item.objects.create(project=project, queue=queue, output=OutputFactory(project=project), week=week,
                               overlap=overlap)  # fmt: skip
    for number in range(1, overlap + 1):
        Slot.objects.create(item=item, queue=queue, number=number)
    return item


def label_saved_at(item, expert, rubric, at) -> Label:
    label = Label.objects.create(item=item, expert=expert, rubric=rubric, answers=ANSWERS, seconds_spent=20)
    Label.objects.filter(pk=label.pk).update(created_at=at)
    return label


# 1. The quota of the queues that have one ----------------------------------------------------------------------


def test_the_quota_sums_the_queues_that_have_one_and_says_how_many_of_them_and_what_they_placed(
    client, project, lead, this_week
):
    """Billing wants 20 items a week and escalations 40; a thumbs-down queue takes every output, with no quota. The
    meeting page said "no quota" and the dashboard "—" as soon as one queue had none; they now say the quota of the
    two queues that have one, and the items placed in those two, the figure the quota caps. A paused queue with a
    quota is still no work expected this week."""
    billing = Queue.objects.create(project=project, slug="billing", name="Billing", weekly_quota=20, overlap=2)
    escalations = Queue.objects.create(project=project, slug="escalations", name="Escalations", weekly_quota=40)
    thumbs = Queue.objects.create(project=project, slug="thumbs", name="Thumbs down")
    paused = Queue.objects.create(project=project, slug="paused", name="Paused", weekly_quota=30)
    queue_week(project, billing, this_week, quota=20, items=12, labels=10)
    queue_week(project, escalations, this_week, quota=40, items=40, labels=6)
    queue_week(project, thumbs, this_week, quota=None, items=35, labels=10)
    queue_week(project, paused, this_week, quota=30, items=5, labels=1)
    update_queue(queue=paused, actor=lead, values=QueueValues(slug="paused", name="Paused", weekly_quota=30,
                                                              is_active=False))  # fmt: skip
    client.force_login(lead)

    meeting = client.get(url("meeting-week", project, week_label(this_week))).content.decode()
    markdown = client.get(url("meeting-markdown", project, week_label(this_week))).content.decode()
    dashboard = client.get(url("dashboard", project), {"from": week_label(this_week)}).content.decode()

    labels = tile(meeting, "labels")
    assert "26 / 174" in labels and "on 87 items" in labels
    assert "quota 60 items in 2 of 3 queues (52 placed there)" in labels and "no quota" not in labels
    assert "quota 60 items in 2 of 3 queues (52 placed there)" in markdown
    # The dashboard counts the running week's items now: none placed yet, against the two active quotas (the queue
    # without one has no row yet), then one in each queue: the same quota, of 3 queues.
    assert throughput_cells(dashboard, this_week) == ["0", "0", "0", "60", "0"]
    for queue in (billing, escalations, thumbs, paused):
        Item.objects.create(project=project, queue=queue, output=OutputFactory(project=project), week=this_week,
                            overlap=queue.overlap)  # fmt: skip
    dashboard = client.get(url("dashboard", project), {"from": week_label(this_week)}).content.decode()
    partly = '60 <span class="muted small">(2 of 3 queues)</span>'
    assert throughput_cells(dashboard, this_week) == ["0", "4", "3", partly, "4"]


def test_every_queue_with_a_quota_says_the_quota_alone_and_none_says_no_quota(client, project, lead, this_week):
    billing = Queue.objects.create(project=project, slug="billing", name="Billing", weekly_quota=20)
    thumbs = Queue.objects.create(project=project, slug="thumbs", name="Thumbs down")
    queue_week(project, billing, this_week, quota=20, items=12, labels=10)
    client.force_login(lead)

    both = client.get(url("meeting-week", project, week_label(this_week))).content.decode()
    assert "on 12 items · quota 20 items" in tile(both, "labels") and "of 1 queue" not in tile(both, "labels")
    billing.delete()
    queue_week(project, thumbs, this_week, quota=None, items=3, labels=1)
    none = client.get(url("meeting-week", project, week_label(this_week))).content.decode()
    assert "on 3 items · no quota" in tile(none, "labels")


def test_one_item_is_one_item_on_the_tile_and_in_report_md(client, project, lead, this_week):
    """ "on 1 items · quota 1 items": the counts agree with their nouns (rules.text.counted), on the page and in
    report.md."""
    one = Queue.objects.create(project=project, slug="one", name="One", weekly_quota=1)
    queue_week(project, one, this_week, quota=1, items=1, labels=1)
    client.force_login(lead)

    page = client.get(url("meeting-week", project, week_label(this_week))).content.decode()
    markdown = client.get(url("meeting-markdown", project, week_label(this_week))).content.decode()

    assert "on 1 item · quota 1 item" in tile(page, "labels")
    assert "(1 item; quota 1 item)" in markdown


def test_a_report_frozen_before_quotas_were_counted_per_queue_still_renders_as_it_did(client, project, lead, last_week):
    """Old frozen reports have only `quota` (None when a queue had none): the page and the export read them as
    before, without the queues' count."""
    from labeling.models import CycleStatus, ReviewCycle
    from tests.helpers.reports import sample_report

    old = {"done": 10, "wanted": 30, "quota": None, "items": 15, "previous_done": 4, "change": 6}
    report = sample_report(week=week_label(last_week), week_start=last_week.isoformat())
    report["headline"]["labels"] = old
    ReviewCycle.objects.create(project=project, week=last_week, status=CycleStatus.CLOSED, report=report)
    client.force_login(lead)

    page = client.get(url("meeting-week", project, week_label(last_week))).content.decode()
    markdown = client.get(url("meeting-markdown", project, week_label(last_week))).content.decode()

    assert "on 15 items · no quota" in tile(page, "labels") and "+6 vs last week (4)" in tile(page, "labels")
    assert "(15 items; no quota)" in markdown


# 2. A running week against last week by the same moment -----------------------------------------------------------


def test_a_running_week_is_set_against_last_week_by_the_same_moment_not_its_whole(
    client, project, lead, expert, rubric, this_week, last_week
):
    """Last week had 132 labels in all, 2 of them by this moment of its week; the running week so far has 26. The
    page showed "-106 vs last week (132)" in red every week; it now shows the running week's labels so far with last
    week's by this time and its total, and no change figure."""
    queue = Queue.objects.create(project=project, slug="billing", name="Billing", weekly_quota=100, overlap=2)
    queue_week(project, queue, last_week, quota=100, items=66, labels=132)
    queue_week(project, queue, this_week, quota=100, items=40, labels=26)
    began = calendar.week_start(project, last_week)
    ended = calendar.week_end(project, last_week)
    for at in (began, began):  # by this moment of last week
        label_saved_at(item_of_week(project, queue, last_week), expert, rubric, at)
    label_saved_at(item_of_week(project, queue, last_week), expert, rubric, ended - timedelta(seconds=1))
    label_saved_at(item_of_week(project, queue, last_week), expert, rubric, ended + timedelta(hours=1))  # saved late
    client.force_login(lead)

    page = client.get(url("meeting-week", project, week_label(this_week))).content.decode()
    markdown = client.get(url("meeting-markdown", project, week_label(this_week))).content.decode()
    report = report_of_week(project=project, week=this_week).report  # what the API and the webhooks read

    labels = tile(page, "labels")
    assert "26 / 80" in labels and "so far" in labels
    assert "last week by this time: 2 (132 in all)" in labels
    assert "-106" not in labels and 'class="change' not in page.split('data-tile="labels"')[1].split("</div>")[0]
    assert "last week by this time: 2 (132 in all)" in markdown and "-106" not in markdown
    figures = report["headline"]["labels"]
    assert (figures["change"], figures["previous_done"], figures["previous_by_now"]) == (None, 132, 2)


def test_a_running_week_sets_its_labels_against_last_weeks_in_the_same_queues(
    project, expert, rubric, this_week, last_week
):
    """A queue paused now is left out of the running week's labels so far, so its labels of last week are left out of
    "last week by this time" too: the two count the same queues."""
    billing = Queue.objects.create(project=project, slug="billing", name="Billing", overlap=2)
    paused = Queue.objects.create(project=project, slug="paused", name="Paused", overlap=2, is_active=False)
    began = calendar.week_start(project, last_week)
    for queue in (billing, paused):
        queue_week(project, queue, last_week, quota=None, items=1, labels=1)
        queue_week(project, queue, this_week, quota=None, items=1, labels=1)
        label_saved_at(item_of_week(project, queue, last_week), expert, rubric, began)

    figures = report_of_week(project=project, week=this_week).report["headline"]["labels"]

    assert (figures["done"], figures["previous_by_now"]) == (1, 1)  # billing's alone, on both sides


def test_a_closed_week_still_compares_with_the_whole_week_before(client, project, lead, this_week, last_week):
    queue = Queue.objects.create(project=project, slug="billing", name="Billing", overlap=2)
    queue_week(project, queue, last_week - timedelta(days=7), quota=None, items=66, labels=132)
    queue_week(project, queue, last_week, quota=None, items=40, labels=26)
    client.force_login(lead)

    page = client.get(url("meeting-week", project, week_label(last_week))).content.decode()

    assert "-106 vs last week (132)" in tile(page, "labels") and "so far" not in tile(page, "labels")


# 3. An expert's card: items complete of items placed, and labels by you ---------------------------------------------


def test_an_experts_card_counts_items_against_items_and_names_its_labels(
    client, project, other_project, expert, rubric, last_week
):
    """Overlap 2 and a quota of 40: three items placed, the expert labeled two (nobody else yet), so none is complete.
    The card said "Done this week 0 / 40" with an empty bar beside "My labels this week 2" and the lead's queue list
    said "3 / 40 placed"; it now says 0 of 3 placed items complete (quota 40) with a bar of items over items placed, and
    the expert's 2 labels on this week's items as labels by you. A label saved now on last week's item is not one."""
    queue = Queue.objects.create(project=project, slug="sample", name="Sample", weekly_quota=40, overlap=2)
    make_items(project, 3)
    for _ in range(2):
        submit_label(expert=expert, item=next_item(expert=expert, queue=queue), rubric=rubric, answers=ANSWERS)
    old = item_of_week(project, queue, last_week)
    Label.objects.create(item=old, expert=expert, rubric=rubric, answers=ANSWERS, seconds_spent=9)  # saved now
    MembershipFactory(project=other_project, user=expert, role="expert")  # two projects: the home page lists them
    client.force_login(expert)

    page = client.get(f"/p/{project.slug}/").content.decode()
    home = client.get("/").content.decode()

    card = page.split('data-queue="sample"')[1].split("</section>")[0]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", card))
    assert re.search(r'<progress class="quota" value="0" max="3"', card)
    assert "Items complete this week 0 of 3 placed · quota 40" in text
    assert "Labels by you on this week's items 2" in text
    row = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", home.split('data-queue="sample"')[1].split("</tr>")[0]))
    assert "0 of 3 placed · quota 40" in row and " 2 " in row
    assert "Items complete this week" in home and "Labels by you on this week's items" in home


def test_the_cards_bar_says_item_for_a_single_placed_item(client, project, expert, clear_of_week_start):
    """The bar's own text (what a browser without <progress> shows) read "0 of 1 items"."""
    Queue.objects.create(project=project, slug="sample", name="Sample", weekly_quota=40)
    make_items(project, 1)
    client.force_login(expert)

    card = client.get(f"/p/{project.slug}/").content.decode().split('data-queue="sample"')[1].split("</section>")[0]

    assert re.search(r'<progress class="quota" value="0" max="1"[^>]*>0 of 1 item</progress>', card)


# 4. One "labels this week" on every page -----------------------------------------------------------------------------


def test_every_page_counts_labels_this_week_on_this_weeks_items(
    client, project, lead, expert, rubric, this_week, last_week
):
    """The expert saved 3 labels this week on last week's items (left over) and 2 on this week's. The experts and
    members pages said 5 (saved since the week began) while the meeting and platform pages said 2 (on this week's
    items); every page now says 2, as the quota and the meeting count."""
    queue = Queue.objects.create(project=project, slug="sample", name="Sample", overlap=2)
    for _ in range(3):
        Label.objects.create(item=item_of_week(project, queue, last_week), expert=expert, rubric=rubric,
                             answers=ANSWERS, seconds_spent=9)  # fmt: skip
    for _ in range(2):
        Label.objects.create(item=item_of_week(project, queue, this_week), expert=expert, rubric=rubric,
                             answers=ANSWERS, seconds_spent=9)  # fmt: skip
    refresh_week_metrics(project=project, week=this_week)  # the hourly refresh the meeting and platform pages read
    client.force_login(lead)

    experts = client.get(f"/p/{project.slug}/manage/experts/")
    members = client.get(f"/p/{project.slug}/manage/members/")
    meeting = client.get(url("meeting-week", project, week_label(this_week))).content.decode()
    [platform] = [row for row in platform_rows() if row.project == project]
    client.force_login(expert)
    card = client.get(f"/p/{project.slug}/")

    assert experts.context["totals"]["labels_this_week"] == 2
    assert {row["progress"].user.username: row["progress"].labels_this_week for row in experts.context["rows"]}[
        "erin"
    ] == 2
    assert {row.user.username: row.labels_this_week for row in members.context["rows"]}["erin"] == 2
    assert tile(meeting, "labels").startswith("Labels done 2 /")
    assert platform.this_week.labels == 2
    assert [queue.my_labels_this_week for queue in card.context["queues"]] == [2]


def test_a_computed_week_counts_a_quota_queue_that_got_no_item_with_0_placed(client, project, lead, last_week):
    """Escalations wants 40 items a week and got none in a computed week; billing (quota 20) got 2 and a thumbs-down
    queue without one got 1. The refresh stored no row for escalations, so the tile said "quota 20 items in 1 of 2
    queues" (and "no quota" once billing got nothing too): a quota nothing was placed against still is one, 0 placed."""
    billing = Queue.objects.create(project=project, slug="billing", name="Billing", weekly_quota=20)
    Queue.objects.create(project=project, slug="escalations", name="Escalations", weekly_quota=40)
    thumbs = Queue.objects.create(project=project, slug="thumbs", name="Thumbs down")
    Queue.objects.filter(project=project).update(created_at=calendar.week_start(project, last_week))
    for queue, items in ((billing, 2), (thumbs, 1)):
        for _ in range(items):
            item_of_week(project, queue, last_week)
    refresh_week_metrics(project=project, week=last_week)
    client.force_login(lead)

    def figures():
        page = client.get(url("meeting-week", project, week_label(last_week))).content.decode()
        markdown = client.get(url("meeting-markdown", project, week_label(last_week))).content.decode()
        dashboard = client.get(url("dashboard", project), {"from": week_label(last_week)}).content.decode()
        return tile(page, "labels"), markdown, throughput_cells(dashboard, last_week)[3]

    labels, markdown, dashboard_quota = figures()
    assert "quota 60 items in 2 of 3 queues (2 placed there)" in labels
    assert "quota 60 items in 2 of 3 queues (2 placed there)" in markdown
    assert dashboard_quota == '60 <span class="muted small">(2 of 3 queues)</span>'

    Item.objects.filter(queue=billing).delete()
    refresh_week_metrics(project=project, week=last_week)
    labels, markdown, dashboard_quota = figures()
    assert "quota 60 items in 2 of 3 queues (0 placed there)" in labels and "no quota" not in labels
    assert "quota 60 items in 2 of 3 queues (0 placed there)" in markdown
    assert dashboard_quota == '60 <span class="muted small">(2 of 3 queues)</span>'
