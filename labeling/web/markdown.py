"""Render untrusted Markdown (AI outputs, guidelines) to HTML that cannot run anything.

markdown-it-py with raw HTML disabled turns Markdown into HTML; nh3 (the Ammonia sanitizer) then
keeps only an allow-list of tags and attributes: no scripts, iframes, event handlers, styles or
`javascript:` URLs, whatever the input. Links get rel="noopener noreferrer".
"""

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")

ALLOWED_TAGS = {
    "p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "del",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}


# The same text renders to the same HTML: a rubric's guidelines are on every labeling screen (~0.2 ms each), so
# short texts are kept per process. Long ones (an AI output can be large) are rendered each time.
_CACHED_CHARS = 16_000  # with 128 entries, at most ~6 MB of text and HTML per process


def render_markdown(text: str) -> str:
    """Sanitised HTML for the Markdown text; safe to mark safe in a template."""
    text = text or ""
    return _rendered(text) if len(text) <= _CACHED_CHARS else _render(text)


@lru_cache(maxsize=128)
def _rendered(text: str) -> str:
    return _render(text)


def _render(text: str) -> str:
    html = _markdown.render(text)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
