"""A real chromium: a staff user creates a project from a rubric template, by keyboard and mouse, and lands on its
page as its lead."""

import pytest

from labeling.models import Membership, Project, Rubric
from labeling.services.rubric_templates import BY_KEY
from tests.factories import UserFactory
from tests.helpers.browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_create_a_project_from_a_template_and_land_on_its_page(page, live_server):
    UserFactory(username="stella", is_staff=True)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: "Content Security Policy" in message.text and errors.append(message.text))
    sign_in(page, live_server, "stella")

    with page.expect_navigation():  # until the page has loaded, projects.js may not suggest the slug yet
        page.get_by_role("link", name="New project").first.click()
    page.get_by_label("Name").fill("Refund assistant")
    assert page.input_value("input[name=slug]") == "refund-assistant"  # suggested by projects.js
    page.get_by_label("Time zone").select_option("Europe/Berlin")
    page.get_by_label("Weeks start on").select_option(label="Tuesday")
    # The templates' questions are on the page before choosing; pick one with the keyboard.
    assert page.locator("ol[data-template=sql-correctness] li").count() == len(BY_KEY["sql-correctness"].questions)
    page.get_by_role("radio", name="Summary faithfulness").focus()
    page.keyboard.press("ArrowRight")  # to the next template in the group: SQL correctness
    assert page.get_by_role("radio", name="SQL correctness").is_checked()

    with page.expect_navigation():
        page.get_by_role("button", name="Create project").click()

    assert page.url.endswith("/p/refund-assistant/")
    assert "you are its lead" in page.locator(".messages").inner_text()
    assert page.locator("#getting-started").is_visible()
    project = Project.objects.get(slug="refund-assistant")
    assert set(project.queues.values_list("slug", flat=True)) == {q["slug"] for q in BY_KEY["sql-correctness"].queues}
    assert (project.time_zone, project.cycle_weekday) == ("Europe/Berlin", 1)
    assert Membership.objects.get(project=project).role == "lead"
    assert Rubric.objects.get(project=project).questions == BY_KEY["sql-correctness"].questions
    assert errors == []
