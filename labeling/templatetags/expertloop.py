import json

from django import template
from django.utils import dateformat, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeData, mark_safe

from labeling.models import week_label
from labeling.notices import rubric_published_text, verdict_change_clause
from labeling.reports import gold_too_few as gold_too_few_sentence
from labeling.rules.alerts import moments_in_zone
from labeling.rules.explore import FEEDBACK, FEEDBACK_WORDS
from labeling.rules.text import EXCERPT_CHARS, FORMER_MEMBER, without_stray_isolate_ends
from labeling.rules.text import excerpt as plain_excerpt
from labeling.rules.text import figure as figure_text
from labeling.rules.text import isolated as isolated_text
from labeling.selectors.work import WAITING_COUNTED_TO, WEEK_COUNTED_TO
from labeling.web.formatting import local_time as local_time_text
from labeling.web.markdown import render_markdown
from labeling.web.messages import label_to_change as labeled_item_of
from labeling.web.messages import skip_to_undo as skipped_item_of
from labeling.web.structured import as_json, render_structured

register = template.Library()


@register.filter
def markdown(text, under_heading: int = 0) -> str:
    """Untrusted Markdown → sanitised HTML (see labeling/web/markdown.py); `|markdown:2` for a text below an <h2>,
    whose own headings then start at <h3>."""
    if not isinstance(text, str):
        text = json.dumps(text, indent=2, ensure_ascii=False)
        return mark_safe(render_markdown(f"```json\n{text}\n```"))
    return mark_safe(render_markdown(text, under_heading=int(under_heading)))  # noqa: S308 — sanitised by nh3 above


@register.filter
def gold_too_few(items) -> str | None:
    """Why an expert's agreement with the gold over this many items is no figure (`reports.gold_too_few`), or None."""
    return gold_too_few_sentence(int(items or 0))


@register.filter
def or_former_member(name):
    """The name, or the one wording for someone whose account is gone (`rules.text.FORMER_MEMBER`)."""
    return name or FORMER_MEMBER


@register.filter
def skip_to_undo(message) -> int | None:
    """The item a "Skipped item …" message offers to hand back (an "Undo skip" button in it), else None."""
    return skipped_item_of(message)


@register.filter
def label_to_change(message) -> int | None:
    """The item a "Label saved …" message links back to, to change that label, else None."""
    return labeled_item_of(message)


@register.filter
def bidi_isolate(value) -> str:
    """User text put inline among the page's own words (a quoted comment, a name before a button), escaped and in a
    <bdi>: a right-to-left override in it (U+202E) reverses it alone, never the quote or the words after it."""
    cleaned = without_stray_isolate_ends(str(value))
    # Text already escaped (marked safe) stays so: dropping a U+2069 from it makes no markup.
    return format_html("<bdi>{}</bdi>", mark_safe(cleaned) if isinstance(value, SafeData) else cleaned)


def _strong(words: str) -> str:
    return f"<strong>{words}</strong>"


@register.simple_tag
def rubric_published(published: dict, zone) -> dict:
    """A version published during the week (`selectors.rubrics.rubrics_published_data`) as the meeting page says it:
    the wording of the report's Markdown and the digest (`notices.rubric_published_text`), written as HTML (`said`,
    `meaning`, `changes`)."""
    said, meaning, changes = rubric_published_text(published, zone=zone, text=bidi_isolate, strong=_strong)
    # Safe: a person's words (names, prompts) are escaped by `bidi_isolate`; the rest is the function's own wording,
    # numbers and a formatted moment, with no markup of its own but `_strong`'s.
    return {"said": mark_safe(said), "meaning": mark_safe(meaning), "changes": [mark_safe(line) for line in changes]}


@register.filter
def verdict_change(published) -> str:
    """After "...pool labels of two versions": what a version published this week (a `RubricPublished`) did to the
    pass rate's question (`notices.verdict_change_clause`); nothing when it is asked alike or there is none."""
    # Safe: the function's own wording and a version number, no person's words.
    return mark_safe(verdict_change_clause(published.version, published.verdict_change))


@register.filter
def isolated(value) -> str:
    """User text where no tag may go (a <title>, an attribute, an <option>, a plain-text e-mail): wrapped in
    U+2068…U+2069 when it holds a directional formatting character, so an override reverses it alone."""
    return isolated_text(str(value))


_COUNTED_TO = {"waiting": WAITING_COUNTED_TO, "week": WEEK_COUNTED_TO}


@register.filter
def counted(value: int, kind: str) -> str:
    """A count selectors.work counts only so far (`|counted:"waiting"` or `|counted:"week"`): "100+" past it."""
    limit = _COUNTED_TO[kind]
    return f"{figure_text(limit)}+" if value > limit else figure_text(value)


@register.filter
def figure(value):
    """A count with its thousands grouped, "2,081", as the pages' sentences write counts. A figure that is not there
    (a key a frozen report lacks reads as "", one not computed is None) shows as nothing; a value of another kind (a
    string of digits) is a page's bug, and fails as one."""
    return "" if value in ("", None) else figure_text(value)


@register.filter
def counted_in_full(value: int, kind: str) -> bool:
    """Whether such a count is the whole count (not past its limit), as a progress bar needs."""
    return value <= _COUNTED_TO[kind]


@register.filter
def iso_week(week) -> str:
    """A cycle week's first day as the pages and reports name the week, e.g. "2026-W48"."""
    return week_label(week)


@register.filter
def week_named(week) -> str:
    """A cycle week as the pages name it in words, e.g. "2026-W49 (week of 30 Nov)": its label, then its first day.
    The one form every page uses, so a week reads the same wherever it is met. No week (None, "") reads as nothing, as
    Django's `date` filter has it: a catch-all branch may pass one."""
    if week in (None, ""):
        return ""
    return f"{week_label(week)} (week of {dateformat.format(week, 'j M')})"


@register.filter(expects_localtime=True)
def local_time(moment, with_seconds: bool = False) -> str:
    """A moment in the page's zone, "2026-11-01 01:30", with its UTC offset when that local time occurs twice
    (labeling/web/formatting.py); `|local_time:True` with seconds."""
    return local_time_text(moment, bool(with_seconds)) if moment else ""


@register.filter
def in_page_zone(alert_text) -> str:
    """An alert's detail with its UTC moments in the zone the page shows times in (plain text: escaped)."""
    return moments_in_zone(str(alert_text), timezone.get_current_timezone())


@register.inclusion_tag("labeling/_context.html")
def structured_context(value) -> dict:
    """An output's context made readable (labeling/web/structured.py); its raw JSON behind a toggle unless text."""
    return {"readable": render_structured(value), "raw_json": None if isinstance(value, str) else as_json(value)}


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


@register.filter
def excerpt(value, limit: int = EXCERPT_CHARS) -> str:
    """An output's one-paragraph plain-text preview (JSON as JSON, not a Python repr), as every page shows it."""
    return plain_excerpt(value, int(limit))


_FEEDBACK_BADGES = {1: "badge good", -1: "badge bad", 0: "badge"}


@register.simple_tag
def feedback_badge(score) -> str:
    """An output's end-user feedback score as a badge, in the words every page names it by
    (`rules.explore.FEEDBACK_WORDS`); nothing when there is none."""
    if score not in _FEEDBACK_BADGES:
        return ""
    name = next(name for name, value in FEEDBACK.items() if value == score)
    return format_html('<span class="{}">{}</span>', _FEEDBACK_BADGES[score], FEEDBACK_WORDS[name])
