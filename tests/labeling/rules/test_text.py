"""The preview of an output that lists, previews and reports show: one paragraph of plain text, cut short."""

import pytest
from django.template import Context, Template

from labeling.rules import text as text_rules
from labeling.rules.text import EXCERPT_CHARS, excerpt, listed


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


DEMO_ORDER = "Your order **KP-6526738** ships on **Friday, 11 December**.\n\nTracking number: `87584817291062`"
DEMO_SQL = "Here is the query:\n\n```sql\nSELECT id, total\nFROM orders\nWHERE total > 100;\n```"


@pytest.mark.parametrize(
    "output, preview",
    [
        (DEMO_ORDER, "Your order KP-6526738 ships on Friday, 11 December. Tracking number: 87584817291062"),
        (DEMO_SQL, "Here is the query: SELECT id, total FROM orders WHERE total > 100;"),
        ("# Refunds\n\n- *first* step\n- __second__ step", "Refunds first step second step"),
        ("1. Open **Settings**\n2. Click [Billing](https://example.com/billing)", "1. Open Settings 2. Click Billing"),
        ("> Quoted ![a chart](https://x.test/c.png) and <https://x.test>", "Quoted a chart and https://x.test"),
        ("| Plan | Price |\n|---|---|\n| Pro | 10 € |", "Plan Price Pro 10 €"),
        # Raw HTML is shown as the text it is (it is escaped on every page), never dropped nor run.
        ("Hello <script>alert(1)</script> <b>world</b>", "Hello <script>alert(1)</script> <b>world</b>"),
        ("Use `**kwargs**` and \\*stars\\*", "Use **kwargs** and *stars*"),
    ],
)
def test_a_markdown_output_is_previewed_as_its_plain_text(output, preview):
    """The preview of an output is the text its rendered Markdown shows: no asterisks, backticks or fences."""
    assert excerpt(output) == preview


@pytest.mark.parametrize(
    "text",
    [
        "5 * 3 = 15, and 2 * 4 = 8",
        "order_id_123 and user_id_9 match",
        "snake_case_name, a_b_c",
        "Prices: 3 < 5 > 2 & so on",
        "It costs $5 (incl. VAT) - roughly",
        "2026. A year to remember",  # a number and a full stop are not a list here: kept as written
        "see [1] and [2]",
    ],
)
def test_text_that_is_not_markdown_is_previewed_unchanged(text):
    assert excerpt(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "Title\n\n    indented four spaces\n\tand a tab",
        "two trailing spaces  \nmake a hard break",
        "Q: why? A: because. 50% off (today only), e-mail a.b@c.d; \"quoted\" 'too'",
        "line one\n   line two\n\n\n   line three",
        "Ünïcödé – dashes — and a non-breaking\u00a0space",
    ],
)
def test_text_without_markdown_signs_skips_the_parser_and_reads_the_same(text):
    """Text with no character that can start markup is not parsed (for speed): the parser would show it so too."""
    assert not text_rules._MAY_BE_MARKDOWN.search(text)
    assert text_rules.markdown_text(text) == text_rules._plain_text(text) == " ".join(text.split())


def test_a_long_markdown_output_is_cut_after_its_plain_text_with_an_ellipsis():
    long = "**Bold** " + "[link](https://example.com/a/very/long/path/that/takes/room) " * 40
    preview = excerpt(long)
    assert preview.startswith("Bold link link") and preview.endswith("…") and len(preview) == EXCERPT_CHARS
    # Markup before the text must not make a long output look complete.
    heavy = "![](https://example.com/" + "x" * 5000 + ".png)\n\n" + "word " * 100
    assert excerpt(heavy).endswith("…") and len(excerpt(heavy)) == EXCERPT_CHARS


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


# An excerpt around a match: what the queue preview and explore show of a long answer, so one sees why it matched.

LONG_ANSWER = "Thanks for writing to us about your order. " * 12 + "Your REFUND will arrive by Friday. Anything else?"


