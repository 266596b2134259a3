"""The labeling screen's headings make an outline a screen reader can walk: one <h1> naming the item (shown as the
crumbs always showed it), the panels' <h2>s, and the guidelines' own Markdown headings nested under their panel's
<h2> ("# How to judge" is an <h3> there), never a second <h1> in the side panel."""

import re

import pytest

from labeling.models import Queue
from labeling.services.rubrics import publish_rubric
from labeling.web.markdown import render_markdown
from tests.helpers.labeling import make_items, take
from tests.helpers.rubrics import QUESTIONS

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

GUIDELINES = "# How to judge\n\nBe fair.\n\n## Tone\n\nPolite.\n\n###### Deepest\n"


def headings(html: str) -> list[tuple[int, str]]:
    return [(int(level), re.sub(r"<[^>]+>|\s+", " ", text).strip())
            for level, text in re.findall(r"<h([1-6])[^>]*>(.*?)</h\1>", html, re.S)]  # fmt: skip


def test_the_labeling_screen_has_one_h1_and_the_guidelines_nest_under_their_h2(client, expert, project):
    publish_rubric(project=project, questions=QUESTIONS, guidelines=GUIDELINES)
    queue = Queue.objects.create(project=project, slug="all", name="All answers", weekly_quota=10)
    make_items(project, 1)
    client.force_login(expert)
    item = take(client, queue)

    outline = headings(client.get(f"/p/{project.slug}/items/{item.pk}/").content.decode())

    assert [text for level, text in outline if level == 1] == [f"Item {item.pk}"]
    assert outline[0] == (1, f"Item {item.pk}")
    guidelines = outline.index((2, "Guidelines"))
    assert outline[guidelines + 1 : guidelines + 4] == [(3, "How to judge"), (4, "Tone"), (6, "Deepest")]
    levels = [level for level, _ in outline[: guidelines + 3]]  # the page's own, and the guidelines' first two
    assert all(later <= earlier + 1 for earlier, later in zip(levels, levels[1:], strict=False))


def test_markdown_headings_shift_under_a_given_level_and_stop_at_h6():
    assert render_markdown(GUIDELINES).startswith('<h1 dir="auto">How to judge</h1>')
    shifted = render_markdown(GUIDELINES, under_heading=2)

    assert headings(shifted) == [(3, "How to judge"), (4, "Tone"), (6, "Deepest")]
