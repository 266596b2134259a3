"""Rendered Markdown is kept per process for short texts (a rubric's guidelines, on every labeling screen)."""

from labeling.web import markdown

HOSTILE = "**Check** the refund date <script>alert(1)</script> [link](javascript:alert(1))"


def test_a_short_text_is_rendered_once_and_stays_sanitised_when_served_again():
    markdown._rendered.cache_clear()

    first, again = markdown.render_markdown(HOSTILE), markdown.render_markdown(HOSTILE)

    assert first == again
    assert "<strong>Check</strong>" in first and "<script>" not in first and 'href="javascript' not in first
    assert markdown._rendered.cache_info().hits == 1


def test_a_long_text_is_rendered_each_time_so_the_cache_stays_small():
    markdown._rendered.cache_clear()
    long_text = "word " * (markdown._CACHED_CHARS // 5 + 1)

    assert markdown.render_markdown(long_text) == markdown.render_markdown(long_text)
    assert markdown._rendered.cache_info().currsize == 0
