"""Counts of a thousand and more are written with their thousands grouped on every page ("12,345 rows"), as the
pages' sentences and emails write them (`rules.text.figure`, `|figure`): a table of 12345 beside "1,234 items" read
as two ways of counting."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from labeling.models import (
    DatasetVersion,
    ExpertWeek,
    ProjectWeek,
    Queue,
    QueueWeek,
    UsageEvent,
    VersionStatus,
    week_label,
)
from labeling.selectors import gold
from labeling.services.datasets import create_dataset
from tests.factories import MembershipFactory, OutputFactory
from tests.helpers.labeling import bulk_labeled_items
from tests.helpers.platform import plant_projects

pytestmark = pytest.mark.django_db


def _text(html: str) -> str:
    """The page's text, tags gone and spaces squeezed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _page(client, name: str, *args, **data) -> str:
    response = client.get(reverse(f"labeling:{name}", args=args), data)
    assert response.status_code == 200
    return _text(response.content.decode())


def test_a_datasets_row_and_split_counts_are_grouped_on_its_list_and_its_page(client, project, lead):
    """A version's stored figures: its rows and each split's."""
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    DatasetVersion.objects.create(
        dataset=dataset, number=1, status=VersionStatus.READY, built_at=timezone.now(), sha256="a" * 64,
        row_count=12345, split_counts={"train": 9876, "test": 2469},
    )  # fmt: skip
    client.force_login(lead)

    for page in (_page(client, "datasets", project.slug), _page(client, "dataset", project.slug, dataset.slug)):
        assert " 12,345 " in page and "train 9,876 " in page and "test 2,469 " in page
        assert "12345" not in page


def test_a_projects_weekly_usage_and_labels_are_grouped_on_the_platform_pages(client, operator):
    """The usage table's outputs, events, bytes, labels and errors; the platform page's labels against those wanted,
    the quota and the outputs rated; the dashboard's throughput."""
    (project,) = plant_projects(1)
    week = ProjectWeek.objects.filter(project=project).latest("week")
    ProjectWeek.objects.filter(pk=week.pk).update(
        outputs=12345,
        events=23456,
        storage_bytes=1234567,
        labels=3456,
        ingest_errors=1200,
        outputs_with_feedback=2000,
        thumbs_down=500,
    )
    QueueWeek.objects.filter(queue__project=project).update(
        labels=1234, labels_wanted=2000, items=1500, quota=2500, backlog=1100
    )
    Queue.objects.filter(project=project).update(weekly_quota=2500)
    client.force_login(operator)

    usage, platform = _page(client, "platform-usage"), _page(client, "platform")
    seen = {
        "usage": f"{week.week:%Y-%m-%d} {project.slug} 12,345 23,456 1,234,567 3,456 " in usage and " 1,200 " in usage,
        "platform": "1,234/2,000 quota 2,500" in platform and "25% of 2,000" in platform,
        "dashboard": " 1,234 2,000 1,500 2,500 1,100 " in _page(client, "dashboard", project.slug),
    }

    assert [page for page, grouped in seen.items() if not grouped] == []


def test_label_counts_are_grouped_on_the_lead_and_expert_pages(
    client, project, other_project, lead, clear_of_week_start, last_week
):
    """A thousand outputs labeled twice this week in a queue of that quota: the rubric's labels, the queues page's
    items placed, each expert's labels this week and all time (the experts page, the members list, the expert's own
    page with its past weeks, home, the project's page and the queue's "all done" page, with the quota), and the
    explore summary's counts."""
    bulk_labeled_items(project, 1000, model="gpt-4o")
    Queue.objects.filter(project=project).update(weekly_quota=1000)  # reached: the "all done" page says so
    client.force_login(lead)
    experts = _page(client, "experts", project.slug)
    seen = {
        "rubric": re.search(r"v1 current .* 2,000 ", _page(client, "rubric", project.slug)) is not None,
        "experts' totals": "Labels this week 2,000 " in experts and "Labels all time 2,000 " in experts,
        "experts' rows": experts.count(" 1,000 1,000 ") == 2,
        "members": _page(client, "members", project.slug).count(" 1,000 ") == 2,
        "queues": "1,000 of 1,000 items" in _page(client, "queues", project.slug),
        "explore summary": " gpt-4o 1,000 " in _page(client, "explore-summary", project.slug),
    }
    labeler = project.memberships.filter(role="expert").first().user
    MembershipFactory(project=other_project, user=labeler, role="expert")  # home lists their projects, not one
    client.force_login(labeler)
    home = _page(client, "home")
    seen["home"] = "All 0 1,000 1,000 of 1,000 placed · quota 1,000" in home
    ExpertWeek.objects.create(  # as last week's close stored it
        project=project, week=last_week, expert=labeler, labels=1200, gold_rate=0.9,
        gold_agreement={"correct": {"agree": 990, "compared": 1100}},
    )  # fmt: skip
    done = _page(client, "next-item", project.slug, "all")
    seen["all done"] = "you gave 1,000 labels here" in done and "quota of 1,000 items is placed" in done
    own = _page(client, "me")
    seen["own page"] = all(
        said in own for said in ("Labels this week 1,000 ", "Labels all time 1,000 ", " 1,200 ", "90% of 1,100 answers")
    )
    overview = _page(client, "project", project.slug)
    seen["project page"] = "All 1,000 of 1,000 items" in overview and "this week's items 1,000 " in overview

    assert [page for page, grouped in seen.items() if not grouped] == []


