"""Untrusted JSON (an output's context) as readable HTML: text with its line breaks, an object as labeled sections,
a list as a list. Every string is escaped by format_html; nothing from the value becomes markup."""

import json
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

# Past this many nested objects or lists the rest shows as indented JSON: a deeper value is rarely something an expert
# reads, and the page stays a page.
MAX_DEPTH = 4


def render_structured(value: Any, depth: int = 0) -> SafeString:
    """A JSON value as HTML an expert can read; text in `.structured-text` (styled white-space: pre-wrap)."""
    if isinstance(value, str):
        return format_html('<div class="structured-text" dir="auto">{}</div>', value)
    if not isinstance(value, dict | list):
        return format_html('<code class="structured-scalar">{}</code>', json.dumps(value))
    if not value:
        return mark_safe('<span class="muted">empty</span>')
    if depth >= MAX_DEPTH:
        return format_html('<pre class="structured-json" dir="auto">{}</pre>', as_json(value))
    if isinstance(value, dict):
        sections = format_html_join(
            "",
            '<div><dt dir="auto">{}</dt><dd>{}</dd></div>',
            ((key, render_structured(item, depth + 1)) for key, item in value.items()),
        )
        return format_html('<dl class="structured-object">{}</dl>', sections)
    entries = format_html_join("", "<li>{}</li>", ((render_structured(item, depth + 1),) for item in value))
    return format_html('<ol class="structured-list">{}</ol>', entries)


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
