"""Forms posted twice without JavaScript (a double click with scripts off, a browser sending a slow POST again, a
proxy's retry), through Django's test client: the second post writes nothing (no row, audit event or e-mail) and
answers as the first did. A different write, or the same one again after a minute, is recorded. Two posts at the same
instant leave one row too (PostgreSQL, one thread each)."""

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from html import unescape

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.test import Client
from django.utils import timezone

from labeling.models import (
    Alert,
    AlertRule,
    AlertState,
    ApiKey,
    AuditEvent,
    Comment,
    CycleStatus,
    Dataset,
    Decision,
    FailureTheme,
    Flag,
    Invitation,
    Label,
    LabelRevision,
    Membership,
    OperatorToken,
    Queue,
    ReviewCycle,
    SavedView,
    Skip,
    Slot,
    WebhookDelivery,
    week_label,
)
from labeling.rules.calendar import current_week
from labeling.rules.twins import TWIN_WINDOW
from labeling.services import webhooks
from labeling.services.cycles import add_decision, get_cycle
from labeling.services.datasets import create_dataset
from labeling.services.invitations import invite_member
from labeling.services.labels import flag_item
from labeling.services.rubrics import publish_rubric
from tests.factories import MembershipFactory, OutputFactory, UserFactory, created_weeks_ago
from tests.helpers.concurrency import comes_to_wait_on_a_lock, held_halfway, in_thread_noting_its_pid, run_at_once
from tests.helpers.labeling import AGREE, TIE, handed_token, label_outputs, make_items, take
from tests.helpers.rubrics import QUESTIONS


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def item_url(item, action: str) -> str:
    return f"/p/{item.project.slug}/items/{item.pk}/{action}"


def decisions_url(project) -> str:
    last_week = current_week(project) - timedelta(days=7)
    return f"/p/{project.slug}/meeting/{week_label(last_week)}/decisions"


def mark_url(item) -> str:
    return f"/p/{item.project.slug}/manage/adjudication/{item.pk}/"


def answer(response) -> tuple[int, str]:
    return response.status_code, response.headers.get("Location", "")


def moments_pass(rows, at: str = "created_at") -> None:
    """Date these rows back past the twin window, as if the next post came a minute later."""
    rows.update(**{at: timezone.now() - TWIN_WINDOW - timedelta(seconds=1)})


@dataclass
class Form:
    """A form of the lead or expert pages: who posts it where with what, and the rows one post writes."""

    user: object
    url: str
    data: dict
    rows: object  # a queryset of what one post adds
    emails: int = 0  # what one post sends
    table: str = ""  # the table one post writes last
    request_param: str = ""  # its name in FORMS


def flag_form(project, expert, note="Policy changed last week?", overlap=1) -> Form:
    Queue.objects.create(project=project, slug="all", name="All", weekly_quota=10, overlap=overlap)
    make_items(project, 1)
    item = take(client_of(expert), project.queues.get())
    return Form(expert, item_url(item, "flag"), {"note": note}, Flag.objects.filter(item=item), table="labeling_flag")


class Writes:
    """The rows of several tables, counted together."""

    def __init__(self, *querysets):
        self.querysets = querysets

    def count(self) -> int:
        return sum(rows.count() for rows in self.querysets)


def label_form(project, expert, overlap=1) -> Form:
    form = flag_form(project, expert, overlap=overlap)
    rubric = publish_rubric(project=project, questions=QUESTIONS)
    data = {"q-correct": "yes", "q-helpful": "4", "rubric_id": rubric.pk}
    labels = Writes(Label.objects, LabelRevision.objects)
    return Form(expert, form.url.removesuffix("flag"), data, labels, table="labeling_label")


def comment_form(project, expert) -> Form:
    form = flag_form(project, expert)
    url, data = form.url.replace("/flag", "/comment"), {"body": "The carrier is wrong."}
    return Form(expert, url, data, Comment.objects, table="labeling_comment")


def decision_form(project, lead) -> Form:
    created_weeks_ago(project, 4)
    data = {"text": "Add the refund policy", "owner": "Priya", "due_date": "2026-12-04"}
    return Form(lead, decisions_url(project), data, Decision.objects, table="labeling_decision")


def mark_form(project, lead) -> Form:
    [item] = label_outputs(project, answers=AGREE)
    data = {"action": "mark", "note": "Refund rule looks wrong"}
    marks = AuditEvent.objects.filter(action="gold.marked_for_adjudication")
    return Form(lead, mark_url(item), data, marks, table="labeling_resolution")


