"""One output opened from explore (`/explore/output?id=<external id>`): at its turn of its conversation, else alone
with its context, metadata, labels and gold (Django test client)."""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from labeling.models import week_label
from labeling.selectors.explore import MAX_CONVERSATION
from tests.factories import OutputFactory
from tests.helpers.labeling import AGREE, label_outputs

pytestmark = [pytest.mark.django_db]


def opened(project, external_id: str, **more) -> str:
    return reverse("labeling:explore-output", args=[project.slug]) + "?" + urlencode({"id": external_id, **more})


@pytest.mark.parametrize(
    ("persona", "experts_can_explore", "status"),
    [
        ("lead", True, 200),
        ("engineer", True, 200),
        ("expert", True, 200),
        ("expert", False, 404),  # told why: the 404 page of a role's refusal
        ("outsider", True, 404),
        (None, True, 302),  # to the sign-in page
    ],
)
def test_it_validates_access(client, request, project, persona, experts_can_explore, status):
    project.experts_can_explore = experts_can_explore
    project.save(update_fields=["experts_can_explore"])
    OutputFactory(project=project, external_id="alone", output="Your refund will arrive by 7 March.")
    if persona:
        client.force_login(request.getfixturevalue(persona))
    assert client.get(opened(project, "alone")).status_code == status


def test_an_output_of_another_project_or_an_unknown_id_is_a_404(client, lead, project, other_project):
    OutputFactory(project=other_project, external_id="theirs")
    client.force_login(lead)
    assert client.get(opened(project, "theirs")).status_code == 404
    assert client.get(opened(project, "nobody")).status_code == 404
    assert client.get(reverse("labeling:explore-output", args=[project.slug])).status_code == 404


def test_an_output_without_a_session_shows_alone_with_its_context_metadata_and_untrusted_text_escaped(
    client, lead, project
):
    OutputFactory(project=project, external_id="a<b>", output="<script>alert(1)</script> Refund by 7 March.",
                  context={"order": {"delivered_on": "2026-11-08"}}, metadata={"prompt_version": "v13"})  # fmt: skip
    client.force_login(lead)
    page = client.get(opened(project, "a<b>")).content.decode()
    assert "<h1>Output <code>a&lt;b&gt;</code></h1>" in page
    assert "2026-11-08" in page and "prompt_version" in page and "v13" in page
    assert "<script>alert(1)</script>" not in page


def test_an_output_in_a_session_opens_its_conversation_at_its_turn_keeping_the_way_back(client, lead, project):
    made = OutputFactory(project=project, external_id="turn-2", session_id="chat #1")
    client.force_login(lead)
    response = client.get(opened(project, "turn-2", back="model=x"))
    session = reverse("labeling:explore-session", args=[project.slug])
    assert response.status_code == 302
    assert (
        response["Location"]
        == f"{session}?{urlencode({'id': 'chat #1', 'around': 'turn-2', 'back': 'model=x'})}#turn-{made.pk}"
    )


def test_an_expert_sees_only_their_own_label_and_no_gold(client, project, expert, lead, rubric):
    (item,) = label_outputs(project, 1, experts=[expert, lead])
    client.force_login(expert)
    page = client.get(opened(project, item.output.external_id)).content.decode()
    assert page.count('class="label-entry"') == 1
    assert "Gold:" not in page


def test_its_review_names_its_week_as_every_page_does(client, project, lead):
    """ "2026-W49 (week of 30 Nov)", the dataset page's form; before: "week of 2026-11-30", a fourth name of it."""
    (item,) = label_outputs(project, 1, experts=[lead], answers=AGREE[:1])
    client.force_login(lead)

    page = client.get(opened(project, item.output.external_id)).content.decode()

    review = page.split('class="review"')[1]
    assert f"{week_label(item.week)} (week of {item.week.day} {item.week:%b}) ·" in review
    assert f"{item.week:%Y-%m-%d}" not in review


def test_an_output_past_the_first_turns_of_a_long_session_opens_on_a_window_holding_its_turn(client, lead, project):
    """The conversation page showed a session's first 500 turns only: an output opened past them landed on a page
    without its turn. It now shows the turns around it, with links to the earlier and later ones."""
    start = datetime(2026, 11, 2, 9, tzinfo=UTC)
    made = [
        OutputFactory(
            project=project,
            external_id=f"turn-{n}",
            session_id="long chat",
            output=f"Answer {n}.",
            occurred_at=start + timedelta(seconds=n),
        )  # fmt: skip
        for n in range(MAX_CONVERSATION + 10)
    ]
    client.force_login(lead)
    late = made[MAX_CONVERSATION + 5]
    response = client.get(opened(project, late.external_id, back="q=refund"), follow=True)
    page = response.content.decode()
    assert f'id="turn-{late.pk}"' in page and "Answer 505." in page
    assert f'id="turn-{made[0].pk}"' not in page
    assert "(a window of a longer session)" in page and 'id="later-turns"' not in page
    earlier = re.search(r'href="([^"]+)" id="earlier-turns"', page)[1].replace("&amp;", "&")
    assert "back=q%3Drefund" in earlier

    # The window held the 495 turns before it (the turns after it ran short); earlier, the 10 left and those after.
    assert f'id="turn-{made[10].pk}"' in page and f'id="turn-{made[9].pk}"' not in page
    before = client.get(earlier).content.decode()
    assert f'id="turn-{made[0].pk}"' in before and 'id="earlier-turns"' not in before
    first = client.get(opened(project, "turn-3"), follow=True).content.decode()
    assert f'id="turn-{made[3].pk}"' in first and 'id="earlier-turns"' not in first and 'id="later-turns"' in first


def test_a_result_links_its_conversation_at_its_own_turn(client, lead, project):
    OutputFactory(project=project, external_id="late & odd", session_id="chat 7")
    client.force_login(lead)
    page = client.get(reverse("labeling:explore", args=[project.slug])).content.decode()
    assert "?id=chat%207&amp;around=late%20%26%20odd" in page
