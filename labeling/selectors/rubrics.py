"""Reads of a project's rubric: the current version and its questions, a version a form named, and the
question a week's pass rate is about."""

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Exists, Q, Subquery
from django.utils import timezone

from labeling.exceptions import NotFound
from labeling.models import CycleStatus, Label, Project, ReviewCycle, Rubric
from labeling.rules import calendar, gold
from labeling.rules.ids import is_whole_number
from labeling.rules.moments import utc_moment
from labeling.rules.rubric_questions import RubricNews, rubric_news, spelt_out

# Published versions by id, per process. A version is never edited once published (a change is a new version,
# services.rubrics.publish_rubric), so a row read once stays true; every label names one (its form's rubric_id,
# the next screen's current version), and this saves that query. Which version is *current* is never cached:
# it changes when a lead publishes, so it is read with the item (work.item_for_labeler's current_rubric_id).
# Bounded, so a long-lived worker that sees many projects does not grow: past the bound it starts again.
_VERSIONS: dict[int, Rubric] = {}
_VERSIONS_MAX = 1000


def current_rubric(project: Project) -> Rubric | None:
    """Return the project's current rubric version (None before one is published)."""
    return Rubric.objects.current_for(project)


def rubric_version(project: Project, rubric_id: str) -> Rubric:
    """The project's rubric version with this id (as a form posted it), else NotFound."""
    is_id = is_whole_number(rubric_id) and len(rubric_id) <= 18
    rubric = published_version(project, int(rubric_id)) if is_id else None
    if rubric is None:
        raise NotFound("No such rubric version.")
    return rubric


def published_version(project: Project, rubric_id: int | None) -> Rubric | None:
    """The project's rubric version with this id (None if it has none), from this process's cache once read."""
    if rubric_id is None:
        return None
    rubric = _VERSIONS.get(rubric_id)
    if rubric is None:
        rubric = Rubric.objects.filter(pk=rubric_id).first()
        if rubric is None:
            return None
        if len(_VERSIONS) >= _VERSIONS_MAX:
            _VERSIONS.clear()
        _VERSIONS[rubric_id] = rubric
    if rubric.project_id != project.pk:
        return None  # another project's version: the id was guessed or mistyped
    return copy.deepcopy(rubric)  # a caller may change what it is given; the cached row stays as read


def forget_published_versions() -> None:
    """Empty this process's cache of rubric versions (tests; a database restored under a running process)."""
    _VERSIONS.clear()


@dataclass(frozen=True)
class RubricPublished:
    """A rubric version published within a span (a cycle week): when, by whom, and what it changed."""

    version: int
    published_at: datetime
    by: str | None  # None: published by a command, or by someone since removed
    news: RubricNews  # as the labeling screen tells an expert (`rules.rubric_questions.rubric_news`)
    verdict: str | None  # the prompt of the version's verdict question (what the pass rate reads), None without one
    verdict_change: gold.VerdictChange  # what it did to the pass rate's question (`rules.gold.verdict_change`)


def rubrics_published_between(project: Project, start: datetime, end: datetime) -> list[RubricPublished]:
    """The versions published from `start` up to `end`, oldest first, each with what it changed from the version before
    it (one query: those versions and the one in force at `start`). A first version has nothing before it: no news."""
    in_force = Rubric.objects.filter(project=project, created_at__lt=start).order_by("-version").values("version")[:1]
    rows = (
        Rubric.objects.filter(project=project)
        .filter(Q(created_at__gte=start, created_at__lt=end) | Q(version=Subquery(in_force)))
        .select_related("created_by")
        .order_by("version")
    )
    found, before = [], None
    for rubric in rows:
        if before is not None and rubric.created_at >= start and (published := _published(before, rubric)):
            found.append(published)
        before = rubric
    return found


def _published(before: Rubric, rubric: Rubric) -> RubricPublished | None:
    """What `rubric` changed from `before`, the version before it (None when it is not newer)."""
    news = rubric_news(before, rubric)
    if news is None:
        return None
    verdict = gold.verdict_question(rubric.questions)
    return RubricPublished(
        version=rubric.version,
        published_at=rubric.created_at,
        by=rubric.created_by.username if rubric.created_by else None,
        news=news,
        verdict=verdict["prompt"] if verdict else None,
        verdict_change=gold.verdict_change(before.questions, rubric.questions),
    )


