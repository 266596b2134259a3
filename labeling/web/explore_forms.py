"""The explore page's filter bar and its chips, drawn from the query string as typed.

The bar is a plain GET form whose fields are the filter's parameters (`rules.explore.PARAMETERS`), so the URL is
the filter state. It is filled from the raw values, not from the parsed filter, so that a refused value stays in
its field beside its message. A parameter that takes several values shows one input per value and an empty one
to add another; clearing an input removes its value.
"""

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from django.http import QueryDict

from labeling.models import Project
from labeling.rules.calendar import current_week
from labeling.rules.explore import (
    BLIND_PARAMETERS,
    DEFAULT_SORT,
    FEEDBACK,
    FEEDBACK_WORDS,
    FILTER_YEARS,
    PARAMETERS,
    SORTS,
    ExploreFilter,
    filter_query,
    read_value,
    shown_value,
    typed_value,
    verdict_word,
)
from labeling.rules.text import markdown_text
from labeling.selectors.explore_page import FilterChoices

# The parameters' help as the bar's tooltips show it: a title attribute shows its text as it is, so the code spans
# written for the API schema (which renders them) are shown as the text they hold, without their backticks.
TOOLTIPS = {name: markdown_text(text) for name, text in PARAMETERS.items()}

YES_NO_LABELS = {
    "has_comment": ("Has a comment", "No comment"),
    "labeled": ("Labeled", "Not labeled"),
    "disagree": ("Experts disagreed", "Experts agreed"),
    "flagged": ("Flagged", "Not flagged"),
    "has_event": ("Its end user had a usage event", "Its end user had no usage event"),
}


@dataclass
class Option:
    value: str
    label: str
    checked: bool = False


@dataclass
class FilterBar:
    """What the template needs to draw the filter bar: raw values, options and each parameter's problem."""

    values: dict[str, list[str]]
    problems: dict[str, str]
    models: list[Option]
    feedback: list[Option]
    queues: list[Option]
    gold_options: list[Option]
    gold_others: list[str]  # gold pairs the verdict select does not offer, kept as text inputs
    choices: FilterChoices
    unknown: dict[str, str] = field(default_factory=dict)  # problems of parameters the bar has no field for
    blind: bool = False  # an expert's bar: no gold, failure theme or disagreement field, as they may not filter by them
    disagreement: bool = False  # the "experts disagreed" select: a lead's bar, in a project with a verdict question

    @property
    def yes_no(self) -> list[dict[str, str]]:
        """The yes/no parameters as selects: name, title, the words of `no`, chosen value, problem."""
        shown = [("comment", "Feedback comment", "no"), ("labeled", "Labeled", "no"), ("flagged", "Flagged", "no")]
        if self.disagreement:
            # Not "no disagreement": an output no two experts answered is neither (rules.explore.PARAMETERS).
            shown.insert(2, ("disagree", "Experts disagreed", "no, they agreed"))
        return [
            {
                "name": name,
                "title": title,
                "no": no,
                "tooltip": TOOLTIPS[name],
                "chosen": self.first.get(name, "").lower(),
                "problem": self.problems.get(name, ""),
            }
            for name, title, no in shown
        ]

    @property
    def sorts(self) -> list[Option]:
        """The orders of the results, the one asked for chosen (the default when none or a refused one)."""
        chosen = self.first.get("sort", "").lower()
        chosen = chosen if chosen in SORTS else DEFAULT_SORT
        return [Option(value, label, value == chosen) for value, label in SORTS.items()]

    @property
    def more_open(self) -> bool:
        """Whether "More filters" starts open: a parameter beyond search and dates is set, or refused."""
        return any(
            name not in ("q", "from", "to", "sort") for name in [*self.values, *self.problems] if name != "cursor"
        )

    @property
    def first(self) -> dict[str, str]:
        """The first raw value of each parameter (`bar.first.q` in the template)."""
        return {name: values[0] for name, values in self.values.items() if values}


BAR_FIELDS = set(PARAMETERS)  # the bar has a field for every filter parameter


def _verdict_option(pair: str, verdict: dict | None) -> str:
    """A typed gold pair as the verdict select's value when it is a verdict (`correct:fail` as `correct:false`)."""
    key, colon, answer = pair.partition(":")
    word = verdict_word(answer) if verdict and colon and key.strip() == verdict["key"] else None
    return f"{verdict['key']}:{'true' if word == 'pass' else 'false'}" if word else pair


