"""An output's end-user feedback reads the same on every page that shows it: "thumbs up", "thumbs down" or "neutral"
in a badge (words, no emoji), and the end user's comment beside it in a <bdi>, so an override in it reverses nothing
after it."""

import pytest

from tests.helpers.labeling import label_outputs, make_items, take

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

BADGES = {
    1: '<span class="badge good">thumbs up</span>',
    -1: '<span class="badge bad">thumbs down</span>',
    0: '<span class="badge">neutral</span>',
}
COMMENT = "wrong day \u202e!yad gnorw"  # an override, as an end user may type or paste one


@pytest.mark.parametrize("score", [1, -1, 0])
def test_every_page_that_shows_an_outputs_feedback_names_it_alike(client, lead, expert, other_expert, project, score):
    tie = ({"correct": True}, {"correct": False})
    (tied,) = label_outputs(
        project, 1, answers=tie, experts=[expert, other_expert], session_id="s-1", feedback_score=score,
        feedback_comment=COMMENT,
    )  # fmt: skip
    (waiting,) = make_items(project, 1, feedback_score=score, feedback_comment=COMMENT)
    client.force_login(expert)
    item = take(client, waiting.queue)
    labeling = client.get(f"/p/{project.slug}/items/{item.pk}/").content.decode()
    client.force_login(lead)

    pages = {
        "project": client.get(f"/p/{project.slug}/").content.decode(),
        "explore": client.get(f"/p/{project.slug}/explore/").content.decode(),
        "session": client.get(f"/p/{project.slug}/explore/session?id=s-1").content.decode(),
        "adjudication": client.get(f"/p/{project.slug}/manage/adjudication/{tied.pk}/").content.decode(),
        "labeling": labeling,
    }

    for name, html in pages.items():
        assert BADGES[score] in html, name
        assert "👍" not in html and "👎" not in html, name
        assert f"<bdi>{COMMENT}</bdi>" in html, name
