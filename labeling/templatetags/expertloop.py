import json

from django import template
from django.utils.safestring import mark_safe

from labeling.rules.text import EXCERPT_CHARS
from labeling.rules.text import excerpt as plain_excerpt
from labeling.web.markdown import render_markdown

register = template.Library()


@register.filter
def markdown(text) -> str:
    """Untrusted Markdown → sanitised HTML (see labeling/web/markdown.py)."""
    if not isinstance(text, str):
        text = json.dumps(text, indent=2, ensure_ascii=False)
        return mark_safe(render_markdown(f"```json\n{text}\n```"))
    return mark_safe(render_markdown(text))  # noqa: S308 — sanitised by nh3 above


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


@register.filter
def excerpt(value, limit: int = EXCERPT_CHARS) -> str:
    """An output's one-paragraph plain-text preview (JSON as JSON, not a Python repr), as every page shows it."""
    return plain_excerpt(value, int(limit))
