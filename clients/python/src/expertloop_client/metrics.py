"""The metrics API and the weekly reports, as plain records (and DataFrames when pandas is installed)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, overload
from urllib.parse import quote

from ._reader import Reader

if TYPE_CHECKING:
    import pandas


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ImportError("pandas is not installed: pip install 'expertloop-client[pandas]'") from None
    return pandas


class Records(list[dict[str, Any]]):
    """A table as a list of plain dicts, one per row; `meta` holds the rest of the answer (project, range, …)."""

    def __init__(self, rows: Any = (), meta: dict[str, Any] | None = None):
        super().__init__(rows)
        self.meta: dict[str, Any] = meta or {}

    def table(self, name: str) -> Records:
        """Another table of the same answer, e.g. `agreement().table("experts")`; KeyError naming the tables for
        a name that is none (a scalar such as `project` is no table: it read as a list of its letters)."""
        tables = [key for key, value in self.meta.items() if isinstance(value, list)]
        if name not in tables:
            raise KeyError(f"No table {name!r} in this answer; its other tables: {', '.join(tables) or 'none'}")
        return Records(self.meta[name])

    def to_pandas(self) -> pandas.DataFrame:
        return _pandas().DataFrame.from_records(list(self))


def query_day(value: Any) -> Any:
    """A `date` as the API writes a day (YYYY-MM-DD), a `datetime` as its day where it is (a week parameter names a
    day, and the server refuses a moment); anything else as given."""
    if isinstance(value, datetime):
        value = value.date()
    return value.isoformat() if isinstance(value, date) else value


def records_of(answer: dict[str, Any], table: str) -> Records:
    return Records(answer[table], {name: value for name, value in answer.items() if name != table})


class Metrics:
    """`GET /api/v1/metrics/…` of the key's project (the `read` scope), each a table of plain records (call
    `.to_pandas()` on it for a DataFrame). `from_` and `to` are week labels such as `2026-W48`, or a `date` (or
    "2026-11-26"): the server reads it as the project's cycle week holding that day. They default to the last 12
    weeks (at most 104)."""

    def __init__(self, reader: Reader):
        self._reader = reader

    def _get(self, endpoint: str, table: str, **params: Any) -> Records:
        if "from_" in params:
            params["from"] = params.pop("from_")
        for name in ("from", "to", "week"):  # the server knows the project's calendar: a day is enough
            params[name] = query_day(params.get(name))
        return records_of(self._reader.get_json(f"/api/v1/metrics/{endpoint}", params), table)

    def quality(
        self,
        *,
        from_: str | date | None = None,
        to: str | date | None = None,
        queue: str | None = None,
        question: str | None = None,
        pooled: bool = False,
    ) -> Records:
        """Per week, queue and question: n, passes, value (pass rate or mean), ci_low, ci_high, shares, week_status
        ("closed" once final). `pooled`: the queues pooled (`queue` None), as the weekly report's headline."""
        return self._get(
            "quality", "results", from_=from_, to=to, queue=queue, question=question, pooled="true" if pooled else None
        )

    def agreement(
        self, *, from_: str | date | None = None, to: str | date | None = None, question: str | None = None
    ) -> Records:
        """Per week and question: Krippendorff's alpha, Fleiss' and Cohen's kappa (`alpha_at_interval_level`, alias
        `alpha_interval`: alpha at the interval level for ratings, not a confidence interval; `too_few_items`: true
        when under 5 items had two labels, too few for the figures to mean anything); `.table("experts")`:
        each expert's agreement with the gold answers (`gold_rate`: with the majority, their own answer included, so
        1.0 with two labels per item unless a lead settled a tie)."""
        return self._get("agreement", "results", from_=from_, to=to, question=question)

    def throughput(
        self, *, from_: str | date | None = None, to: str | date | None = None, queue: str | None = None
    ) -> Records:
        """Per week and queue: items, labels done and wanted, backlog, quota; `.table("experts")`: per expert."""
        return self._get("throughput", "queues", from_=from_, to=to, queue=queue)

    def retention(
        self,
        *,
        from_: str | date | None = None,
        to: str | date | None = None,
        segment: str | None = None,
        measure: str | None = None,
    ) -> Records:
        """The cohort grid, a row per segment, cohort and offset; `.meta["curves"]`: the weighted mean curves.
        `from_` and `to` bound the cohorts, not the weeks of activity: each cohort's cells run on to the current week
        (a cell's `activity_week` names its week)."""
        return self._get("retention", "results", from_=from_, to=to, segment=segment, measure=measure)

    def changes(self, *, week: str | date | None = None) -> Records:
        """The week's significant changes, biggest first (default: the latest closed week, else the running one);
        `week` as `from_` above (a label, or a `date` of the week); `.meta["week"]` names the week."""
        return self._get("changes", "results", week=week)


class Cycles:
    """The weekly reports (`read` scope)."""

    def __init__(self, reader: Reader, metrics: Metrics):
        self._reader = reader
        self._metrics = metrics

    def latest_week(self) -> str:
        """The week a review meeting would discuss now: the latest closed week, else the running one."""
        return str(self._metrics.changes().meta["week"])

    @overload
    def report(self, week: str | date | None = ..., format: Literal["json"] = ...) -> dict[str, Any]: ...
    @overload
    def report(self, week: str | date | None = ..., *, format: Literal["markdown"]) -> str: ...
    def report(
        self, week: str | date | None = None, format: Literal["json", "markdown"] = "json"
    ) -> dict[str, Any] | str:
        """A week's report (frozen once the week is closed), as a dict or a Markdown document; by default
        the latest closed week's. `week` is a label such as `2026-W47`, or a `date` (or "2026-11-26"): the
        project's cycle week holding that day."""
        week = query_day(week) or self.latest_week()
        path = f"/api/v1/cycles/{quote(week, safe='')}/report"
        if format == "markdown":
            return self._reader.get_text(path, {"format": "markdown"})
        if format != "json":
            raise ValueError(f"format must be json or markdown, not {format!r}")
        return dict(self._reader.get_json(path))