def rubrics_published_in_week(
    project: Project, week: date, *, cycle: ReviewCycle | None, beside: dict[date, ReviewCycle] | None = None
) -> list[RubricPublished]:
    """The versions published during the cycle week (`rubrics_published_between` its start and end): the one read the
    meeting page, the report's Markdown, the API's report and the digest tell a reader of the week's figures from.
    `cycle`: the week's (None before it has one); a closed week is bounded in the zone it was closed in, as its report
    reads its dates (`calendar.week_zone`), not in the one the project moved to since; any week starts where a closed
    week before it ends (`calendar.week_span`), so that after a zone move each version is told in one week. `beside`:
    the closed cycles of the weeks before and after it, by week, as a caller read them with the week's own
    (`closed_weeks_beside`, `report.report_of_week`); else one query reads them. One query, two without `beside`."""
    cycles = beside if beside is not None else _span_cycles(project, week)
    cycles = cycles | ({week: cycle} if cycle is not None else {})
    start, end = calendar.week_span(project, week, cycles=cycles)
    return rubrics_published_between(project, start, end)


def closed_weeks_beside(project: Project, week: date) -> Q:
    """The cycles beside the week that `calendar.week_span` reads for it: the closed ones of the weeks before and
    after it (`calendar.span_weeks`: none beyond the calendar's ends), a filter of ReviewCycle, for a caller to read
    them with its own query of the week's cycle."""
    before, _, after = calendar.span_weeks(project, week)
    return Q(week__in=[each for each in (before, after) if each is not None], status=CycleStatus.CLOSED)


def _span_cycles(project: Project, week: date) -> dict[date, ReviewCycle]:
    """The closed cycles `calendar.week_span` reads for the week, by week: those beside it (`closed_weeks_beside`),
    and its own if closed (the running week's, for `rubric_published_this_week`, as the home page reads it; a caller
    holding the week's cycle lays it over them). One query."""
    wanted = closed_weeks_beside(project, week) | Q(week=week, status=CycleStatus.CLOSED)
    closed = ReviewCycle.objects.filter(wanted, project=project).order_by()  # by project's slug: a join for nothing
    return {found.week: found for found in closed.only("week", "status", "closed_in_time_zone")}


def rubrics_published_data(
    project: Project, week: date, *, cycle: ReviewCycle | None, beside: dict[date, ReviewCycle] | None = None
) -> list[dict]:
    """The versions published during the cycle week (`rubrics_published_in_week`, which reads `cycle` and `beside`) as
    JSON data, oldest first: what the API's report gives as `rubrics_published`, and what the meeting page, the
    report's Markdown and the digest word (`notices.rubric_published_text`). One query, two without `beside`."""
    found = rubrics_published_in_week(project, week, cycle=cycle, beside=beside)
    return [_as_json(published) for published in found]


def _as_json(published: RubricPublished) -> dict:
    """A version published during a week as JSON data: its moment in UTC with `Z`, the questions by their prompts as
    the page names them."""
    return {
        "version": published.version,
        "published_at": utc_moment(published.published_at),
        "by": published.by,
        "since": published.news.since,
        "added": published.news.added,
        "changed": published.news.changed,
        "dropped": published.news.dropped,
        "guidelines_changed": published.news.guidelines_changed,
        "verdict": published.verdict,
        "verdict_change": str(published.verdict_change),
    }


def rubric_published_this_week(
    project: Project,
    now: datetime | None = None,
    *,
    versions: tuple[Rubric | None, Rubric | None] | None = None,
    cycles: dict[date, ReviewCycle] | None = None,
) -> RubricPublished | None:
    """The newest version, if published in the running week after another one, with what it changed (for the
    project page and the home page a lead lands on); None without one. The week spans what its meeting page reads
    (`calendar.week_span`): after a zone move, from the end of the week before as that one closed. `versions`: the
    newest version and the one before it, given by a caller that read them with its own query (the home page); else
    one query reads them. `cycles`: the project's cycles of the running week and the week before, by week (the home
    page's); else one query reads them."""
    if versions is None:
        newest_two = Rubric.objects.filter(project=project).select_related("created_by").order_by("-version")[:2]
        versions = (*newest_two, None, None)[:2]
    rubric, before = versions
    week = calendar.current_week(project, now or timezone.now())
    # A zone move shifts a week's start by a day at most: an older version needs no query of the cycles.
    if rubric is None or before is None or rubric.created_at < calendar.week_start(project, week) - timedelta(days=2):
        return None
    if cycles is None:
        cycles = _span_cycles(project, week)
    start, end = calendar.week_span(project, week, cycles=cycles)
    if not start <= rubric.created_at < end:
        return None
    return _published(before, rubric)


