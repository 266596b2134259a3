"""What the explore page offers beside its results: the choices of the filter bar, and the project's saved views.

The choices come from the newest RECENT outputs (an index scan, cheap at any project size): the models, tags
and metadata keys people are looking at now. The facets (`explore.summary`) count the full filter result.
"""

from collections import Counter
from dataclasses import dataclass
from urllib.parse import parse_qs

from labeling.exceptions import InvalidFilter, NotFound
from labeling.models import Output, Project, Queue, SavedView
from labeling.rules.explore import (
    blind_problems,
    most_common,
    pair_fits,
    parse_filter,
    tags_of,
    typed_pair,
    typed_value,
    value_fits,
)

RECENT = 500
MAX_SUGGESTIONS = 40


@dataclass(frozen=True)
class FilterChoices:
    models: list[str]  # as stored
    # As the bar's text fields take them (`rules.explore.typed_value`): a value with spaces at its ends in quotes.
    tags: list[str]
    metadata_keys: list[str]
    metadata_values: list[str]  # "key:value", as the `meta` parameter takes it
    queues: list[Queue]


def filter_choices(project: Project) -> FilterChoices:
    """Models, tags, metadata keys and values of the newest outputs, most frequent first and ties by value, as the
    facets list them (`rules.explore.most_common`); the queues by name."""
    models, tags, keys, values = Counter(), Counter(), Counter(), Counter()
    recent = Output.objects.filter(project=project).order_by("-occurred_at", "-pk")
    for model, output_tags, metadata in recent.values_list("model", "tags", "metadata")[:RECENT]:
        # Only what a filter takes (`value_fits`): a longer model or tag is a suggestion the page refuses.
        if model and value_fits(model):
            models[model] += 1
        tags.update(tag for tag in tags_of(output_tags) if value_fits(tag))  # once an output, as a facet counts
        for key, value in (metadata or {}).items() if isinstance(metadata, dict) else ():
            if value_fits(key):
                keys[key] += 1
            # A suggestion is short (a value of at most 60 characters) and a filter the page takes (`pair_fits`): a
            # long key, its quotes doubled, made one the page refused.
            text = str(value).lower() if isinstance(value, bool) else value if isinstance(value, str) else None
            if text is not None and len(text) <= 60 and pair_fits(key, text):
                values[key, text] += 1

    def top(counts: Counter) -> list:
        return [value for value, _ in most_common(counts)[:MAX_SUGGESTIONS]]

    queues = list(Queue.objects.filter(project=project).order_by("name"))
    return FilterChoices(
        top(models),
        [typed_value(tag) for tag in top(tags)],
        [typed_value(key) for key in top(keys)],
        [typed_pair(key, value) for key, value in top(values)],
        queues,
    )


def saved_views(project: Project, *, blind: bool = False) -> list[SavedView]:
    """The project's saved explore views by name (one query); for a member who labels blind (`blind`), only those
    whose filter they may use (`rules.explore.blind_problems`)."""
    views = list(SavedView.objects.filter(project=project).order_by("name"))
    return [view for view in views if not blind or _usable_blind(view.query)]


def saved_view(project: Project, view_id: int) -> SavedView:
    """One of the project's saved views; NotFound for another project's or a gone one."""
    view = SavedView.objects.filter(project=project, pk=view_id).first()
    if view is None:
        raise NotFound("No such saved view.")
    return view


def _usable_blind(query: str) -> bool:
    try:
        spec = parse_filter(parse_qs(query, keep_blank_values=True))
    except InvalidFilter:  # stored before a rule changed: listed, and opens on the message saying what is wrong
        return True
    return not blind_problems(spec)