def test_the_redaction_previews_match_count_is_grouped(client, project, lead):
    client.force_login(lead)
    data = {"phone_region": "US", "custom": r"digit: \d", "sample": "7" * 1500}

    response = client.post(reverse("labeling:redaction-preview", args=[project.slug]), data)

    assert response.status_code == 200
    assert re.search(r'data-count="[^"]+">1,500</dd>', response.content.decode())


def test_the_meetings_movers_count_their_items_grouped(client, project, lead, clear_of_week_start, this_week):
    """A tag's items this week against last week's, in the agenda's "biggest movers"."""
    for weeks_ago, count in ((0, 1200), (1, 1100)):
        moment = timezone.now() - timedelta(days=7 * weeks_ago)
        bulk_labeled_items(project, count, occurred_at=moment, start=10_000 * weeks_ago, tags=["shipping"])
    client.force_login(lead)

    meeting = _page(client, "meeting-week", project.slug, week_label(this_week))

    assert " 1,200 / 1,100 " in meeting


def test_a_failure_themes_sizes_are_grouped(project):
    """The themes' counts, as the meeting page includes them (the themes themselves need PostgreSQL's text search)."""
    theme = {"key": "t1", "rank": 1, "terms": ["refund"], "size": 1500, "share": 0.6, "failures": 3000,
             "themed": 2500, "explore_query": "theme=t1", "examples": []}  # fmt: skip

    html = _text(render_to_string("labeling/meeting/_themes.html", {"report": {"themes": [theme]}, "project": project}))

    assert "the week's 3,000 failing outputs" in html and "an evenly spread 2,500 of them" in html
    assert " 1,500 outputs " in html and "Open all 1,500 in explore" in html


def test_the_adjudication_lists_waiting_count_is_grouped(client, project, lead, monkeypatch):
    """How many ties wait for a lead, of which the list shows the oldest."""
    monkeypatch.setattr(gold, "adjudication_queue", lambda project: ([], 1500))
    client.force_login(lead)

    page = _page(client, "adjudication", project.slug)

    assert "1,500 waiting" in page and "1500" not in page


def test_a_figure_the_context_lacks_is_shown_as_it_is_not_a_500(project):
    """A frozen report written before a count was added to it lacks the key: the page shows nothing there, as it
    did before the count was grouped (the grouping of "" raised ValueError)."""
    shown = Template("{% load expertloop %}[{{ mover.previous_n|figure }}] [{{ mover.n|figure }}]")

    assert shown.render(Context({"mover": {"n": 1234}})) == "[] [1,234]"
    assert shown.render(Context({"mover": {"previous_n": None, "n": Decimal("1234")}})) == "[] [1,234]"


def test_a_figure_of_another_kind_fails_the_page_that_passes_it():
    """A string of digits reaching `|figure` is a view's or selector's mistake: a test rendering the page finds it."""
    with pytest.raises(ValueError):
        Template("{% load expertloop %}{{ n|figure }}").render(Context({"n": "1234"}))


def test_an_end_users_events_around_an_output_are_counted_grouped(client, project, lead):
    """The conversation page's count of what the end user did in the days before the output."""
    output = OutputFactory(project=project, external_id="bad-answer", end_user_id="u-1")
    UsageEvent.objects.bulk_create(
        UsageEvent(project=project, end_user_id="u-1", name="page_view", received_at=output.occurred_at,
                   occurred_at=output.occurred_at - timedelta(minutes=n + 1), content_hash=f"{n:064x}")
        for n in range(1500)
    )  # fmt: skip
    client.force_login(lead)

    page = _page(client, "explore-output", project.slug, id="bad-answer")
    assert "In the 7 days before 1,500 events " in page