def questions_of(project: Project) -> list[dict]:
    """Return the questions of the project's current rubric (none before one is published)."""
    rubric = current_rubric(project)
    return rubric.questions if rubric else []


def question_keys(project: Project) -> set[str]:
    """Every question key of any version of the project's rubric (one query): an older version's keys still name
    the answers and the metrics of the weeks labeled under it."""
    return {
        question["key"]
        for questions in Rubric.objects.filter(project=project).values_list("questions", flat=True)
        for question in questions
    }


def question_kinds(project: Project) -> dict[str, set[str]]:
    """Each question key of any version of the project's rubric, with every kind a version asked it as (one
    query)."""
    kinds: dict[str, set[str]] = {}
    for questions in Rubric.objects.filter(project=project).values_list("questions", flat=True):
        for question in questions:
            kinds.setdefault(question["key"], set()).add(question["kind"])
    return kinds


def rating_scales(project: Project) -> dict[str, tuple[int, int]]:
    """Each rating question's scale, widened over every version of the project's rubric (one query): a rating given
    under an older, wider scale is still an answer to it."""
    scales: dict[str, tuple[int, int]] = {}
    for questions in Rubric.objects.filter(project=project).values_list("questions", flat=True):
        for question in questions:
            if question.get("kind") == "rating" and question.get("scale"):
                low, high = question["scale"]
                known = scales.get(question["key"], (low, high))
                scales[question["key"]] = (min(low, known[0]), max(high, known[1]))
    return scales


def verdict_question(project: Project, questions: list[dict] | None = None) -> dict | None:
    """The question a week's pass rate is about: the verdict question (`rules.gold.verdict_question`) of the current
    rubric, or of these questions."""
    return gold.verdict_question(questions if questions is not None else questions_of(project))


def verdict_keys(project: Project) -> dict[str, dict]:
    """Every key that is the verdict question (`rules.gold.verdict_question`) of a version of the project's rubric, the
    current one's included, with its question as the newest such version asked it (one query): a pass on one is a pass
    or fail verdict, as a week's report froze it, after a later version asked it otherwise or dropped it too."""
    found: dict[str, dict] = {}
    for questions in Rubric.objects.filter(project=project).order_by("version").values_list("questions", flat=True):
        if (question := gold.verdict_question(questions)) is not None:
            found[question["key"]] = question
    return found


def lazy_verdict_key(project: Project) -> Callable[[], str | None]:
    """The project's verdict question key, read only when called: a filter's message about a gold answer names it
    (`rules.explore.parse_filter`), and a request without such a message reads no rubric."""
    return lambda: (verdict_question(project) or {}).get("key")


def rubric_for_api(project: Project, version: int | None = None) -> dict:
    """The project's rubric version `version` (None: the current one) with every field of its questions spelt out,
    and every published version newest first (number and date only), in one query; NotFound if there is none."""
    rubrics = list(Rubric.objects.filter(project=project).order_by("-version"))
    if not rubrics:
        raise NotFound("No rubric has been published in this project yet.")
    chosen = rubrics[0] if version is None else next((r for r in rubrics if r.version == version), None)
    if chosen is None:
        raise NotFound(f"No rubric version {version}: the versions are {', '.join(str(r.version) for r in rubrics)}.")
    return {
        "version": chosen.version,
        "published_at": chosen.created_at,
        "guidelines": chosen.guidelines,
        "questions": [spelt_out(question) for question in chosen.questions],
        "versions": [{"version": rubric.version, "published_at": rubric.created_at} for rubric in rubrics],
    }


def answered_keys(project: Project, keys: list[str]) -> list[str]:
    """Those of these question keys some label of the project answered, in their order: one query, an EXISTS per key
    (each stops at the first label it finds)."""
    if not keys:
        return []
    labels = Label.objects.filter(rubric__project=project)
    found = {f"key_{n}": Exists(labels.filter(answers__has_key=key)) for n, key in enumerate(keys)}
    answered = Project.objects.filter(pk=project.pk).values(**found).first() or {}
    return [key for n, key in enumerate(keys) if answered.get(f"key_{n}")]


def replaced_version(project: Project, *, published: Rubric, based_on: int | None) -> Rubric | None:
    """The version a lead's publish replaced, to word what it changed for them: the one their form was based on
    (`based_on`, the page's version: a double click's twin answers with the version its first click made), else the
    one before `published`; None for a first version."""
    version = published.version - 1 if based_on is None else based_on
    if not 0 < version < published.version:
        return None
    return Rubric.objects.filter(project=project, version=version).first()
