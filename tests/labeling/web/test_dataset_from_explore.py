"""A finding on the explore page becomes an eval dataset: "Make a dataset from this filter" opens the new-dataset form
filled in with what a dataset can carry, naming what it cannot; the form's model, metadata and phrase filters are
checked by the service, a bad one a 400 that stores nothing."""

import re
from html import unescape
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from django.urls import reverse

from labeling.models import Dataset
from labeling.services.datasets import build_version
from tests.factories import MembershipFactory, UserFactory
from tests.helpers.labeling import label_outputs

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

REGRESSED = "gpt-4.1-mini-2025-04-14"
FINDING = urlencode({"q": '"refund will arrive by"', "model": REGRESSED})


def explore(project, query: str = "") -> str:
    return reverse("labeling:explore", args=[project.slug]) + (f"?{query}" if query else "")


def new_dataset(project, query: str = "") -> str:
    """The new-dataset form, opened from the explore filter `query` (as a new queue's: `?explore=<query>`)."""
    return reverse("labeling:dataset-create", args=[project.slug]) + (f"?explore={quote(query, safe='')}" * bool(query))


def field_value(html: str, name: str) -> str:
    """The value an input or textarea named `name` shows."""
    found = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', html) or re.search(
        rf'<textarea[^>]*name="{name}"[^>]*>\s*([^<]*)</textarea>', html
    )
    return unescape(found[1]) if found else ""


@pytest.fixture
def finding(project):
    """The planted regression in small: the new model's refund promises, and its other answers."""
    label_outputs(project, 2, model=REGRESSED, texts=["Sorry! Your refund will arrive by 14 March."] * 2)
    label_outputs(project, 1, model=REGRESSED, texts=["It ships Friday."])
    label_outputs(project, 1, model="gpt-4o-mini", texts=["Your refund will arrive by 2 March."])


# Engineers make datasets (`DATASET_ROLES`), so they get the action too; experts do not.
@pytest.mark.parametrize(("role", "shown"), [("lead", True), ("admin", True), ("engineer", True), ("expert", False)])
def test_the_roles_that_make_datasets_get_the_action_with_the_filter(client, project, finding, role, shown):
    client.force_login(MembershipFactory(project=project, user=UserFactory(username="maya"), role=role).user)

    html = client.get(explore(project, f"model={REGRESSED}")).content.decode()

    link = re.search(r'<a class="button" id="make-dataset" href="([^"]+)"', html)
    assert bool(link) is shown
    if shown:
        assert unescape(link[1]) == new_dataset(project, urlencode({"model": REGRESSED}))


def test_the_form_opens_filled_in_with_the_finding_and_says_how_the_search_changed(client, lead, project):
    client.force_login(lead)

    response = client.get(new_dataset(project, FINDING))

    assert response.status_code == 200
    html = response.content.decode()
    assert field_value(html, "models") == REGRESSED
    assert field_value(html, "text_any") == "refund will arrive by"
    notes = unescape(re.search(r'<div class="alert info" id="from-explore".*?</div>', html, re.S)[0])
    assert 'The search "refund will arrive by" becomes “Answer contains any of”' in notes
    assert "Not carried" not in notes
    assert f'href="{explore(project, FINDING)}"'.replace("&", "&amp;") in html


def test_the_explore_links_to_a_new_dataset_and_a_new_queue_carry_the_filter_alike(client, lead, project, finding):
    """Both forms take the explore filter as one parameter, `explore`, apart from the form's own."""
    client.force_login(lead)

    html = client.get(explore(project, FINDING)).content.decode()

    links = {
        name: urlsplit(unescape(re.search(rf'<a class="button" id="{name}" href="([^"]+)"', html)[1]))
        for name in ("make-dataset", "queue-from-filter")
    }
    assert links["make-dataset"].path == reverse("labeling:dataset-create", args=[project.slug])
    assert parse_qs(links["make-dataset"].query) == parse_qs(links["queue-from-filter"].query)
    assert parse_qs(parse_qs(links["make-dataset"].query)["explore"][0]) == {
        "q": ['"refund will arrive by"'],
        "model": [REGRESSED],
    }


def test_the_forms_own_parameters_are_not_read_as_an_explore_filter(client, lead, project):
    client.force_login(lead)

    html = client.get(reverse("labeling:dataset-create", args=[project.slug]) + "?model=a").content.decode()

    assert 'id="from-explore"' not in html and field_value(html, "models") == ""