def resend_form(project, lead) -> Form:
    invitation = invite_member(project=project, email="nora@example.com", role="expert", invited_by=lead).invitation
    url = f"/p/{project.slug}/manage/invitations/{invitation.pk}/resend"
    return Form(lead, url, {}, AuditEvent.objects.filter(action="member.invitation_resent"), 1, "labeling_invitation")


def invite_form(project, lead) -> Form:
    url = f"/p/{project.slug}/manage/members/invite"
    data = {"email": "nora@example.com", "role": "expert"}
    return Form(lead, url, data, AuditEvent.objects.filter(action="member.invited"), 1, "labeling_invitation")


def redeliver_form(project, lead) -> Form:
    endpoint = webhooks.create_endpoint(
        project=project, created_by=lead, url="https://hooks.example.com/in", events=["output.flagged"]
    ).endpoint
    [item] = label_outputs(project, answers=AGREE)
    flag_item(expert=lead, item=item, note="odd")
    delivery = WebhookDelivery.objects.get()
    url = f"/p/{project.slug}/manage/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/redeliver"
    again = WebhookDelivery.objects.filter(redelivery_of=delivery)
    return Form(lead, url, {}, again, table="labeling_webhookdelivery")


def backfill_form(project, lead) -> Form:
    queue = Queue.objects.create(project=project, slug="all", name="All", weekly_quota=10)
    url = f"/p/{project.slug}/manage/queues/{queue.pk}/backfill"
    asked = AuditEvent.objects.filter(action="queue.backfill_requested")
    return Form(lead, url, {}, asked, table="labeling_auditevent")


def build_form(project, lead) -> Form:
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    url = f"/p/{project.slug}/datasets/{dataset.slug}/build"
    asked = AuditEvent.objects.filter(action="dataset.build_requested")
    return Form(lead, url, {}, asked, table="labeling_auditevent")


def add_to_queue_form(project, lead) -> Form:
    Queue.objects.create(project=project, slug="refunds", name="Refunds", weekly_quota=1)
    for n in range(3):
        OutputFactory(project=project, external_id=f"out-{n}")
    data = {"queue": "refunds", "output": ["out-0", "out-2"], "filter": ""}
    added = AuditEvent.objects.filter(action="queue.outputs_added")
    return Form(lead, f"/p/{project.slug}/explore/add", data, added, table="labeling_auditevent")


def adjudicate_form(project, lead) -> Form:
    [item] = label_outputs(project, answers=TIE)
    decisions = AuditEvent.objects.filter(action__in=["gold.adjudicated", "gold.confirmed"])
    data = {"q-correct": "no", "note": "Refunds take 5 days"}
    return Form(lead, mark_url(item), data, decisions, table="labeling_auditevent")


def delete_decision_form(project, lead) -> Form:
    created_weeks_ago(project, 4)
    cycle = get_cycle(project=project, week=current_week(project) - timedelta(days=7))
    decision = add_decision(user=lead, cycle=cycle, text="Add the refund policy")
    deleted = AuditEvent.objects.filter(action="decision.deleted")
    return Form(lead, f"{decisions_url(project)}/{decision.pk}/delete", {}, deleted, table="labeling_decision")


def save_view_form(project, lead) -> Form:
    data = {"name": "Thumbs down", "query": "feedback=down"}
    return Form(lead, f"/p/{project.slug}/explore/views/save", data, SavedView.objects, table="labeling_savedview")


def delete_view_form(project, lead) -> Form:
    view = SavedView.objects.create(project=project, name="Thumbs down", query="feedback=down")
    deleted = AuditEvent.objects.filter(action="saved_view.deleted")
    return Form(lead, f"/p/{project.slug}/explore/views/{view.pk}/delete", {}, deleted, table="labeling_savedview")


def new_project_form(project, lead) -> Form:
    lead.is_staff = True  # PROJECT_CREATORS: staff
    lead.save()
    data = {
        "name": "FAQ bot",
        "slug": "faq-bot",
        "time_zone": "UTC",
        "cycle_weekday": "1",
        "rubric_template": "scratch",
    }
    made = AuditEvent.objects.filter(action="project.created")
    return Form(lead, "/projects/new", data, made, table="labeling_auditevent")


