"""Each block of rendered Markdown takes its own writing direction: an output can mix Arabic or Hebrew with English."""

import pytest

from labeling.web.markdown import first_strong_direction, render_markdown


def test_every_paragraph_item_heading_and_cell_takes_the_direction_of_its_own_text():
    html = render_markdown("# Title\n\nشكرا\n\n- one\n\n| a |\n|---|\n| ב |\n")

    for tag in ("h1", "p", "li", "th", "td"):
        assert f'<{tag} dir="auto">' in html


def test_a_list_quote_or_table_takes_the_direction_of_its_first_text():
    """dir="auto" there would read no text (its items have a dir of their own) and always say ltr."""
    html = render_markdown("> ההחזר יגיע\n> and more\n\n1. **اختر** المنتج\n2. Print\n\n| Step |\n|---|\n| اطبع |\n")

    assert '<blockquote dir="rtl">' in html and '<ol dir="rtl">' in html and '<table dir="ltr">' in html


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
