"""Every page and change a role does not open refuses a member of the project (or an operator) one way: the 404 page
with the reason, since they know the project; anyone else hears "No such project.", which tells nothing. Walked here
page by page, one refusal of each kind (the persona who knows the project, then an outsider at the same address)."""

import re

import pytest
from django.apps import apps
from django.utils.html import escape

from labeling.models import Alert, AlertRule, Project, Queue, Skip, Slot
from labeling.rules.access import (
    ADD_TO_QUEUE_REFUSED,
    ALERTS_REFUSED,
    DATASETS_REFUSED,
    EXPLORE_REFUSED,
    EXPORT_REFUSED,
    ITEM_NOT_YOURS,
    ITEM_QUEUE_NOT_YOURS,
    KEYS_REFUSED,
    LABELING_REFUSED,
    LEAD_ITEM_QUEUE_NOT_YOURS,
    LEAD_QUEUE_NOT_YOURS,
    LEADS_ONLY,
    LEADS_ONLY_ACTION,
    OPERATOR_EXPORT_REFUSED,
    OPERATOR_LABELING_REFUSED,
    OPERATOR_NOT_MEMBER,
    PLATFORM_REFUSED,
    QUEUE_NOT_YOURS,
    REVOKE_KEY_REFUSED,
    SAVING_VIEW_REFUSED,
    WEBHOOKS_REFUSED,
    WITHDRAW_VERSION_REFUSED,
)
from labeling.services import assignment
from labeling.services.api_keys import create_api_key
from labeling.services.datasets import build_version, create_dataset
from tests.factories import UserFactory
from tests.helpers.labeling import label_outputs, make_items

pytestmark = pytest.mark.django_db

P = "/p/support-bot"


@pytest.fixture
def closed_project(project, lead, other_expert):
    """Experts kept out of explore; a lead's key; a dataset with a ready version v1; a queue for another expert only;
    an item leased to that expert."""
    project.experts_can_explore = False
    project.save(update_fields=["experts_can_explore"])
    key = create_api_key(project=project, name="product app", scopes=["ingest"], created_by=lead).api_key
    label_outputs(project, 2)
    dataset = create_dataset(project=project, spec={"name": "Support eval"}, actor=lead)
    build_version(dataset_id=dataset.pk)
    Queue.objects.create(project=project, slug="chosen", name="Chosen").eligible_experts.add(other_expert)
    make_items(project, 1)
    assert assignment.next_item(expert=other_expert, queue=Queue.objects.get(project=project, slug="sample"))
    return key


# (who knows the project, method, address, what they are told); {key}: the lead's key.
REFUSALS = [
    ("expert", "get", f"{P}/keys/", KEYS_REFUSED),
    ("expert", "get", f"{P}/datasets/", DATASETS_REFUSED),
    ("expert", "get", f"{P}/datasets/support-eval/", DATASETS_REFUSED),
    ("expert", "post", f"{P}/datasets/new", DATASETS_REFUSED),
    ("expert", "post", f"{P}/datasets/support-eval/build", DATASETS_REFUSED),
    ("expert", "get", f"{P}/explore/", EXPLORE_REFUSED),
    ("expert", "get", f"{P}/explore/summary", EXPLORE_REFUSED),
    ("expert", "get", f"{P}/explore/export.csv", EXPORT_REFUSED),
    ("expert", "post", f"{P}/explore/views/save", SAVING_VIEW_REFUSED),
    ("expert", "get", f"{P}/manage/members/", LEADS_ONLY),
    ("expert", "get", f"{P}/manage/audit/", LEADS_ONLY),
    ("expert", "get", f"{P}/manage/webhooks/", WEBHOOKS_REFUSED),
    ("engineer", "post", f"{P}/datasets/support-eval/v1/withdraw", WITHDRAW_VERSION_REFUSED),
    ("engineer", "get", f"{P}/keys/{{key}}/revoke", REVOKE_KEY_REFUSED),
    ("engineer", "post", f"{P}/keys/{{key}}/revoke", REVOKE_KEY_REFUSED),
    ("engineer", "get", f"{P}/manage/members/", LEADS_ONLY),
    ("operator", "get", f"{P}/explore/export.csv", OPERATOR_EXPORT_REFUSED),
    ("operator", "get", f"{P}/manage/adjudication/", OPERATOR_NOT_MEMBER),
    ("operator", "post", f"{P}/datasets/support-eval/build", OPERATOR_NOT_MEMBER),
    ("operator", "post", f"{P}/keys/", OPERATOR_NOT_MEMBER),
    ("engineer", "post", f"{P}/alerts/{{alert}}/acknowledge", ALERTS_REFUSED),
    ("engineer", "get", f"{P}/q/sample/next", LABELING_REFUSED),
    ("engineer", "post", f"{P}/explore/add", ADD_TO_QUEUE_REFUSED),
    ("expert", "post", f"{P}/manage/queues/preview", LEADS_ONLY_ACTION),  # the preview sent, as the editor's button
    ("expert", "get", f"{P}/q/chosen/next", QUEUE_NOT_YOURS),
    ("expert", "post", f"{P}/q/chosen/next", QUEUE_NOT_YOURS),
    ("expert", "get", f"{P}/q/nope/next", QUEUE_NOT_YOURS),  # said alike of a queue that does not exist
    ("expert", "post", f"{P}/q/nope/next", QUEUE_NOT_YOURS),
    # A lead, who edits queues' experts, is told so rather than to ask a lead: alike of a queue that does not exist.
    ("lead", "get", f"{P}/q/chosen/next", LEAD_QUEUE_NOT_YOURS),
    ("lead", "post", f"{P}/q/chosen/next", LEAD_QUEUE_NOT_YOURS),
    ("lead", "get", f"{P}/q/nope/next", LEAD_QUEUE_NOT_YOURS),
    ("lead", "post", f"{P}/q/nope/next", LEAD_QUEUE_NOT_YOURS),
    ("engineer", "get", f"{P}/q/nope/next", LABELING_REFUSED),
    ("operator", "get", f"{P}/q/sample/next", OPERATOR_LABELING_REFUSED),
    ("operator", "get", f"{P}/q/nope/next", OPERATOR_LABELING_REFUSED),
    ("expert", "get", f"{P}/items/{{item}}/", ITEM_NOT_YOURS),  # a pasted link to another expert's item
    ("expert", "get", f"{P}/items/999999/", ITEM_NOT_YOURS),  # said alike of an item that does not exist
    ("expert", "post", f"{P}/items/{{item}}/unskip", ITEM_NOT_YOURS),
    # Past any id: SQLite refused the query (a 500), so this catches it there only; test_work.py asks on both.
    ("expert", "post", f"{P}/items/{2**64}/unskip", ITEM_NOT_YOURS),
    ("engineer", "get", f"{P}/items/{{item}}/", LABELING_REFUSED),
    ("operator", "post", f"{P}/items/{{item}}/unskip", OPERATOR_LABELING_REFUSED),
]


