"""Failure themes: group a cycle week's failing outputs by what they say and store the themes
(`FailureTheme` rows, one `FailureThemeOutput` per member) for the meeting page, the report and the explore filter.

Which outputs fail is `selectors.themes.week_failures`; how they are grouped is `metrics.themes` (TF-IDF, seeded
k-means: the same failures give the same themes). A week with more than `MAX_DOCUMENTS` failures is themed on an
evenly spread choice of them, so the close stays cheap. Run by the weekly close and the hourly live refresh; a
recompute replaces the week's rows, unless they were made from the same inputs (`_inputs_sha256`): the same failures,
their texts at the same redaction, the same code and libraries. Then the rows stay, and the ~1 s of scikit-learn a
week of thousands of failures costs is not spent again every hour.
"""

import hashlib
import inspect
from datetime import date
from functools import cache
from importlib.metadata import version
from typing import Any

from django.db import transaction

from labeling.exceptions import InvalidInput
from labeling.metrics import themes as theme_rules
from labeling.metrics.themes import MAX_DOCUMENTS, evenly_spread, find_themes
from labeling.models import (
    CycleStatus,
    FailureTheme,
    FailureThemeOutput,
    Output,
    Project,
    ReviewCycle,
    SavedView,
    week_label,
)
from labeling.rules import text as text_rules
from labeling.rules.text import strings_in
from labeling.selectors.themes import theme_of_week, theme_view_name, week_failures

from .saved_views import save_view, saved_twin, stored_name

# Keys of chat messages and content parts that name their structure, not what was said ("role": "user").
_STRUCTURE_KEYS = frozenset({"role", "type", "name", "id", "tool_call_id", "index"})
_TEXT_CHUNK = 1_000  # outputs loaded per query
# A document is the output's first OUTPUT_CHARS, then the last INPUT_CHARS of what the end user asked; each part is
# cut on its own, so a long system prompt or question never crowds out the failing answer.
OUTPUT_CHARS = 3_000
INPUT_CHARS = 1_000


def refresh_week_themes(*, project: Project, week: date) -> int:
    """Recompute and store the week's failure themes, or keep the stored ones when they were made from the same
    inputs (`_inputs_sha256`); return how many the week has."""
    failing = week_failures(project=project, week=week)
    themed = evenly_spread(failing, MAX_DOCUMENTS)
    inputs = _inputs_sha256(failing, themed)
    kept = list(FailureTheme.objects.filter(project=project, week=week).values_list("inputs_sha256", flat=True))
    if kept and set(kept) == {inputs}:
        return len(kept)
    themes = find_themes(_documents(themed))
    with transaction.atomic():
        # Two recomputes at once (a refresh during a close) would both delete and then both insert the week's
        # rows; the project row lock makes the second wait and then replace the first's (as the metric rows do).
        Project.objects.lock(project.pk)
        FailureTheme.objects.filter(project=project, week=week).delete()
        rows = FailureTheme.objects.bulk_create(
            FailureTheme(
                project=project,
                week=week,
                rank=theme.rank,
                terms=list(theme.terms),
                size=theme.size,
                share=theme.size / len(themed),
                failures=len(failing),
                themed=len(themed),
                example_output_ids=list(theme.example_ids),
                inputs_sha256=inputs,
            )
            for theme in themes
        )
        FailureThemeOutput.objects.bulk_create(
            [
                FailureThemeOutput(theme=row, output_id=output_id)
                for row, theme in zip(rows, themes, strict=True)
                for output_id in theme.member_ids
            ],
            batch_size=2_000,
        )
    return len(themes)


def save_theme_view(*, project: Project, week: date, rank: int, actor=None) -> tuple[SavedView, bool]:
    """Save the theme's explore filter as a view named for its top terms and week; (the view, whether it is new).

    A theme saved before gives the view saved then (new, when the same lead saved it moments ago: the same post
    again, rules.twins); NotFound for a theme the week does not have; InvalidInput
    for a week not closed yet (its hourly refresh renumbers the themes, so `theme=week.rank` would later open
    another one) and when another filter holds the name already.
    """
    if not ReviewCycle.objects.filter(project=project, week=week, status=CycleStatus.CLOSED).exists():
        raise InvalidInput(
            f"The week {week_label(week)} is still open: its themes are regrouped every hour. "
            "Save a theme as a filter once the week is closed."
        )
    theme = theme_of_week(project=project, week=week, rank=rank)
    name, query = stored_name(project, theme_view_name(theme, week)), theme["explore_query"]
    saved = SavedView.objects.filter(project=project, name=name, query=query).first()
    if saved is not None and saved_twin(project=project, name=name, query=query, actor=actor) is None:
        return saved, False
    # New, or saved by this lead moments ago (the same post again), which save_view answers as the first did.
    return save_view(project=project, name=name, query=query, actor=actor), True


def _inputs_sha256(failing: list[int], themed: list[int]) -> str:
    """The SHA-256 of what a week's themes are made from: its failing outputs (all of them: `failures` and the choice
    depend on all), each themed output's redaction (its text changes only with it; an erased output leaves the
    failures), and the code and libraries that group them."""
    # One statement with the ids bound as one array (`__any`): two small columns each, no text to bound in chunks.
    versions = list(Output.objects.filter(pk__any=themed).order_by("pk").values_list("pk", "redaction_version"))
    digest = hashlib.sha256(_grouping_code().encode())
    digest.update(repr((failing, versions)).encode())
    return digest.hexdigest()


@cache
def _grouping_code() -> str:
    """The source of everything that turns failures into themes, and the versions of the libraries that group them
    (read from their metadata: importing them costs seconds, and a week without enough failures never needs them)."""
    parts = (theme_rules, _documents, _document, _last_user_message, text_rules)
    libraries = " ".join(version(name) for name in ("numpy", "scipy", "scikit-learn", "threadpoolctl"))
    constants = f"{OUTPUT_CHARS} {INPUT_CHARS} {sorted(_STRUCTURE_KEYS)}"
    return "".join(inspect.getsource(part) for part in parts) + f"{constants} {libraries}"


def _documents(output_ids: list[int]) -> list[tuple[int, str]]:
    """(id, its document: see `_document`) of each output."""
    documents = []
    for start in range(0, len(output_ids), _TEXT_CHUNK):
        chunk = output_ids[start : start + _TEXT_CHUNK]
        for pk, given, answered in Output.objects.filter(pk__in=chunk).values_list("pk", "input", "output"):
            documents.append((pk, _document(given, answered)))
    return documents


def _document(given: Any, answered: Any) -> str:
    """The output's words first, then the end of the end user's last message: a failure is what was answered,
    and a system prompt (the same in every output) says nothing about which kind of failure it is."""
    answer = " ".join(strings_in(answered, skip_keys=_STRUCTURE_KEYS))[:OUTPUT_CHARS]
    question = " ".join(strings_in(_last_user_message(given), skip_keys=_STRUCTURE_KEYS))[-INPUT_CHARS:]
    return f"{answer} {question}".strip()


def _last_user_message(value: Any) -> Any:
    """The content of a chat transcript's last "user" message (None without one); any other input as it is."""
    if isinstance(value, list) and value and all(isinstance(message, dict) and "role" in message for message in value):
        said = [message.get("content") for message in value if message.get("role") == "user"]
        return said[-1] if said else None
    return value


_grouping_code()  # now, while the files and libraries on disk are the ones this process runs (see datasets.rows)