def new_queue_form(project, lead) -> Form:
    data = {"name": "Refunds", "slug": "refunds", "sample_rate": "1", "overlap": "1", "priority": "0"}
    data |= {"is_active": "on", "weekly_quota": "40"}
    url = f"/p/{project.slug}/manage/queues/new"
    return Form(lead, url, data, Queue.objects, table="labeling_auditevent")


def new_dataset_form(project, lead) -> Form:
    data = {"name": "Support eval", "splits": "train=80, test=20", "auto_rebuild": "on"}
    url = f"/p/{project.slug}/datasets/new"
    return Form(lead, url, data, Dataset.objects, table="labeling_auditevent")


def theme_form(project, lead) -> Form:
    week = current_week(project) - timedelta(days=7)
    ReviewCycle.objects.create(project=project, week=week, status=CycleStatus.CLOSED, report={})
    FailureTheme.objects.create(
        project=project, week=week, rank=1, terms=["refund", "days"], size=3, share=1.0, failures=3, themed=3
    )
    url = f"/p/{project.slug}/meeting/{week_label(week)}/themes/1/save"
    return Form(lead, url, {}, SavedView.objects, table="labeling_savedview")


def settings_form(project, lead) -> Form:
    shown = {"name": project.name, "description": project.description, "time_zone": project.time_zone}
    shown |= {"cycle_weekday": str(project.cycle_weekday), "raw_retention_days": ""}
    data = {**shown, "description": "Answers from the help centre."}
    page = client_of(lead).get(f"/p/{project.slug}/manage/settings/").content.decode()
    data["shown"] = unescape(re.search(r'name="shown" value="([^"]+)"', page).group(1))
    changed = AuditEvent.objects.filter(action="project.settings_changed")
    return Form(lead, f"/p/{project.slug}/manage/settings/", data, changed, table="labeling_auditevent")


def acknowledge_form(project, lead) -> Form:
    alert = Alert.objects.create(
        project=project, rule=AlertRule.QUOTA_MISSED, key="refunds", state=AlertState.OPEN, title="Refunds short"
    )
    seen = AuditEvent.objects.filter(action="alert.acknowledged")
    return Form(lead, f"/p/{project.slug}/alerts/{alert.pk}/acknowledge", {}, seen, table="labeling_auditevent")


def skip_form(project, expert) -> Form:
    # One item: two skips at the same instant would each lease the expert a next item (a race of next_item's claim).
    Queue.objects.create(project=project, slug="all", name="All", weekly_quota=10)
    make_items(project, 1)
    client = client_of(expert)
    item = take(client, project.queues.get())
    handed = handed_token(client.get(item_url(item, "")).content.decode())
    return Form(expert, item_url(item, "skip"), {"handed": handed}, Skip.objects, table="labeling_skip")


def undo_skip_form(project, expert) -> Form:
    form = skip_form(project, expert)
    client_of(expert).post(form.url, form.data)
    undone = Skip.objects.filter(expert=expert).values("pk")  # one post leaves none
    return Form(expert, form.url.replace("/skip", "/unskip"), {}, _Unskipped(undone), table="labeling_skip")


class _Unskipped:
    """Undoing a skip deletes its row: one post leaves one fewer (none)."""

    def __init__(self, skips):
        self.skips = skips

    def count(self) -> int:
        return 1 - self.skips.count()


FORMS = {
    "flag": (flag_form, "expert"),
    "comment": (comment_form, "expert"),
    "label": (label_form, "expert"),
    "label of an item labeled twice": (partial(label_form, overlap=2), "expert"),
    "decision": (decision_form, "lead"),
    "mark for adjudication": (mark_form, "lead"),
    "adjudicate": (adjudicate_form, "lead"),
    "invitation resend": (resend_form, "lead"),
    "invite": (invite_form, "lead"),
    "redeliver": (redeliver_form, "lead"),
    "backfill": (backfill_form, "lead"),
    "dataset build": (build_form, "lead"),
    "add to queue": (add_to_queue_form, "lead"),
    "decision delete": (delete_decision_form, "lead"),
    "save an explore view": (save_view_form, "lead"),
    "delete an explore view": (delete_view_form, "lead"),
    "new project": (new_project_form, "lead"),
    "new queue": (new_queue_form, "lead"),
    "new dataset": (new_dataset_form, "lead"),
    "failure theme as a view": (theme_form, "lead"),
    "project settings": (settings_form, "lead"),
    "alert acknowledge": (acknowledge_form, "lead"),
    "skip": (skip_form, "expert"),
    "undo skip": (undo_skip_form, "expert"),
}