@pytest.mark.parametrize(("persona", "method", "path", "reason"), REFUSALS, ids=[f"{r[0]} {r[2]}" for r in REFUSALS])
def test_a_role_refused_gets_the_404_page_with_the_reason_and_an_outsider_learns_nothing(
    client, project, closed_project, persona, method, path, reason, request
):
    alert = Alert.objects.create(project=project, rule=AlertRule.QUOTA_MISSED, key="sample", title="Sample missed")
    item = Slot.objects.leased_to(request.getfixturevalue("other_expert")).get().item_id
    path = path.format(key=closed_project.pk, alert=alert.pk, item=item)
    client.force_login(request.getfixturevalue(persona))

    refused = getattr(client, method)(path, {"reason": "Bad gold."} if method == "post" else {})

    assert refused.status_code == 404, refused.content[:300]
    assert f'<p role="alert">{escape(reason)}</p>' in refused.content.decode()

    client.force_login(request.getfixturevalue("outsider"))
    stranger = getattr(client, method)(path, {"reason": "Bad gold."} if method == "post" else {})
    assert stranger.status_code == 404
    assert 'role="alert"' not in stranger.content.decode()


PLATFORM_PAGES = ["/platform/", "/platform/usage/", "/platform/usage/?format=csv", "/platform/tokens/"]


@pytest.mark.parametrize("persona", ["lead", "expert", "staff", "outsider"])
def test_a_signed_in_non_operator_is_told_the_platform_pages_are_the_operators(client, request, persona):
    """Being an operator is a role: the pages (named in the README) answer the 404 page with the reason, the word the
    usage API's 403 says (tests/api/test_role_refusals_api.py)."""
    user = UserFactory(username="stan", is_staff=True) if persona == "staff" else request.getfixturevalue(persona)
    client.force_login(user)

    for path in PLATFORM_PAGES:
        refused = client.get(path)
        assert refused.status_code == 404, path
        assert f'<p role="alert">{escape(PLATFORM_REFUSED)}</p>' in refused.content.decode(), path
    assert client.post("/platform/tokens/", {"name": "mine"}).status_code == 404


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("persona", ["expert", "engineer", "operator", "outsider"])
def test_a_queue_address_tells_nobody_it_does_not_name_whether_the_queue_exists(
    client, closed_project, persona, method, request
):
    """A queue of experts the leads chose and a slug that names no queue answer alike (status and words) to whoever
    the queue does not name: a pasted link tells nothing of which queues exist."""
    client.force_login(request.getfixturevalue(persona))

    chosen = getattr(client, method)(f"{P}/q/chosen/next")
    missing = getattr(client, method)(f"{P}/q/nope/next")

    assert chosen.status_code == missing.status_code == 404

    def said(response):
        return re.search(r'<p role="alert">.*?</p>|<h1>.*?</h1>\s*<p>.*?</p>', response.content.decode(), re.S)[0]

    assert said(chosen) == said(missing)


