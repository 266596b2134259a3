"""An output's context as the labeling and adjudication screens show it: readable text and labeled sections, with
the raw JSON one click away for engineers."""

import pytest
from django.template import Context, Template

from labeling.models import Queue
from tests.helpers.labeling import make_items, take

TRANSCRIPT = "\n".join(f"Speaker {n % 2 + 1}: line {n} of the meeting" for n in range(40))


def rendered(value) -> str:
    return Template("{% load expertloop %}{% structured_context value %}").render(Context({"value": value}))


def test_a_transcript_inside_an_object_shows_as_text_with_its_line_breaks_under_its_key():
    html = rendered({"transcript": TRANSCRIPT, "meeting": {"title": "Weekly sync", "attendees": ["Ana", "Bo"]}})

    # The text keeps its real line breaks (shown by pre-wrap), never a literal "\n" in one wrapped string.
    assert "line 0 of the meeting\nSpeaker 2: line 1" in html.split("<details", 1)[0]
    assert "\\n" not in html.split("<details", 1)[0]
    assert '<dt dir="auto">transcript</dt>' in html and '<dt dir="auto">title</dt>' in html
    assert '<li><div class="structured-text" dir="auto">Ana</div></li>' in html
    # The raw JSON stays one click away.
    assert '<details class="raw-json"><summary>Raw JSON</summary>' in html
    assert "&quot;transcript&quot;: &quot;Speaker 1" in html


def test_untrusted_context_is_escaped_keys_and_values_alike():
    html = rendered({"<img src=x onerror=alert(1)>": "<script>alert(1)</script>"})

    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_plain_string_context_is_text_without_a_raw_json_toggle():
    html = rendered("First line\nSecond line")

    assert '<div class="structured-text" dir="auto">First line\nSecond line</div>' in html
    assert "Raw JSON" not in html


@pytest.mark.parametrize(("value", "shown"), [(True, "true"), (3, "3"), (None, "null"), ([], "empty"), ({}, "empty")])
def test_scalars_and_empty_values_read_as_json_words(value, shown):
    assert shown in rendered({"field": value})


def test_deep_nesting_stops_at_a_bounded_depth_as_json():
    deep = {"a": {"b": {"c": {"d": {"e": {"f": "bottom"}}}}}}

    html = rendered(deep).split("<details", 1)[0]

    assert html.count("<dl") == 4
    assert '<pre class="structured-json" dir="auto">' in html and "bottom" in html


def test_the_labeling_screen_shows_a_summarizers_transcript_readably(client, expert, project, rubric):
    queue = Queue.objects.create(project=project, slug="all", name="All", weekly_quota=10)
    make_items(project, 1, context={"transcript": TRANSCRIPT, "meeting_id": "m-7"})
    client.force_login(expert)
    item = take(client, queue)

    html = client.get(f"/p/{project.slug}/items/{item.pk}/").content.decode()

    assert '<dt dir="auto">transcript</dt>' in html
    assert "line 0 of the meeting\nSpeaker 2: line 1" in html
    assert '<details class="raw-json">' in html
