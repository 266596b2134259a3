"""What the explore page offers beside its results: the choices of the filter bar, and the project's saved views.

The choices come from the newest RECENT outputs (an index scan, cheap at any project size): the models, tags
and metadata keys people are looking at now, counted by the database. The facets (`explore.summary`) count the full
filter result.
"""

from dataclasses import dataclass
from urllib.parse import parse_qs

from django.db import connection

from labeling.exceptions import InvalidFilter, NotFound
from labeling.models import Output, Project, Queue, SavedView
from labeling.rules.explore import blind_problems, parse_filter, typed_pair, typed_value

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
    """Models, tags, metadata keys and values of the newest outputs, most frequent first (ties: the one met first,
    newest output first, in its order); the queues by name."""
    tallies: dict[str, dict[str, list[int]]] = {"model": {}, "tag": {}, "key": {}, "value": {}}

    def add(kind: str, choice: str, count: int, first: int) -> None:
        # Two stored pairs may be typed alike (`typed_pair`), as a key's pairs are one key: one choice, counted once.
        tally = tallies[kind].setdefault(choice, [0, first])
        tally[0] += count
        tally[1] = min(tally[1], first)

    for kind, name, value, count, first in _recent_counts(project):
        if kind == "pair":
            add("key", typed_value(name), count, first)
            if value is not None:
                add("value", typed_pair(name, value), count, first)
        else:
            add(kind, name if kind == "model" else typed_value(name), count, first)

    def top(kind: str) -> list[str]:
        ranked = sorted(tallies[kind].items(), key=lambda item: (-item[1][0], item[1][1]))
        return [choice for choice, _ in ranked[:MAX_SUGGESTIONS]]

    queues = list(Queue.objects.filter(project=project).order_by("name"))
    return FilterChoices(top("model"), top("tag"), top("key"), top("value"), queues)


# The newest RECENT outputs' models, tags (strings) and metadata pairs (the key; the value when a string of up to 60
# characters or a boolean, as "true"/"false"), each with its count and where it first comes: newest output first,
# then its place in the list or object (n * 2**32 + place: no output's tags or metadata near 2**32 elements).
_RECENT = """
    WITH recent AS (
        SELECT model, tags, metadata, row_number() OVER (ORDER BY occurred_at DESC, id DESC) AS n
        FROM (SELECT model, tags, metadata, occurred_at, id FROM {table} WHERE project_id = %s
              ORDER BY occurred_at DESC, id DESC LIMIT %s) AS newest
    )
    SELECT 'model', model, NULL, count(*), min(n) * 4294967296 FROM recent WHERE model <> '' GROUP BY model
"""
_RECENT_COUNTS = {
    "postgresql": _RECENT
    + """
    UNION ALL
    SELECT 'tag', tag #>> '{{}}', NULL, count(*), min(n * 4294967296 + place)
    FROM recent, jsonb_array_elements(CASE WHEN jsonb_typeof(tags) = 'array' THEN tags END)
                 WITH ORDINALITY AS element(tag, place)
    WHERE jsonb_typeof(tag) = 'string'
    GROUP BY 2
    UNION ALL
    SELECT 'pair', key, value, count(*), min(position)
    FROM (
        SELECT key, n * 4294967296 + place AS position,
               CASE WHEN jsonb_typeof(value) = 'boolean'
                      OR jsonb_typeof(value) = 'string' AND length(value #>> '{{}}') <= 60
                    THEN value #>> '{{}}' END AS value
        FROM recent, jsonb_each(CASE WHEN jsonb_typeof(metadata) = 'object' THEN metadata END)
                     WITH ORDINALITY AS pair(key, value, place)
    ) AS pairs
    GROUP BY key, value
    """,
    # json_each's `id` grows in the text's order; its `type` spells booleans out.
    "sqlite": _RECENT
    + """
    UNION ALL
    SELECT 'tag', element.value, NULL, count(*), min(n * 4294967296 + element.id)
    FROM recent, json_each(CASE WHEN json_type(tags) = 'array' THEN tags END) AS element
    WHERE element.type = 'text'
    GROUP BY 2
    UNION ALL
    SELECT 'pair', key, value, count(*), min(position)
    FROM (
        SELECT pair.key AS key, n * 4294967296 + pair.id AS position,
               CASE WHEN pair.type IN ('true', 'false') THEN pair.type
                    WHEN pair.type = 'text' AND length(pair.value) <= 60 THEN pair.value END AS value
        FROM recent, json_each(CASE WHEN json_type(metadata) = 'object' THEN metadata END) AS pair
    ) AS pairs
    GROUP BY key, value
    """,
}


def _recent_counts(project: Project) -> list[tuple[str, str, str | None, int, int]]:
    """(kind, name, value, count, first) per model, tag and metadata pair of the newest RECENT outputs: counted by the
    database, which sends these few rows instead of 500 outputs' JSON."""
    sql = _RECENT_COUNTS[connection.vendor].format(table=connection.ops.quote_name(Output._meta.db_table))
    with connection.cursor() as cursor:
        cursor.execute(sql, [project.pk, RECENT])
        return cursor.fetchall()


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