def test_a_queue_that_names_the_expert_still_opens_for_them(client, closed_project, other_expert):
    client.force_login(other_expert)

    assert client.get(f"{P}/q/chosen/next").status_code == 200
    assert client.post(f"{P}/q/chosen/next").status_code == 302


@pytest.mark.parametrize(
    ("holder", "message"), [("other_expert", ITEM_QUEUE_NOT_YOURS), ("lead", LEAD_ITEM_QUEUE_NOT_YOURS)]
)
def test_an_item_whose_queue_no_longer_names_its_holder_says_so_not_that_the_address_names_no_queue(
    client, request, project, closed_project, expert, holder, message
):
    """The holder of an item of a queue whose leads have since named other experts: what they send is refused saying
    the queue is no longer theirs (they know it: they were handed its item), not QUEUE_NOT_YOURS's "no queue at this
    address", and the labeling screen says so before they answer on it. An expert is told to ask a lead; a lead, who
    edits the queue's experts, to add themselves."""
    holder = request.getfixturevalue(holder)
    sample = Queue.objects.get(project=project, slug="sample")
    if not Slot.objects.leased_to(holder).exists():
        make_items(project, 1)
        assert assignment.next_item(expert=holder, queue=sample)
    sample.eligible_experts.set([expert])
    item = Slot.objects.leased_to(holder).get().item_id
    client.force_login(holder)

    opened = client.get(f"{P}/items/{item}/")
    refused = client.post(f"{P}/items/{item}/skip", {"reason": "unsure"})

    for response in (opened, refused):  # the screen is not shown only to refuse what they answer on it
        assert response.status_code == 404
        assert f'<p role="alert">{escape(message)}</p>' in response.content.decode()
    assert Slot.objects.leased_to(holder).get().item_id == item and not Skip.objects.exists()


W = f"{P}/meeting/2026-W49"
# Every action a lead's page sends (a POST), with ids its lookup never reaches: the role is asked first.
LEAD_ACTIONS = [
    f"{P}/manage/members/invite",
    f"{P}/manage/members/1/role",
    f"{P}/manage/members/1/remove",
    f"{P}/manage/invitations/1/resend",
    f"{P}/manage/invitations/1/revoke",
    f"{W}/decisions",
    f"{W}/decisions/1/delete",
    f"{W}/decisions/1/done",
    f"{W}/close",
    f"{W}/refresh",
    f"{W}/themes/1/save",
    f"{P}/manage/flags/1/resolve",
    f"{P}/manage/adjudication/1/",
    f"{P}/manage/queues/new",
    f"{P}/manage/queues/1/",
    f"{P}/manage/queues/1/backfill",
    f"{P}/manage/rubric/",
    f"{P}/manage/settings/",
    f"{P}/manage/redaction/",
    f"{P}/manage/redaction/preview",
]
LEAD_PAGES = [
    f"{P}/manage/adjudication/",
    f"{P}/manage/adjudication/1/",
    f"{P}/manage/rubric/",
    f"{P}/manage/settings/",
    f"{P}/manage/redaction/",
    f"{P}/manage/experts/",
]


@pytest.mark.parametrize("path", LEAD_ACTIONS)
def test_a_lead_action_sent_by_another_role_says_the_action_is_the_leads_and_changes_nothing(
    client, project, expert, path
):
    """A demoted lead's open page, or a pasted form: told what they sent is a lead's (not that a page is), one way."""
    client.force_login(expert)
    before = _what_is_stored(project)

    refused = client.post(path, {"reason": "Bad gold.", "role": "lead", "email": "x@example.com"})

    assert refused.status_code == 404
    assert f'<p role="alert">{escape(LEADS_ONLY_ACTION)}</p>' in refused.content.decode()
    assert _what_is_stored(project) == before


def _what_is_stored(project) -> dict:
    """The project's own row and how many rows each of the app's tables holds: what a refused action must not touch."""
    rows = {model._meta.label: model.objects.count() for model in apps.get_app_config("labeling").get_models()}
    return {"project": Project.objects.values().get(pk=project.pk), **rows}


@pytest.mark.parametrize("path", LEAD_PAGES)
def test_a_lead_page_opened_by_another_role_says_the_page_is_the_leads(client, project, engineer, path):
    client.force_login(engineer)

    refused = client.get(path)

    assert refused.status_code == 404
    assert f'<p role="alert">{escape(LEADS_ONLY)}</p>' in refused.content.decode()
