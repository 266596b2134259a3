"""Failure themes on the meeting page and in its Markdown: each theme opens its outputs on the explore page, a lead
saves one as a filter, and the text in them is inert (Django test client)."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from labeling.metrics import themes as theme_metrics
from labeling.models import (
    AuditEvent,
    CycleStatus,
    FailureTheme,
    FailureThemeOutput,
    Output,
    ReviewCycle,
    SavedView,
)
from labeling.models import week_label as label_of
from labeling.rules import calendar
from labeling.rules import explore as explore_rules
from labeling.rules.explore import filter_query, parse_filter
from labeling.rules.twins import TWIN_WINDOW
from labeling.selectors.report import build_report
from labeling.selectors.themes import theme_key
from labeling.services.api_keys import create_api_key
from labeling.services.themes import refresh_week_themes
from tests.factories import OutputFactory, created_weeks_ago
from tests.helpers.reports import HOSTILE_OUTPUT, sample_report
from tests.helpers.themes import planted_corpus

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def project(project):
    """Created two years ago: last week is one of the project's (the API serves no report of a week that ended before
    the project was created and holds no outputs or review work)."""
    return created_weeks_ago(project, 104)


@pytest.fixture
def week(project):
    return calendar.current_week(project) - timedelta(days=7)


@pytest.fixture
def themed_week(project, week):
    """Last week's thumbs-down outputs of three planted kinds (24, 16, 10), themed; one more thumbs-down the week
    before, which no theme holds."""
    documents, _ = planted_corpus(21, {"refund": 24, "tracking": 16, "account": 10})
    start = calendar.week_start(project, week)
    for n, (_, text) in enumerate(documents):
        OutputFactory(project=project, external_id=f"fail-{n:03d}", occurred_at=start + timedelta(hours=n),
                      feedback_score=-1, output=text)  # fmt: skip
    OutputFactory(project=project, external_id="older", occurred_at=start - timedelta(hours=1), feedback_score=-1,
                  output=documents[0][1])  # fmt: skip
    assert refresh_week_themes(project=project, week=week) == 3
    return week


@pytest.fixture
def closed_week(project, themed_week):
    """The themed week, closed: its themes no longer change, so a lead may save one as a filter."""
    report = build_report(project=project, week=themed_week, status=CycleStatus.CLOSED)
    ReviewCycle.objects.create(project=project, week=themed_week, status=CycleStatus.CLOSED, report=report)
    return themed_week


def meeting_url(project, week):
    return reverse("labeling:meeting-week", args=[project.slug, label_of(week)])


def save_url(project, week, rank):
    return reverse("labeling:meeting-theme-save", args=[project.slug, label_of(week), rank])


def theme_members(project, week, rank) -> set[str]:
    return set(
        FailureThemeOutput.objects.filter(theme__project=project, theme__week=week, theme__rank=rank).values_list(
            "output__external_id", flat=True
        )
    )


def explore_ids(html: str) -> set[str]:
    return set(re.findall(r'<li class="result" data-output="([^"]+)"', html))


def test_the_meeting_page_lists_the_weeks_themes_biggest_first(client, project, lead, themed_week):
    client.force_login(lead)
    html = client.get(meeting_url(project, themed_week)).content.decode()
    section = html[html.index('id="failure-themes"') : html.index('id="agenda"')]
    themes = re.findall(r'data-theme="([^"]+)" data-rank="(\d)" data-size="(\d+)"', section)
    assert themes == [(f"{label_of(themed_week)}.{n}", str(n), size) for n, size in ((1, "24"), (2, "16"), (3, "10"))]
    assert "50 failing outputs" in section and "48% of the themed failures" in section
    stored = FailureTheme.objects.get(project=project, week=themed_week, rank=1)
    assert all(f'<span class="term">{term}</span>' in section for term in stored.terms)
    assert len(re.findall(r'<q class="excerpt"><bdi>', section)) == 9


def test_each_theme_link_opens_exactly_its_outputs_on_the_explore_page(client, project, lead, themed_week):
    client.force_login(lead)
    html = client.get(meeting_url(project, themed_week)).content.decode()
    links = [unescape(href) for href in re.findall(r'class="button small theme-link" href="([^"]+)"', html)]
    assert len(links) == 3
    for rank, link in enumerate(links, start=1):
        assert link.endswith(f"?theme={label_of(themed_week)}.{rank}")
        page = client.get(link)
        assert page.status_code == 200
        found = explore_ids(page.content.decode())
        assert found == theme_members(project, themed_week, rank) and len(found) in (24, 16, 10)
        assert f"Failure theme {rank} of {label_of(themed_week)}" in page.content.decode()  # its chip


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-W48", "is not a failure theme like 2026-W48.1"),
        ("2025-W53.1", "2025 has no week 53"),
        ("1900-W01.1", "out of range"),
        ("2026-W48.0", "out of range"),
        ("<b>x</b>", "is not a failure theme"),
    ],
)
def test_a_bad_theme_is_a_400_naming_the_parameter(client, project, lead, value, message):
    client.force_login(lead)
    response = client.get(reverse("labeling:explore", args=[project.slug]), {"theme": value})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="e-theme"' in html and message in unescape(html) and "<b>x</b>" not in html


def test_a_theme_the_project_does_not_have_is_a_400(client, project, other_project, lead, themed_week):
    theirs = FailureTheme.objects.create(project=other_project, week=themed_week, rank=4, terms=["x"], size=1,
                                         share=1, failures=1, themed=1)  # fmt: skip
    client.force_login(lead)
    for value in (f"{label_of(themed_week)}.4", f"{label_of(themed_week - timedelta(days=7))}.1"):
        response = client.get(reverse("labeling:explore", args=[project.slug]), {"theme": value})
        assert response.status_code == 400 and "This project has no failure theme" in response.content.decode()
    assert theirs.pk


def test_a_lead_saves_a_theme_as_a_filter_that_opens_its_outputs(client, project, lead, closed_week):
    client.force_login(lead)
    response = client.post(save_url(project, closed_week, 2))
    view = SavedView.objects.get(project=project)
    terms = FailureTheme.objects.get(project=project, week=closed_week, rank=2).terms
    assert view.name == f"Theme: {', '.join(terms[:3])} ({label_of(closed_week)})"
    assert view.query == f"theme={label_of(closed_week)}.2" and view.created_by == lead
    assert response.status_code == 302 and response["Location"].endswith(f"/explore/?{view.query}")
    assert explore_ids(client.get(response["Location"]).content.decode()) == theme_members(project, closed_week, 2)
    assert AuditEvent.objects.filter(project=project, action="saved_view.created").count() == 1

    twice = client.post(save_url(project, closed_week, 2), follow=True)  # a form posted twice: as the first
    assert "Saved the view" in twice.content.decode()
    SavedView.objects.update(created_at=timezone.now() - TWIN_WINDOW)
    again = client.post(save_url(project, closed_week, 2), follow=True)
    assert SavedView.objects.filter(project=project).count() == 1
    assert "saved already" in again.content.decode()


def test_a_theme_whose_name_another_view_holds_is_not_saved_over_it(client, project, lead, closed_week):
    client.force_login(lead)
    client.post(save_url(project, closed_week, 1))
    SavedView.objects.filter(project=project).update(query="feedback=down")
    response = client.post(save_url(project, closed_week, 1))
    assert response.status_code == 302 and response["Location"].endswith(
        f"{meeting_url(project, closed_week)}#failure-themes"
    )
    assert list(SavedView.objects.values_list("query", flat=True)) == ["feedback=down"]
    assert "has a saved view named" in client.get(response["Location"]).content.decode()


@pytest.mark.parametrize("persona", ["expert", "engineer", "outsider"])
def test_only_leads_save_a_theme(client, request, project, themed_week, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.post(save_url(project, themed_week, 1)).status_code == 404
    assert not SavedView.objects.exists()


def test_saving_a_theme_that_is_not_there_is_a_404(client, project, lead, closed_week):
    client.force_login(lead)
    assert client.post(save_url(project, closed_week, 9)).status_code == 404
    assert client.post(reverse("labeling:meeting-theme-save", args=[project.slug, "2026-W99", 1])).status_code == 404
    assert client.get(save_url(project, closed_week, 1)).status_code == 405
    assert not SavedView.objects.exists()


@pytest.mark.parametrize("minimum", [6, 9])
def test_a_week_without_themes_says_so(client, project, expert, week, monkeypatch, minimum):
    """The page and the Markdown give the threshold the grouping applies (`metrics.themes.MIN_DOCUMENTS`)."""
    monkeypatch.setattr(theme_metrics, "MIN_DOCUMENTS", minimum)
    client.force_login(expert)
    html = client.get(meeting_url(project, week)).content.decode()
    assert 'id="no-themes"' in html and f"at least {minimum} failing outputs" in html
    markdown = client.get(reverse("labeling:meeting-markdown", args=[project.slug, label_of(week)])).content.decode()
    assert "## Failure themes\n\nNo failure themes" in markdown and f"at least {minimum} failing" in markdown
    api = client.get(f"/api/v1/cycles/{label_of(week)}/report?project={project.slug}&format=markdown")
    assert f"at least {minimum} failing outputs" in api.content.decode()


def test_a_theme_key_is_written_once_and_read_back_by_the_explore_filter(project, week):
    key = explore_rules.theme_key(label_of(week), 3)
    assert theme_key(week, 3) == key == f"{label_of(week)}.3"
    assert parse_filter({"theme": [key]}).theme == (label_of(week), 3)
    assert filter_query(parse_filter({"theme": [key]})) == f"theme={key}"


HOSTILE_TERM = '"><img src=x onerror=alert(1)>'


def hostile_report(week) -> dict:
    theme = {"rank": 1, "key": f"{label_of(week)}.1", "terms": [HOSTILE_TERM, "refund"], "size": 7, "share": 1.0,
             "failures": 7, "themed": 7, "explore_query": f"theme={label_of(week)}.1",
             "examples": [{"output": '<b id="x">out</b>', "item_id": None, "excerpt": HOSTILE_OUTPUT}]}  # fmt: skip
    return sample_report(week=label_of(week), week_start=week.isoformat(), themes=[theme])


def test_hostile_terms_and_excerpts_are_inert_on_the_page_and_in_markdown(client, project, lead, week):
    ReviewCycle.objects.create(project=project, week=week, status=CycleStatus.CLOSED, report=hostile_report(week))
    client.force_login(lead)
    html = client.get(meeting_url(project, week)).content.decode()
    section = html[html.index('id="failure-themes"') : html.index('id="agenda"')]
    assert "<img" not in section and "<script>" not in section and '<b id="x">' not in section
    assert "&lt;img src=x onerror=alert(1)&gt;" in section and "&lt;script&gt;" in section
    assert "/explore/output?id=%3Cb%20id%3D%22x%22%3Eout%3C%2Fb%3E" in section  # the example's link: the id as data

    markdown = client.get(reverse("labeling:meeting-markdown", args=[project.slug, label_of(week)])).content.decode()
    themes = markdown[markdown.index("## Failure themes") : markdown.index("## Agenda")]
    assert not re.search(r"(?<!\\)[<>]", themes)  # every angle bracket backslash-escaped: no raw HTML
    assert r'"\>\<img src=x onerror=alert\(1\)\>' in themes and r"\<script\>" in themes


def test_the_markdown_report_has_a_row_per_theme(client, project, lead, themed_week):
    client.force_login(lead)
    markdown = client.get(
        reverse("labeling:meeting-markdown", args=[project.slug, label_of(themed_week)])
    ).content.decode()
    themes = markdown[markdown.index("## Failure themes") : markdown.index("## Agenda")]
    assert "The week's 50 failing outputs, grouped by what they say." in themes
    rows = [line for line in themes.splitlines() if re.match(r"\| \d \|", line)]
    assert [row.split(" | ")[2] for row in rows] == ["24", "16", "10"]
    assert all(f"theme={label_of(themed_week)}.{n}" in row for n, row in enumerate(rows, start=1))


def test_an_expert_gets_no_theme_link_and_explore_refuses_them_a_theme(client, project, expert, themed_week):
    """Experts label blind: a theme's outputs are the week's gold failures (or thumbs-down without gold)."""
    project.experts_can_explore = True
    project.save(update_fields=["experts_can_explore"])
    client.force_login(expert)
    html = client.get(meeting_url(project, themed_week)).content.decode()
    assert 'id="failure-themes"' in html and "theme-link" not in html
    refused = client.get(f"/p/{project.slug}/explore/?theme={label_of(themed_week)}.1")
    assert refused.status_code == 400 and "Experts label blind" in refused.content.decode()


def test_an_expert_reads_the_themes_terms_and_sizes_but_no_example_on_the_page_export_and_api(
    client, project, expert, themed_week
):
    """Experts label blind: an example (excerpt, external id, item) would show them which outputs, their own among
    them, failed their gold answer. Terms and sizes are aggregates, like the pass rates."""
    examples = [
        ex for rank in (1, 2, 3) for ex in FailureTheme.objects.get(project=project, rank=rank).example_output_ids
    ]
    example_ids = set(Output.objects.filter(pk__in=examples).values_list("external_id", flat=True))
    assert len(example_ids) == 9
    client.force_login(expert)
    label = label_of(themed_week)

    html = client.get(meeting_url(project, themed_week)).content.decode()
    section = html[html.index('id="failure-themes"') : html.index('id="agenda"')]
    assert re.findall(r'data-size="(\d+)"', section) == ["24", "16", "10"]
    assert section.count('<span class="term">') >= 3 and 'id="themes-blind"' in section
    assert "excerpt" not in section and "theme-link" not in section and "Save as a filter" not in section
    assert not [external_id for external_id in example_ids if external_id in section]

    markdown = client.get(reverse("labeling:meeting-markdown", args=[project.slug, label])).content.decode()
    themes = markdown[markdown.index("## Failure themes") : markdown.index("## Agenda")]
    rows = [line for line in themes.splitlines() if re.match(r"\| \d \|", line)]
    assert [row.split(" | ")[2] for row in rows] == ["24", "16", "10"]
    assert "Examples" not in themes and "theme=" not in themes
    assert not [external_id for external_id in example_ids if external_id in markdown]

    api = client.get(f"/api/v1/cycles/{label}/report?project={project.slug}").json()
    assert [theme["size"] for theme in api["themes"]] == [24, 16, 10] and all(t["terms"] for t in api["themes"])
    assert not [theme for theme in api["themes"] if "examples" in theme or "explore_query" in theme]
    api_markdown = client.get(f"/api/v1/cycles/{label}/report?project={project.slug}&format=markdown").content
    assert not [external_id for external_id in example_ids if external_id in api_markdown.decode()]


def test_leads_and_api_keys_read_the_themes_examples(client, project, lead, themed_week):
    label = label_of(themed_week)
    secret = create_api_key(project=project, name="reader", scopes=["read"]).secret
    by_key = client.get(f"/api/v1/cycles/{label}/report", HTTP_AUTHORIZATION=f"Bearer {secret}").json()
    client.force_login(lead)
    by_lead = client.get(f"/api/v1/cycles/{label}/report?project={project.slug}").json()
    for report in (by_key, by_lead):
        assert [len(theme["examples"]) for theme in report["themes"]] == [3, 3, 3]
        assert [theme["explore_query"] for theme in report["themes"]] == [f"theme={label}.{n}" for n in (1, 2, 3)]


def test_a_running_weeks_theme_is_not_saved_as_a_filter(client, project, lead, themed_week):
    """The hourly refresh renumbers a running week's themes: `theme=W.2` would later open another cluster."""
    client.force_login(lead)
    html = client.get(meeting_url(project, themed_week)).content.decode()
    assert "Save as a filter" not in html and 'id="themes-save-later"' in html
    response = client.post(save_url(project, themed_week, 2), follow=True)
    assert response.status_code == 200 and "once the week is closed" in response.content.decode()
    assert not SavedView.objects.exists()


def test_a_closed_weeks_page_offers_saving_each_theme(client, project, lead, closed_week):
    client.force_login(lead)
    html = client.get(meeting_url(project, closed_week)).content.decode()
    assert html.count("Save as a filter") == 3 and 'id="themes-save-later"' not in html
