"""What changed this week: compare a cycle week's outputs and events with the weeks before, store the
significant changes (`WeekChange` rows) for the meeting page, the report and the API.

Over ALL the project's outputs and usage events (not only the labeled sample): the cycle week (outputs whose
`occurred_at` is in it) against the previous `settings.CHANGES_BASELINE_WEEKS` weeks, pooled. Compared:
- all outputs: volume, thumbs-down share (of rated outputs), comment share (of outputs), output length
  (`output_chars`; NULL until indexed, skipped) and the median of each numeric metadata key (its values rounded
  to `metrics.changes.SIGNIFICANT_DIGITS` significant digits, so a continuous key returns bounded rows);
- each slice (model, tag, each categorical metadata key's values): its share of the outputs (new and vanished
  slices listed as such), its thumbs-down rate, and its labeled pass rate (gold answers to the verdict question);
- usage events: volume, and each event name's share of the events.
Every comparison tried is corrected together with Benjamini–Hochberg at `settings.CHANGES_FDR_Q`; the tests and
the minimum effects are in `labeling.metrics.changes`.

Slices are capped so a project-wide scan stays cheap and a noisy key cannot flood the family of tests:
metadata keys present in at least METADATA_KEY_MIN_SHARE of the outputs, the MAX_METADATA_KEYS most frequent;
per categorical key its MAX_VALUES_PER_KEY most frequent text values (true/false count as text, as the explore
filter reads them); per model, tag and event name dimension the MAX_SLICES most frequent. A slice whose explore link
would be refused (`rules.explore.has_working_link` for metadata, measured as its `key:value` pair; `value_fits` for
models, tags and event names: a value over the filter's limit) is left out; a model, tag or event slice takes no
place then, but a metadata value does among its key's MAX_VALUES_PER_KEY (ranked in the tallies' query first), and a key
whose pairs all run long keeps its place when `key:` alone fits.

Each complete week's counts are kept (`services.change_tallies`): the baseline weeks are read from them, checked
against their rows by a count and hash sum, and only the cycle week is aggregated (the labeled pass rates and the
running week's volume baseline are read live).

The running week (the hourly refresh) is partial: rates, shares and medians are compared as they are, and volume
against the same elapsed share of each baseline week (the rows are marked `partial`). Aggregation is in SQL (GROUP BY
on the weeks' rows, over the `(project, occurred_at)` indexes); only the labeled items are read row by row.
"""

from datetime import date, datetime, timedelta, tzinfo

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from labeling.metrics import changes as tests
from labeling.metrics.changes import Comparison
from labeling.models import Project, ReviewCycle, WeekChange
from labeling.rules.calendar import week_end, week_start, week_zone
from labeling.services import change_tallies
from labeling.services.change_counts import WeekWindow, week_counts


def refresh_week_changes(*, project: Project, week: date, now: datetime | None = None) -> int:
    """Recompute and store the week's changes; return how many were stored.

    Replaces the week's rows (running it twice stores the same rows). A week that has not started stores none.
    """
    rows = _week_change_rows(project=project, week=week, now=now or timezone.now())
    with transaction.atomic():
        # Two recomputes at once (a close and an hourly refresh) would both delete, then both insert: the project
        # row lock makes the second wait, then replace the first's rows.
        Project.objects.lock(project.pk)
        WeekChange.objects.filter(project=project, week=week).delete()
        WeekChange.objects.bulk_create(rows)
    return len(rows)


def recompute_closed_weeks_changes(*, project: Project, cycles: list[ReviewCycle], now: datetime) -> None:
    """Recompute and store the changes of closed weeks (`cycles`, their rows as the caller read them, with `week`,
    `status` and `closed_in_time_zone`), whose baseline weeks' outputs or gold answers are final only now (a week of
    it closed after them: `cycles._restate_from_final_gold`).

    In the caller's transaction, which holds the weeks' cycle rows: no refresh writes a closed week's rows
    (`cycles.refresh_metrics` leaves a closed week as it is), so the project's row lock is not taken, which a
    redaction or an erasure takes before the cycles' rows it rewrites."""
    # Each week in the zone it was closed in, as its report and its notices read it, not the one the project moved to.
    rows = [
        row
        for cycle in cycles
        for row in _week_change_rows(project=project, week=cycle.week, now=now, zone=week_zone(project, cycle))
    ]
    WeekChange.objects.filter(project=project, week__in=[cycle.week for cycle in cycles]).delete()
    WeekChange.objects.bulk_create(rows)


def _week_change_rows(*, project: Project, week: date, now: datetime, zone: tzinfo | None = None) -> list[WeekChange]:
    """The week's significant changes as rows to store (unsaved); its weeks bounded in `zone` (else the project's)."""
    baseline_weeks = settings.CHANGES_BASELINE_WEEKS
    starts = [week_start(project, week - timedelta(weeks=offset), zone=zone) for offset in range(baseline_weeks + 1)]
    end = week_end(project, week, zone=zone)
    running = now < end
    comparisons: list[Comparison] = []
    if now > starts[0]:
        window = WeekWindow(starts=starts, end=min(now, end), elapsed=now - starts[0] if running else None)
        counts = None
        if connection.vendor == "postgresql":
            counts = change_tallies.cached_week_counts(project=project, window=window)
        if counts is None:
            counts = week_counts(project, window)
        comparisons = tests.week_comparisons(counts)
    listed = tests.significant_changes(comparisons, fdr=settings.CHANGES_FDR_Q)
    return [
        WeekChange(
            project=project,
            week=week,
            rank=rank,
            kind=change.kind,
            dimension=change.slice["dimension"],
            key=change.slice.get("key", ""),
            value=change.slice.get("value", ""),
            current=change.current,
            baseline=change.baseline,
            current_count=change.current_count,
            current_total=change.current_total,
            baseline_count=change.baseline_count,
            baseline_total=change.baseline_total,
            baseline_weeks=change.slice["weeks"],
            partial=running,
            test=change.test,
            statistic=change.statistic,
            p_value=change.p_value,
            q_value=change.q_value,
            tests=len(comparisons),
            effect=change.effect,
            relative=change.relative,
        )
        for rank, change in enumerate(listed)
    ]