@pytest.fixture(params=list(FORMS))
def form(request, project) -> Form:
    make, persona = FORMS[request.param]
    form = make(project, request.getfixturevalue(persona))
    form.request_param = request.param
    return form


def test_a_form_posted_twice_writes_once_and_answers_as_the_first_did(form, django_capture_on_commit_callbacks):
    client = client_of(form.user)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(form.url, form.data)
        second = client.post(form.url, form.data)

    assert answer(first)[0] == 302 and answer(second) == answer(first)
    assert form.rows.count() == 1 and len(mail.outbox) == form.emails


def said(response) -> list[str]:
    """The messages on the page a post led to."""
    return re.findall(r'<p class="message [^"]*" role="status">(.*?)</p>', response.content.decode(), flags=re.S)


def test_a_form_posted_twice_says_what_the_first_said(form):
    client = client_of(form.user)
    first = said(client.post(form.url, form.data, follow=True))

    second = said(client.post(form.url, form.data, follow=True))

    assert first and second == first


# What the same post gets when it is not a twin: from another person, or a minute later (by the page it leads to).
NOT_A_TWIN = {
    "decision delete": "<h1>Page not found</h1>",
    "save an explore view": "has a saved view named &#x27;Thumbs down&#x27; already.",
    "delete an explore view": "<h1>Page not found</h1>",
    "new project": "A project with slug &#x27;faq-bot&#x27; exists already.",
    "new queue": "This project has a queue with slug &#x27;refunds&#x27; already.",
    "new dataset": "The dataset &#x27;support-eval&#x27; exists already",
    "failure theme as a view": "The theme was saved already, as the view",
    "project settings": "Nothing changed: the settings were saved already.",
    "alert acknowledge": "This alert was already acknowledged or resolved.",
    "undo skip": "<h1>Page not found</h1>",
}


def a_minute_passes() -> None:
    """Date back every trace a twin is known by, as if the next post came a minute later."""
    moments_pass(AuditEvent.objects, at="at")
    moments_pass(SavedView.objects)
    moments_pass(Alert.objects.exclude(acknowledged_at=None), at="acknowledged_at")
    moments_pass(Slot.objects.exclude(leased_at=None), at="leased_at")


def someone_else_like(user, project):
    """Another member of the project in the same role (and as free to create projects)."""
    role = Membership.objects.get(user=user, project=project).role
    return MembershipFactory(project=project, user=UserFactory(username="nina", is_staff=user.is_staff), role=role).user


@pytest.mark.parametrize("form", list(NOT_A_TWIN), indirect=True)
def test_the_same_post_by_someone_else_or_a_minute_later_is_told_what_is_so(form, project):
    client = client_of(form.user)
    client.post(form.url, form.data)

    by_someone_else = client_of(someone_else_like(form.user, project)).post(form.url, form.data, follow=True)
    a_minute_passes()
    later = client.post(form.url, form.data, follow=True)

    for response in (by_someone_else, later):
        assert NOT_A_TWIN[form.request_param] in response.content.decode()
    assert form.rows.count() == 1


@pytest.mark.parametrize(
    "form, change",
    [
        ("save an explore view", {"query": "feedback=up"}),
        ("new project", {"description": "Answers from the help centre."}),
        ("new project", {"rubric_template": "support-reply"}),
        ("new queue", {"weekly_quota": "50"}),
        ("new dataset", {"splits": "train=90, test=10"}),
    ],
    indirect=["form"],
)
def test_another_form_under_the_name_just_taken_is_told_it_is_taken(form, change):
    client = client_of(form.user)
    client.post(form.url, form.data)

    response = client.post(form.url, {**form.data, **change}, follow=True)

    assert NOT_A_TWIN[form.request_param] in response.content.decode() and form.rows.count() == 1


def _issued_twice(client, url, form, model, kind):
    """The form that issues a secret (`kind`: "token" or "key"), posted twice: the second answer shows its own new
    secret, not the first one, and names the first (`id="earlier-<kind>"`), which the first answer did not. Returns
    the earlier row and the page from that note on."""
    first = client.post(url, form)
    second = client.post(url, form)
    earlier, latest = model.objects.order_by("pk")
    page = second.content.decode()
    issued = second.context["issued"]
    assert second.status_code == 200 and (issued.token if kind == "token" else issued.api_key) == latest
    assert first.context["issued"].secret not in page and f'id="earlier-{kind}"' not in first.content.decode()
    return earlier, page[page.index(f'id="earlier-{kind}"') :]