def test_an_excerpt_around_a_match_starts_near_the_phrase_and_marks_it():
    pieces = text_rules.excerpt_around(LONG_ANSWER, ["refund will arrive by"])

    shown = "".join(text for text, _ in pieces)
    assert shown.startswith("…") and "Your REFUND will arrive by Friday. Anything else?" in shown
    assert EXCERPT_CHARS - 15 <= len(shown) <= EXCERPT_CHARS  # near the end: the room before it is used
    assert [text for text, hit in pieces if hit] == ["REFUND will arrive by"]  # as written in the answer


def test_an_excerpt_around_a_match_cut_on_both_sides_has_an_ellipsis_at_each_end():
    answer = LONG_ANSWER + " More words follow here. " * 20
    shown = "".join(text for text, _ in text_rules.excerpt_around(answer, ["refund will arrive"]))
    assert shown.startswith("…") and shown.endswith("…") and "REFUND will arrive" in shown


def test_an_excerpt_around_the_first_match_of_any_phrase_marks_every_phrase_it_shows():
    answer = "We are sorry. " * 20 + "A credit note is attached; the refund follows."
    pieces = text_rules.excerpt_around(answer, ["refund", "credit note"])
    assert [text for text, hit in pieces if hit] == ["credit note", "refund"]


def test_an_excerpt_around_no_match_is_the_plain_excerpt_unmarked():
    assert text_rules.excerpt_around(LONG_ANSWER, ["parcel"]) == [(excerpt(LONG_ANSWER), False)]
    assert text_rules.excerpt_around(LONG_ANSWER, []) == [(excerpt(LONG_ANSWER), False)]


def test_an_early_match_keeps_the_excerpt_from_the_start():
    pieces = text_rules.excerpt_around("Your refund is on its way. " * 10, ["refund"])
    assert pieces[0] == ("Your ", False) and pieces[1] == ("refund", True)


def test_an_excerpt_around_a_match_in_a_json_answer_finds_it_in_its_strings():
    answer = {"content": "Hello there. " * 20 + "The refund will arrive by Monday."}
    pieces = text_rules.excerpt_around(answer, ["refund will arrive"])
    assert [text for text, hit in pieces if hit] == ["refund will arrive"]


def test_markup_in_an_excerpt_around_a_match_is_text_for_the_template_to_escape():
    pieces = text_rules.excerpt_around("<b>x</b> " * 30 + "<script>refund</script>", ["refund"])
    assert ("refund", True) in pieces and "<script>" in "".join(text for text, _ in pieces)


@pytest.mark.parametrize(
    ("number", "said"),
    [(0, "0 items"), (1, "1 item"), (999, "999 items"), (1234, "1,234 items"), (10**6, "1,000,000 items")],
)
def test_a_count_in_a_sentence_groups_its_thousands_as_the_pages_do(number, said):
    """The digest's "you labeled 1234 items" read unlike every page's 1,234."""
    assert text_rules.counted(number, "item") == said
    assert text_rules.figure(number) == said.split()[0]


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (15 * 60, "15 minutes"),
        (60, "1 minute"),
        (3600, "1 hour"),
        (24 * 3600, "24 hours"),
        (3 * 86400, "3 days"),
        (90, "90 seconds"),
        (1, "1 second"),
        (90061, "90,061 seconds"),
    ],
)
def test_a_length_of_time_is_said_with_its_noun_agreeing(seconds, said):
    """LEASE_SECONDS=1 read "1 seconds": the tail wrote its plural by hand instead of the rule every count uses."""
    assert text_rules.duration_in_words(seconds) == said


@pytest.mark.parametrize(
    "words, said",
    [([], ""), (["a"], "a"), (["a", "b"], "a and b"), (["a", "b", "c"], "a, b and c"), (("x, y", "z"), "x, y and z")],
)
def test_listed_words_read_as_a_sentence_lists_them(words, said):
    assert listed(words) == said
