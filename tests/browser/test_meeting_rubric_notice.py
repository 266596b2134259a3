"""A real chromium: the meeting page's notice of a rubric version published during the week wraps inside its box
(a global `[data-version]` rule of lead.css kept it on one line, cut off at the box's edge)."""

from datetime import timedelta

import pytest

from labeling.models import Rubric, week_label
from labeling.rules import calendar
from labeling.services.rubrics import publish_rubric
from tests.factories import created_weeks_ago
from tests.helpers.browser import sign_in
from tests.helpers.rubrics import QUESTIONS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_rubric_notice_wraps_in_its_box(page, live_server, project, rubric, lead, last_week):
    created_weeks_ago(project, 52)
    Rubric.objects.filter(pk=rubric.pk).update(created_at=calendar.week_start(project, last_week) - timedelta(days=30))
    helpful_of_three = [{**q, "scale": [1, 3]} if q["key"] == "helpful" else q for q in QUESTIONS]
    v2 = publish_rubric(project=project, questions=helpful_of_three, guidelines="# New", published_by=lead)
    Rubric.objects.filter(pk=v2.pk).update(created_at=calendar.week_start(project, last_week) + timedelta(days=2))
    sign_in(page, live_server, "lena")

    page.goto(f"{live_server.url}/p/{project.slug}/meeting/{week_label(last_week)}/")

    notice = page.locator("#rubric-published p").first
    assert "Rubric v2 published" in notice.inner_text()
    assert notice.evaluate("p => p.scrollWidth <= p.clientWidth && p.getBoundingClientRect().height > 30")