def test_the_search_becomes_the_phrases_a_queue_made_from_it_takes(client, lead, project):
    client.force_login(lead)
    query = urlencode({"q": 'refund -late OR "guaranteed by"'})

    dataset_form = client.get(new_dataset(project, query)).content.decode()
    queue_form = client.get(reverse("labeling:queue-create", args=[project.slug]), {"explore": query}).content.decode()

    assert field_value(dataset_form, "text_any").splitlines() == ["refund", "guaranteed by"]
    assert field_value(dataset_form, "text_any") == field_value(queue_form, "text_any")
    assert "“-late”" in unescape(dataset_form)


def test_what_a_dataset_cannot_carry_is_named_on_the_form(client, lead, project):
    client.force_login(lead)
    query = urlencode(
        [("model", REGRESSED), ("meta", "plan:pro"), ("feedback", "down"), ("tag", "a"), ("tag", "b"), ("tags", "all")]
    )

    html = client.get(new_dataset(project, query)).content.decode()

    assert field_value(html, "models") == REGRESSED
    assert field_value(html, "metadata") == "plan:pro"
    assert field_value(html, "tags_any") == ""
    notes = unescape(re.search(r'<div class="alert info" id="from-explore".*?</div>', html, re.S)[0])
    assert "Not carried" in notes and "end-user feedback" in notes and "all of the tags" in notes


def test_a_filter_explore_would_refuse_is_named_not_half_carried(client, lead, project):
    client.force_login(lead)

    html = client.get(new_dataset(project, "model=a&feedback=sideways")).content.decode()

    assert field_value(html, "models") == ""
    assert "“feedback”: 'sideways' is not one of: up, neutral, down, none." in unescape(html)


def test_the_posted_finding_makes_a_dataset_of_the_refund_answers_with_their_gold(client, lead, project, finding):
    client.force_login(lead)
    form = {"name": "Refund promises", "models": REGRESSED, "metadata": "",
            "text_any": " refund will arrive by \n\nREFUND WILL ARRIVE BY\nrefund will arrive by",
            "splits": "train=80, test=20", "only_resolved": "on"}  # fmt: skip

    response = client.post(new_dataset(project), form)

    assert response.status_code == 302, response.content.decode()[:2000]
    dataset = Dataset.objects.get()
    assert dataset.filters == {"models": [REGRESSED], "text_any": ["refund will arrive by", "REFUND WILL ARRIVE BY"]}
    version = build_version(dataset_id=dataset.pk)
    assert sorted(version.rows.values_list("external_id", flat=True)) == ["out-00000", "out-00001"]


def test_metadata_lines_are_key_value_pairs(client, lead, project):
    client.force_login(lead)
    form = {"name": "Pro plan", "metadata": 'plan:pro\nplan:team\n" region ":eu', "splits": "train=80, test=20"}

    assert client.post(new_dataset(project), form).status_code == 302
    assert Dataset.objects.get().filters == {"metadata": {" region ": ["eu"], "plan": ["pro", "team"]}}


def test_the_dataset_page_shows_its_models_metadata_and_phrases(client, lead, project):
    client.force_login(lead)
    form = {"name": "Refunds", "models": "m1, m2", "metadata": "items:x\nplan:pro\nplan:team",
            "text_any": "<b>refund</b>\nguaranteed", "splits": "train=80, test=20"}  # fmt: skip
    client.post(new_dataset(project), form)

    html = client.get(reverse("labeling:dataset", args=[project.slug, "refunds"])).content.decode()

    assert "<code>m1</code> <code>m2</code>" in html
    assert '<span class="chip" dir="auto">items: x</span><span class="chip" dir="auto">plan: pro or team</span>' in html
    assert "<dt>Answer contains any of</dt>" in html
    assert (
        '<span class="chip" dir="auto">“&lt;b&gt;refund&lt;/b&gt;”</span><span class="chip" dir="auto">“guaranteed”'
        in html
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"metadata": "plan"}, "Write one key:value a line, e.g. plan:pro; got &#x27;plan&#x27;."),
        ({"metadata": "plan:" + "x" * 201}, "a value has more than 200 characters"),
        ({"text_any": "x" * 201}, "has 201 characters; use at most 200."),
        ({"text_any": "\n".join(f"phrase {n}" for n in range(21))}, "21 phrases; use at most 20."),
        ({"models": "a\x00b"}, "Null characters are not allowed."),
    ],
)
def test_a_bad_filter_is_a_400_saying_what_is_wrong_and_nothing_is_stored(client, lead, project, fields, message):
    client.force_login(lead)

    response = client.post(new_dataset(project), {"name": "Bad", "splits": "train=80, test=20", **fields})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Dataset.objects.exists()
