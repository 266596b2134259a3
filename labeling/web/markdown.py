"""Render untrusted Markdown (AI outputs, guidelines) to HTML that cannot run anything.

markdown-it-py with raw HTML disabled turns Markdown into HTML; nh3 (the Ammonia sanitizer) then
keeps only an allow-list of tags and attributes: no scripts, iframes, event handlers, styles or
`javascript:` URLs, whatever the input. Links get rel="noopener noreferrer"; blocks get dir="auto".
"""

import unicodedata
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")

ALLOWED_TAGS = {
    "p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "del",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
# An output can mix languages, an Arabic paragraph after an English one: each block takes the direction of its own
# first strong letter (as GitHub renders Markdown), not the whole text's. nh3 sets dir="auto" on every such tag,
# whatever came. A block holding blocks (a list, a quote, a table) cannot: dir="auto" skips the text of elements with a
# dir of their own, so it would always say ltr; _render sets it from its first text, as dir="auto" would.
_OWN_DIRECTION = {"dir": "auto"}
DIRECTION_ATTRIBUTES = {tag: _OWN_DIRECTION for tag in ("p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "th", "td")}
_HOLDERS = {"bullet_list_open", "ordered_list_open", "blockquote_open", "table_open"}
HOLDER_DIRECTIONS = {tag: {"dir": {"ltr", "rtl"}} for tag in ("ul", "ol", "blockquote", "table")}
_SHOWN_TEXT = {"text", "code_inline"}  # inline children whose content is shown as it is
# <pre> has neither: a code block keeps the direction around it (code is not a paragraph of prose).


# The same text renders to the same HTML: a rubric's guidelines are on every labeling screen (~0.2 ms each), so
# short texts are kept per process. Long ones (an AI output can be large) are rendered each time.
_CACHED_CHARS = 16_000  # with 128 entries, at most ~6 MB of text and HTML per process


def render_markdown(text: str, *, under_heading: int = 0) -> str:
    """Sanitised HTML for the Markdown text; safe to mark safe in a template. With `under_heading` n, the text's
    headings nest under the page's <hn> it sits below: its "#" is an <h(n+1)>, its "##" an <h(n+2)>, down to <h6>."""
    text = text or ""
    return _rendered(text, under_heading) if len(text) <= _CACHED_CHARS else _render(text, under_heading)


@lru_cache(maxsize=128)
def _rendered(text: str, under_heading: int) -> str:
    return _render(text, under_heading)


def _render(text: str, under_heading: int = 0) -> str:
    env: dict = {}
    tokens = _markdown.parse(text, env)
    if under_heading:
        for token in tokens:
            if token.type in ("heading_open", "heading_close"):
                token.tag = f"h{min(int(token.tag[1]) + under_heading, 6)}"
    next_direction = None  # backwards, so the text that follows a holder is known in one pass, however many there are
    for token in reversed(tokens):
        if token.type == "inline":
            next_direction = _shown_direction(token)
        elif token.type in _HOLDERS and next_direction:
            token.attrSet("dir", next_direction)
    return sanitize(_markdown.renderer.render(tokens, _markdown.options, env))


def _shown_direction(inline) -> str | None:
    """The direction of the first strong letter the reader will see in an inline token: its text and code, entities
    decoded (its raw `content` has "&#x5d0;" for א), an image's alt text left out (the sanitizer drops images)."""
    for child in inline.children or []:
        if child.type in _SHOWN_TEXT and (direction := first_strong_direction(child.content)):
            return direction
    return None


def sanitize(html: str) -> str:
    """The allow-list every rendered text passes: tags, attributes, URL schemes, link rel, and the blocks' direction."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        set_tag_attribute_values=DIRECTION_ATTRIBUTES,
        tag_attribute_values=HOLDER_DIRECTIONS,
    )


def first_strong_direction(text: str) -> str | None:
    """The direction of the text's first letter of a strong direction, "rtl" or "ltr" (HTML's dir="auto" rule), None
    without one."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind == "L":
            return "ltr"
        if kind in ("R", "AL"):
            return "rtl"
    return None
