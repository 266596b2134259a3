"""Render untrusted Markdown (AI outputs, guidelines) to HTML that cannot run anything.

markdown-it-py with raw HTML disabled turns Markdown into HTML; nh3 (the Ammonia sanitizer) then
keeps only an allow-list of tags and attributes: no scripts, iframes, event handlers, styles or
`javascript:` URLs, whatever the input. Links get rel="noopener noreferrer".
"""

import nh3
from markdown_it import MarkdownIt

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")

ALLOWED_TAGS = {
    "p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "del",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}


def render_markdown(text: str) -> str:
    """Sanitised HTML for the Markdown text; safe to mark safe in a template."""
    html = _markdown.render(text or "")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
