"""A refused form tells a screen reader what is wrong with each field: Django marks a field with errors
aria-invalid="true" aria-describedby="id_<name>_error", and the page must hold an element of that id with the
error in it, or the reference points to nothing and the field is read out as invalid with no reason
(accessibility walkthrough T #1). One guard per server-checked form (Django test client)."""

import re
from html.parser import HTMLParser

import pytest
from django.core import mail

from labeling.models import week_label
from labeling.rules import calendar
from labeling.rules.explore import MAX_QUERY_CHARS, MAX_VALUE_CHARS, PARAMETERS
from tests.factories import UserFactory, created_weeks_ago
from tests.labeling.web.test_password_reset import ask_reset, link_in

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


class _References(HTMLParser):
    """Every id on the page, every id an aria-describedby names, and each invalid control's name. A control in a
    <fieldset> is described by the fieldset's description too (a group of checkboxes: Django's and lead/_choices.html's
    way; a screen reader reads it on entering the group)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: dict[str, str] = {}
        self.described: list[tuple[str, str]] = []
        self.invalid: list[str] = []
        self._open: list[tuple[str, str]] = []  # (id, tag) of elements whose text is being read
        self.text: dict[str, str] = {}
        self._groups: list[str] = []  # the aria-describedby of each open fieldset

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids[attrs["id"]] = tag
            self.text.setdefault(attrs["id"], "")
            self._open.append((attrs["id"], tag))
        described = attrs.get("aria-describedby") or ""
        if tag == "fieldset":
            self._groups.append(described)
        elif attrs.get("name") and not described and self._groups:
            described = self._groups[-1]
        for target in described.split():
            self.described.append((attrs.get("name") or attrs.get("id") or tag, target))
        if attrs.get("aria-invalid") == "true":
            self.invalid.append(attrs.get("name") or attrs.get("id") or tag)

    def handle_endtag(self, tag):
        if tag == "fieldset" and self._groups:
            self._groups.pop()
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index][1] == tag:
                del self._open[index]
                break

    def handle_data(self, data):
        for element_id, _ in self._open:
            self.text[element_id] += data


def references(html: str) -> _References:
    reader = _References()
    reader.feed(html)
    return reader


def assert_every_description_exists(html: str, *, invalid: set[str]) -> _References:
    """Each aria-describedby names an element of the page; each field named in `invalid` is marked invalid and
    described by a non-empty error."""
    page = references(html)
    missing = [(name, target) for name, target in page.described if target not in page.ids]
    assert missing == [], f"aria-describedby naming nothing: {missing}"
    assert invalid <= set(page.invalid), f"not marked invalid: {invalid - set(page.invalid)}"
    for name in invalid:
        errors = [target for field, target in page.described if field == name and not target.endswith("_helptext")]
        assert errors, f"{name} is not described by its error"
        assert all(page.text[target].strip() for target in errors), f"{name}'s error is empty"
    return page


def post_refused(client, url, data, status=400):
    response = client.post(url, data)
    assert response.status_code == status, response.content.decode()[:2000]
    return response.content.decode()


@pytest.fixture
def lead_client(client, lead):
    client.force_login(lead)
    return client


def test_the_meeting_decision_form(lead_client, project):
    created_weeks_ago(project, 4)
    label = week_label(calendar.current_week(project))
    url = f"/p/{project.slug}/meeting/{label}/decisions"
    html = post_refused(lead_client, url, {"text": "", "owner": "lead", "due_date": "not a date"})
    assert_every_description_exists(html, invalid={"text", "due_date"})


def test_the_new_dataset_form(client, engineer, project):
    client.force_login(engineer)
    html = post_refused(
        client, f"/p/{project.slug}/datasets/new", {"name": "", "splits": "train=eighty", "since": "yesterday"}
    )
    assert_every_description_exists(html, invalid={"name", "splits", "since"})


def test_the_invitation_form(lead_client, project):
    html = post_refused(lead_client, f"/p/{project.slug}/manage/members/invite", {"email": "nobody", "role": "x"})
    assert_every_description_exists(html, invalid={"email", "role"})


def test_the_new_project_form(client, settings, db):
    settings.PROJECT_CREATORS = "everyone"
    client.force_login(UserFactory(username="pat"))
    html = post_refused(client, "/projects/new", {"name": "", "slug": "Not A Slug!", "time_zone": "Mars/Base"})
    assert_every_description_exists(html, invalid={"name", "slug", "time_zone"})


def test_the_project_settings_form(lead_client, project):
    html = post_refused(
        lead_client, f"/p/{project.slug}/manage/settings/", {"name": "", "time_zone": "Mars/Base", "cycle_weekday": "9"}
    )
    assert_every_description_exists(html, invalid={"name", "time_zone"})


def test_the_webhook_form(lead_client, project):
    html = post_refused(
        lead_client, f"/p/{project.slug}/manage/webhooks/", {"url": "http://x.example.com/", "kind": "standard"}
    )
    assert_every_description_exists(html, invalid={"url"})


def test_the_api_key_form(lead_client, project):
    html = post_refused(lead_client, f"/p/{project.slug}/keys/", {"name": ""})
    assert_every_description_exists(html, invalid={"name"})


def test_the_rubric_form(lead_client, project, rubric):
    html = post_refused(
        lead_client, f"/p/{project.slug}/manage/rubric/", {"questions": "[]", "guidelines": "x", "replaces": "1"}
    )
    assert_every_description_exists(html, invalid={"questions"})


def test_the_queue_form(lead_client, project):
    html = post_refused(lead_client, f"/p/{project.slug}/manage/queues/new", {"name": "", "slug": "Not A Slug!"})
    assert_every_description_exists(html, invalid={"name"})


def test_the_redaction_form(lead_client, project):
    html = post_refused(
        lead_client,
        f"/p/{project.slug}/manage/redaction/",
        {"builtins": ["email"], "phone_region": "gb", "custom": "no colon here", "sample": "", "save": "1"},
    )
    assert_every_description_exists(html, invalid={"custom"})


def test_the_audit_log_filter(lead_client, project):
    response = lead_client.get(f"/p/{project.slug}/manage/audit/", {"first_day": "yesterday"})
    assert response.status_code == 400
    assert_every_description_exists(response.content.decode(), invalid={"first_day"})


def test_the_password_change_form(client, expert):
    client.force_login(expert)
    html = post_refused(
        client, "/me/password", {"old_password": "not my password", "new_password1": "x", "new_password2": "y"}
    )
    assert_every_description_exists(html, invalid={"old_password"})


def test_the_password_reset_request_form(client, db):
    html = post_refused(client, "/password-reset/", {"email": "not an address"}, status=200)
    assert_every_description_exists(html, invalid={"email"})


def test_the_password_reset_new_password_form(client, expert):
    ask_reset(client, expert.email)
    form_page = client.get(link_in(mail.outbox[0]))  # the token moves into the session: a token-free URL

    html = post_refused(client, form_page["Location"], {"new_password1": "", "new_password2": "short"}, status=200)

    assert_every_description_exists(html, invalid={"new_password1", "new_password2"})
    assert "This field is required." in html and "This password is too short" in html


def test_the_dashboard_week_range(client, lead, project):
    client.force_login(lead)
    response = client.get(f"/p/{project.slug}/dashboard/", {"from": "2026-W99"})
    assert response.status_code == 400
    assert_every_description_exists(response.content.decode(), invalid={"from"})


def test_the_explore_filter_bar(client, lead, project):
    client.force_login(lead)
    response = client.get(f"/p/{project.slug}/explore/", {"min_chars": "lots", "max_chars": "many"})
    assert_every_description_exists(response.content.decode(), invalid={"min_chars", "max_chars"})


@pytest.mark.parametrize("name", list(PARAMETERS))
def test_every_explore_filter_ties_its_error_to_its_field(client, lead, project, name):
    """Each filter of the bar refused alone (a value too long for it): its field is invalid and reads its error."""
    client.force_login(lead)
    too_long = "x" * ((MAX_QUERY_CHARS if name == "q" else MAX_VALUE_CHARS) + 1)

    response = client.get(f"/p/{project.slug}/explore/", {name: too_long})

    assert_every_description_exists(response.content.decode(), invalid={name})


def test_the_sign_in_form(client, expert):
    html = post_refused(client, "/login/", {"username": expert.username, "password": "wrong"}, status=200)
    assert_every_description_exists(html, invalid={"username", "password"})
    # Announced as the page comes back, whatever has focus.
    assert re.search(r'<p class="error" role="alert" id="sign-in-error"', html)
