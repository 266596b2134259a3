"""Failure themes: which of a cycle week's outputs failed, and the week's stored themes as report entries.

A week's **failing outputs** are its outputs (`occurred_at` in the cycle week) that the experts failed, or, when
they have no gold answer, that the end user gave a thumbs-down:

- gold: the gold answer (`rules.gold`: adjudicated over automatic, ties no answer) to the verdict question (the
  rubric's first binary question) on the output's items; an output in two queues fails when either fails, as
  retention's verdict reads it, and passes when one passes and none fails;
- without a gold verdict (not labeled yet, a tie, no rubric): `feedback_score = -1`.

A gold pass outweighs a thumbs-down: the experts looked at it.
"""

from collections import defaultdict
from datetime import date

from labeling.exceptions import NotFound
from labeling.models import FailureTheme, FeedbackScore, Item, Output, Project, Resolution, week_label
from labeling.rules import explore as explore_rules
from labeling.rules.calendar import week_end, week_start
from labeling.rules.explore import ExploreFilter, filter_query
from labeling.rules.gold import output_verdict
from labeling.rules.text import excerpt

from .gold import gold_entries, gold_of_entries
from .rubrics import verdict_question

EXCERPT_CHARS = 200
BLIND_KEYS = ("examples", "explore_query")  # what an expert's copy of a theme leaves out
VIEW_NAME_TERMS = 3  # terms in a saved view's name
VIEW_NAME_TERMS_CHARS = 80  # of the 100 a name may have


def week_failures(*, project: Project, week: date) -> list[int]:
    """The ids of the week's failing outputs (see the module's docstring), sorted."""
    in_week = {"occurred_at__gte": week_start(project, week), "occurred_at__lt": week_end(project, week)}
    question = verdict_question(project)
    verdicts: dict[int, bool] = {}
    if question is not None:
        key = question["key"]
        # The answers come back as JSON text: a resolution holds every question's answer, only one is read.
        resolutions = (
            Resolution.objects.filter(item__project=project, **{f"item__output__{k}": v for k, v in in_week.items()})
            .annotate(**gold_entries(key))
            .values_list("item__output_id", "auto", "decided")
        )
        golds: dict[int, list] = defaultdict(list)
        for output_id, auto, decided in resolutions:
            golds[output_id].append(gold_of_entries(auto, decided))
        for output_id, answers in golds.items():
            verdict = output_verdict(answers)
            if verdict is not None:
                verdicts[output_id] = verdict
    thumbs_down = Output.objects.filter(project=project, feedback_score=FeedbackScore.DOWN, **in_week)
    failing = {output_id for output_id, passed in verdicts.items() if not passed}
    failing.update(pk for pk in thumbs_down.values_list("pk", flat=True) if pk not in verdicts)
    return sorted(failing)


def theme_key(week: date, rank: int) -> str:
    """How a theme is named in links and the explore filter: its week and rank, e.g. "2026-W48.1"."""
    return explore_rules.theme_key(week_label(week), rank)


def explore_query(week: date, rank: int) -> str:
    """The explore filter that opens every output of the theme."""
    return filter_query(ExploreFilter(theme=(week_label(week), rank)))


def week_themes(*, project: Project, week: date) -> list[dict]:
    """The week's failure themes, biggest first (for the report and the meeting page): plain JSON data.

    Each: rank, key, terms, size, share (of the themed failures), failures (the week's), themed, examples (output
    external id, its first item's id or None, an excerpt), explore_query. Three queries.
    """
    themes = list(FailureTheme.objects.filter(project=project, week=week).order_by("rank"))
    example_ids = [output_id for theme in themes for output_id in theme.example_output_ids]
    outputs = {
        pk: (external_id, value)
        for pk, external_id, value in Output.objects.filter(project=project, pk__in=example_ids).values_list(
            "pk", "external_id", "output"
        )
    }
    items: dict[int, int] = {}
    for output_id, item_id in Item.objects.filter(output_id__in=outputs).order_by("pk").values_list("output_id", "pk"):
        items.setdefault(output_id, item_id)
    return [
        {
            "rank": theme.rank,
            "key": theme_key(week, theme.rank),
            "terms": list(theme.terms),
            "size": theme.size,
            "share": round(theme.share, 4),
            "failures": theme.failures,
            "themed": theme.themed,
            "examples": [
                {
                    "output": outputs[output_id][0],
                    "item_id": items.get(output_id),
                    "excerpt": excerpt(outputs[output_id][1], EXCERPT_CHARS),
                }
                for output_id in theme.example_output_ids
                if output_id in outputs  # an erased output is no example any more
            ],
            "explore_query": explore_query(week, theme.rank),
        }
        for theme in themes
    ]


def blind_themes(report: dict) -> dict:
    """The report's themes as an expert reads them (`report.blind_report`): each failure theme keeps its terms, size and
    share (aggregates, like the pass rates) but not its examples nor its explore filter, which would show an expert
    which outputs, their own among them, failed their gold answer."""
    if "themes" not in report:
        return report
    themes = [{key: value for key, value in theme.items() if key not in BLIND_KEYS} for theme in report["themes"]]
    return {**report, "themes": themes}


def theme_of_week(*, project: Project, week: date, rank: int) -> dict:
    """One theme of the week as `week_themes` gives it, else NotFound."""
    found = next((theme for theme in week_themes(project=project, week=week) if theme["rank"] == rank), None)
    if found is None:
        raise NotFound("No such failure theme.")
    return found


def theme_view_name(theme: dict, week: date) -> str:
    """The name a theme's saved explore view gets: "Theme: refund, label, days (2026-W48)"."""
    terms = ", ".join(theme["terms"][:VIEW_NAME_TERMS]) or f"#{theme['rank']}"
    if len(terms) > VIEW_NAME_TERMS_CHARS:
        terms = terms[: VIEW_NAME_TERMS_CHARS - 1].rstrip() + "…"
    return f"Theme: {terms} ({week_label(week)})"
