"""Each block of rendered Markdown takes its own writing direction: an output can mix Arabic or Hebrew with English."""

import pytest

from labeling.web.markdown import first_strong_direction, render_markdown, sanitize


def test_every_paragraph_item_heading_and_cell_takes_the_direction_of_its_own_text():
    html = render_markdown("# Title\n\nشكرا\n\n- one\n\n| a |\n|---|\n| ב |\n")

    for tag in ("h1", "p", "li", "th", "td"):
        assert f'<{tag} dir="auto">' in html


def test_a_list_quote_or_table_takes_the_direction_of_its_first_text():
    """dir="auto" there would read no text (its items have a dir of their own) and always say ltr."""
    html = render_markdown("> ההחזר יגיע\n> and more\n\n1. **اختر** المنتج\n2. Print\n\n| Step |\n|---|\n| اطبع |\n")

    assert '<blockquote dir="rtl">' in html and '<ol dir="rtl">' in html and '<table dir="ltr">' in html


@pytest.mark.parametrize(
    ("text", "direction"),
    [("- ![hello](x) مرحبا\n", "rtl"), ("- &#x5d0; hello\n", "rtl"), ("> `code` שלום\n", "ltr")],
)
def test_a_holder_takes_the_direction_of_the_text_shown_not_of_the_markdown_source(text, direction):
    """An image's alt text is not shown (the sanitizer drops images) and an entity is shown as its letter: the list
    read "hello" and "&#x5d0;" and said ltr for an item that shows only Arabic, or starts with a Hebrew letter."""
    html = render_markdown(text)

    assert f'dir="{direction}"' in html.split(">", 1)[0]


def test_the_sanitizer_keeps_only_a_holders_ltr_or_rtl_and_gives_other_blocks_their_own_direction():
    """What the sanitizer settings themselves do, whatever HTML reaches them (markdown-it escapes raw HTML before)."""
    assert sanitize('<ul dir="x" style="color: red"><li>a</li></ul>') == '<ul><li dir="auto">a</li></ul>'
    assert sanitize('<ul dir="rtl"><li>a</li></ul>') == '<ul dir="rtl"><li dir="auto">a</li></ul>'
    assert sanitize('<p dir="rtl">a</p>') == '<p dir="auto">a</p>'


def test_a_dir_cannot_come_from_the_text_itself():
    html = render_markdown('<p dir="rtl">x</p>\n\n<ul dir="rtl"><li>x</li></ul>\n\nplain')

    assert '<p dir="rtl">' not in html and '<ul dir="rtl">' not in html  # shown as text, escaped


def test_a_code_block_keeps_the_direction_around_it():
    assert "<pre><code>" in render_markdown("Code:\n\n    x = 1\n")


@pytest.mark.parametrize(
    ("text", "direction"),
    [("Hello", "ltr"), ("  «مرحبا» hello", "rtl"), ("123 — שלום", "rtl"), ("123 ...", None), ("", None)],
)
def test_the_first_strong_letter_decides(text, direction):
    assert first_strong_direction(text) == direction
