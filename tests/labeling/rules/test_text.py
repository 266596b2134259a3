"""The preview of an output that lists, previews and reports show: one paragraph of plain text, cut short."""

import pytest
from django.template import Context, Template

from labeling.rules.text import EXCERPT_CHARS, excerpt


@pytest.mark.parametrize(
    "output, preview",
    [
        ("Your parcel ships\n\n in  3 days.", "Your parcel ships in 3 days."),
        ({"answer": "Über  uns", "sources": [1, 2]}, '{"answer": "Über uns", "sources": [1, 2]}'),
        (None, "null"),
    ],
)
def test_an_output_is_shown_as_one_paragraph_of_plain_text(output, preview):
    assert excerpt(output) == preview


def test_a_long_output_is_cut_at_the_limit_with_an_ellipsis():
    words = "word " * 100

    assert excerpt(words) == "word " * 31 + "word…" and len(excerpt(words)) == EXCERPT_CHARS
    assert excerpt(words, 21) == "word word word word…"  # no space left before the ellipsis
    assert excerpt("x" * 20, 20) == "x" * 20  # exactly at the limit: shown whole


@pytest.mark.parametrize(
    ("shown", "expected"),
    [
        ("abc\u202edef", "<bdi>abc\u202edef</bdi>"),
        # A U+2069 of its own that closes nothing would end the <bdi>'s isolate and let the override out.
        ("\u2069\u202e<b>", "<bdi>\u202e&lt;b&gt;</bdi>"),
        ("\u2067ok\u2069 \u2069", "<bdi>\u2067ok\u2069 </bdi>"),
    ],
)
def test_the_bidi_isolate_filter_escapes_and_keeps_only_the_isolate_ends_the_text_opened(shown, expected):
    assert Template("{% load expertloop %}{{ shown|bidi_isolate }}").render(Context({"shown": shown})) == expected