def test_a_token_form_posted_twice_issues_a_second_token_and_names_the_first_for_revoking(project):
    """A secret is kept only as a hash: the first one cannot be shown again. The second post issues its own token
    (revoking the first instead could revoke the one on the screen, when two posts are served out of order) and says
    which earlier token the browser may never have shown. Another name, or a minute later: no such word."""
    operator = UserFactory(username="opal")
    operator.user_permissions.add(Permission.objects.get(codename="operate_all_projects"))
    client = client_of(operator)

    earlier, note = _issued_twice(client, "/platform/tokens/", {"name": "chargeback"}, OperatorToken, "token")

    assert f"elop_{earlier.prefix}_…" in note and f"/platform/tokens/{earlier.pk}/revoke" in note
    other_name = client.post("/platform/tokens/", {"name": "billing"}).content.decode()
    OperatorToken.objects.update(created_at=timezone.now() - TWIN_WINDOW - timedelta(seconds=1))
    later = client.post("/platform/tokens/", {"name": "chargeback"}).content.decode()
    assert 'id="earlier-token"' not in other_name + later


def test_a_key_form_posted_twice_issues_a_second_key_and_names_the_first_for_revoking(project, lead, engineer):
    """As with operator tokens: refusing the second post could be the answer the browser shows while the first key's
    secret, in the answer it never showed, is lost (two posts at once may be served in either order). The second post
    issues its own key and names the first, with a button that revokes it. Other scopes, another person, or a minute
    later: no such word."""
    client, url = client_of(lead), f"/p/{project.slug}/keys/"
    form = {"name": "support-bot prod", "scopes": ["ingest", "read"]}

    earlier, note = _issued_twice(client, url, form, ApiKey, "key")

    latest = ApiKey.objects.exclude(pk=earlier.pk).get()
    assert f"el_{earlier.prefix}_…" in note and f'action="/p/{project.slug}/keys/{earlier.pk}/revoke"' in note
    client.post(f"/p/{project.slug}/keys/{earlier.pk}/revoke")
    assert ApiKey.objects.get(pk=earlier.pk).revoked_at and ApiKey.objects.get(pk=latest.pk).revoked_at is None
    other_scopes = client.post(url, {**form, "scopes": ["read"]}).content.decode()
    someone_else = client_of(engineer).post(url, {**form, "scopes": ["ingest"]}).content.decode()
    ApiKey.objects.update(created_at=timezone.now() - TWIN_WINDOW - timedelta(seconds=1))
    later = client.post(url, form).content.decode()
    assert 'id="earlier-key"' not in other_scopes + someone_else + later and ApiKey.objects.count() == 5


def test_a_flag_or_comment_posted_twice_says_what_the_first_said(project, expert):
    form = flag_form(project, expert)
    client = client_of(expert)
    client.post(form.url, form.data)

    page = client.post(form.url, form.data, follow=True).content.decode()

    assert "Flagged for the weekly review meeting." in page and Flag.objects.count() == 1


def test_outputs_added_to_a_queue_twice_are_said_added_both_times(project, lead):
    form = add_to_queue_form(project, lead)
    client = client_of(lead)
    client.post(form.url, form.data)

    page = client.post(form.url, form.data, follow=True).content.decode()

    assert "2 outputs added to Refunds." in page and "in it already" not in page
    again = client.post(form.url, {**form.data, "output": ["out-0", "out-1"]}, follow=True).content.decode()
    assert "1 output added to Refunds; 1 was in it already." in again and form.rows.count() == 2


def test_a_decision_on_a_case_posted_twice_is_recorded_once_and_another_answer_is_a_new_one(project, lead):
    form = adjudicate_form(project, lead)
    client = client_of(lead)
    client.post(form.url, form.data)

    page = client.post(form.url, form.data, follow=True).content.decode()

    assert "recorded." in page and "confirmed" not in page and form.rows.count() == 1
    client.post(form.url, {**form.data, "q-correct": "yes"})
    assert list(form.rows.values_list("action", flat=True)) == ["gold.adjudicated", "gold.adjudicated"]