def filter_bar(
    params: QueryDict, problems: dict[str, str], choices: FilterChoices, verdict: dict | None, *, blind: bool = False
) -> FilterBar:
    # As typed, trimmed: a value in quotes (spaces kept inside, as a facet link writes it) stays in its quotes, so the
    # next search keeps it.
    values = {name: [v.strip() for v in params.getlist(name) if v.strip()] for name in params}

    def options(known: list[str], chosen: list[str], labels: dict[str, str] | None = None) -> list[Option]:
        every = list(dict.fromkeys([*known, *chosen]))
        return [Option(value, (labels or {}).get(value, value), value in chosen) for value in every]

    fields = BAR_FIELDS - BLIND_PARAMETERS.keys() if blind else BAR_FIELDS  # refused to them: left out
    # Without a verdict question there is nothing to disagree on: no select, unless the address gave one, whose
    # refusal ("no pass/fail question") then sits at its field.
    disagreement = not blind and (verdict is not None or "disagree" in values)
    if not disagreement:
        fields = fields - {"disagree"}
    queue_names = {queue.slug: queue.name for queue in choices.queues}
    # The verdict question (the rubric's first pass/fail one) gets a select; other gold pairs stay text inputs.
    gold_values = {f"{verdict['key']}:true": "pass", f"{verdict['key']}:false": "fail"} if verdict else {}
    # A verdict written in another word the filter reads alike (`correct:fail`, `correct:no`) is the select's too.
    gold_chosen = [_verdict_option(value, verdict) for value in values.get("gold", [])]
    gold_options = [Option(value, label, value in gold_chosen) for value, label in gold_values.items()]
    return FilterBar(
        values=values,
        problems=problems,
        # A model box sends the model as typed (quoted if spaces at its ends), ticked however the model was typed.
        models=options(
            [typed_value(model) for model in choices.models],
            [typed_value(read_value(model)) for model in values.get("model", [])],
            {typed_value(model): shown_value(model) for model in choices.models},
        ),
        feedback=options(list(FEEDBACK), [v.lower() for v in values.get("feedback", [])], FEEDBACK_WORDS),
        queues=options([q.slug for q in choices.queues], values.get("queue", []), queue_names),
        gold_options=gold_options,
        gold_others=[value for value in gold_chosen if value not in gold_values],
        choices=choices,
        unknown={name: message for name, message in problems.items() if name not in fields},
        blind=blind,
        disagreement=disagreement,
    )


@dataclass(frozen=True)
class Chip:
    label: str
    query: str  # the filter without this condition


def chips(spec: ExploreFilter, verdict_key: str | None = None, former_keys: Collection[str] = ()) -> list[Chip]:
    """One chip per condition of the filter (per value of a repeated parameter), each with the query without it.
    A gold answer to the verdict question (`verdict_key`) reads pass or fail, as the filter menu and badges say; so
    does one to an earlier version's verdict question (`former_keys`, a closed week's link), with its question named.
    """
    found: list[Chip] = []

    def add(label: str, **changes: Any) -> None:
        found.append(Chip(label, filter_query(replace(spec, **changes))))

    def each(name: str, title: str, show=str) -> None:
        values = getattr(spec, name)
        for value in values:
            add(f"{title}: {show(value)}", **{name: tuple(v for v in values if v != value)})

    if spec.q:
        add(f"Search: {spec.q}", q="")
    if spec.since:
        add(f"From {spec.since.isoformat()}", since=None)
    if spec.until:
        add(f"To {spec.until.isoformat()}", until=None)
    each("models", "Model", shown_value)
    each("tags", "All tags" if spec.all_tags and len(spec.tags) > 1 else "Tag", shown_value)
    for key, allowed in spec.metadata:
        for value in allowed:
            rest = tuple(v for v in allowed if v != value)
            metadata = tuple((k, rest if k == key else vs) for k, vs in spec.metadata if k != key or rest)
            add(f"{shown_value(key)} = {shown_value(value)}", metadata=metadata)
    each("metadata_keys", "Has", shown_value)
    if spec.end_user:
        add(f"End user: {shown_value(spec.end_user)}", end_user="")
    if spec.session:
        add(f"Session: {shown_value(spec.session)}", session="")
    each("events", "Usage event", shown_value)
    names = {score: name for name, score in FEEDBACK.items()}
    each("feedback", "Feedback", lambda score: FEEDBACK_WORDS[names[score]])
    for name, (yes, no) in YES_NO_LABELS.items():
        value = getattr(spec, name)
        if value is not None:
            add(yes if value else no, **{name: None})

    def gold(pair: tuple[str, str]) -> str:
        key, answer = pair
        word = verdict_word(answer) if key == verdict_key or key in former_keys else None
        if word is None:
            return f"{key} = {answer}"
        return word if key == verdict_key else f"{key}: {word}"

    each("gold", "Gold", gold)
    each("queues", "Queue")
    if spec.min_chars is not None:
        add(f"≥ {spec.min_chars:,} characters", min_chars=None)
    if spec.max_chars is not None:
        add(f"≤ {spec.max_chars:,} characters", max_chars=None)
    if spec.theme:
        add(f"Failure theme {spec.theme[1]} of {spec.theme[0]}", theme=None)
    return found


@dataclass(frozen=True)
class DateRange:
    label: str
    query: str  # the filter with this range as its from and to days
    current: bool  # the filter's range already


def date_ranges(spec: ExploreFilter, project: Project) -> list[DateRange]:
    """One-click from/to days, other conditions kept: the project's running week and the one before (its calendar:
    time zone, first day of the week), and, when the filter has both days, the same span just before and after it,
    so one week's outputs compare with the week before's."""
    this_week = current_week(project)
    day, week = timedelta(days=1), timedelta(days=7)
    # `to` is a range's last day, included.
    spans = [("Last week", this_week - week, this_week - day), ("This week", this_week, this_week + week - day)]
    if spec.since and spec.until:
        days = spec.until - spec.since + day
        unit = {week: "Week", day: "Day"}.get(days)
        before, after = (
            (f"‹ {unit} before", f"{unit} after ›")
            if unit
            else (f"‹ {days.days} days before", f"{days.days} days after ›")
        )
        spans = [(before, spec.since - days, spec.since - day), *spans, (after, spec.until + day, spec.until + days)]
    # A step past the years a filter may name would open a page refusing it.
    spans = [
        (label, since, until)
        for label, since, until in spans
        if since.year in FILTER_YEARS and until.year in FILTER_YEARS
    ]
    return [
        DateRange(
            label, filter_query(replace(spec, since=since, until=until)), (spec.since, spec.until) == (since, until)
        )
        for label, since, until in spans
    ]