def test_a_label_posted_twice_is_saved_not_changed(project, expert):
    form = label_form(project, expert)
    client = client_of(expert)
    client.post(form.url, form.data)

    page = client.post(form.url, form.data, follow=True).content.decode()

    assert "Label saved for item" in page and "Label changed" not in page
    assert not LabelRevision.objects.exists()
    changed = client.post(form.url, {**form.data, "q-helpful": "2"}, follow=True).content.decode()
    assert "Label changed for item" in changed and LabelRevision.objects.count() == 1  # an edit is still one


def test_a_different_body_or_the_same_a_minute_later_is_a_second_comment_and_changes_the_flag(project, expert):
    """An expert has one open flag per item: another note (or the same later) changes it; comments add up."""
    form = flag_form(project, expert)
    client = client_of(expert)
    comment_url = form.url.replace("/flag", "/comment")
    for text in ("Policy changed?", "And the carrier is wrong."):
        client.post(form.url, {"note": text})
        client.post(comment_url, {"body": text})
    moments_pass(Flag.objects)
    moments_pass(Comment.objects)
    client.post(form.url, {"note": "Policy changed?"})
    client.post(comment_url, {"body": "Policy changed?"})

    assert list(Flag.objects.values_list("note", flat=True)) == ["Policy changed?"]
    assert Comment.objects.count() == 3


def test_a_decision_differing_in_its_owner_or_date_is_a_second_decision(project, lead):
    form = decision_form(project, lead)
    client = client_of(lead)
    client.post(form.url, form.data)
    client.post(form.url, {**form.data, "owner": "Sam"})
    client.post(form.url, {**form.data, "due_date": ""})
    client.post(form.url, {**form.data, "due_date": ""})

    assert Decision.objects.count() == 3
    assert {(d.owner, d.due_date) for d in Decision.objects.all()} == {
        ("Priya", date(2026, 12, 4)), ("Sam", date(2026, 12, 4)), ("Priya", None)
    }  # fmt: skip


def test_marking_again_with_another_note_or_after_a_decision_is_recorded(project, lead):
    form = mark_form(project, lead)
    client = client_of(lead)
    client.post(form.url, form.data)
    client.post(form.url, {**form.data, "note": "And the tone"})
    assert form.rows.count() == 2
    client.post(form.url, {"q-correct": "no"})  # the lead decides; the item leaves the list
    client.post(form.url, {**form.data, "note": "And the tone"})

    assert form.rows.count() == 3


def test_the_emailed_link_of_an_invitation_posted_twice_works(project, lead, django_capture_on_commit_callbacks):
    form = invite_form(project, lead)
    client = client_of(lead)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(form.url, form.data)
        client.post(form.url, form.data)
        resend = f"/p/{project.slug}/manage/invitations/{Invitation.objects.get().pk}/resend"
        client.post(resend)
        client.post(resend)

    assert len(mail.outbox) == 2 and Invitation.objects.get().send_count == 2
    link = re.search(r"http://127\.0\.0\.1:8000(/invitations/\S+)", mail.outbox[-1].body).group(1)
    assert Client().get(link).status_code == 200  # the second post did not replace the link just sent


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_form_posted_twice_at_the_same_instant_writes_once(form):
    def post():
        return answer(client_of(form.user).post(form.url, form.data))

    sent = len(mail.outbox)  # the invitation a resend needs went out when it was made
    results, errors = run_at_once(post, [(), ()])

    assert errors == [] and results[0] == results[1] and results[0][0] == 302
    assert form.rows.count() == 1 and len(mail.outbox) - sent == form.emails


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_twin_posted_while_the_first_is_halfway_waits_for_it_and_writes_nothing(form):
    """The first post is held just before its last write, its locks taken: the twin waits for it (the parent row's
    lock), then finds it. Without that lock the twin would find nothing yet, and write its own row."""
    twin = None

    def post():
        response = client_of(form.user).post(form.url, form.data)
        assert response.status_code == 302, response.content[:300]

    with held_halfway(post, form.table):
        twin, errors, pid = in_thread_noting_its_pid(post)
        assert comes_to_wait_on_a_lock(pid)
    twin.join(30)

    assert errors == [] and form.rows.count() == 1


def test_redelivering_the_message_again_a_minute_later_sends_it_again(project, lead):
    form = redeliver_form(project, lead)
    client = client_of(lead)
    client.post(form.url)
    moments_pass(AuditEvent.objects, at="at")
    moments_pass(WebhookDelivery.objects)
    client.post(form.url)

    assert form.rows.count() == 2
