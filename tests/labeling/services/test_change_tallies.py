"""What changed, from kept week tallies: the stored rows are exactly those counted from scratch, whatever changed."""

import copy
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import numpy as np
import pytest
from django.forms.models import model_to_dict
from django.utils import timezone

from labeling.models import ChangeWeekTally, Item, Output, Project, Resolution, UsageEvent, WeekChange
from labeling.rules import calendar
from labeling.services import change_counts, change_tallies
from labeling.services.changes import refresh_week_changes
from labeling.services.privacy import erase_end_user, purge_expired_outputs
from tests.factories import ProjectFactory
from tests.helpers.changes import add_verdicts
from tests.helpers.labeling import bulk_labeled_items
from tests.helpers.plans import analyze, rows_handled

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

_serial = iter(range(10**9))
MODELS = ["gpt", "claude", "llama", "mistral"]
TAGS = ["billing", "refund", "shipping", "login", "bug", "praise"]
TOPICS = [f"topic-{i}" for i in range(40)]  # more than MAX_VALUES_PER_KEY: the cap chooses


@pytest.fixture
def week(project):
    return calendar.current_week(project) - timedelta(days=7)


def weeks_before(week, count=4):
    return [week - timedelta(weeks=offset) for offset in range(1, count + 1)]


def add_stream(project, week, count, *, seed, drift=0.0, hours=7 * 24, users=30) -> list[Output]:
    """`count` varied outputs and as many events in the week: models, tags, categorical and numeric metadata keys
    (some on few outputs), feedback, comments, lengths. `drift` moves this week's mix so that changes are listed."""
    rng = np.random.default_rng(seed)
    start = calendar.week_start(project, week)
    now = timezone.now()
    outputs, events = [], []
    for i in range(count):
        n = next(_serial)
        moment = start + timedelta(seconds=hours * 3600 * (i + 0.5) / count)
        model = MODELS[int(rng.integers(0, 3 if rng.random() > drift else 4))]
        topic = TOPICS[min(int(rng.exponential(8 + 20 * drift)), len(TOPICS) - 1)]
        metadata = {"topic": topic, "latency_ms": round(float(rng.gamma(4, 200 * (1 + drift))), 2)}
        if rng.random() < 0.5:
            metadata["region"] = ["eu", "us", "apac"][int(rng.integers(0, 3))]
        if rng.random() < 0.3:
            metadata["beta"] = bool(rng.random() < 0.5 + drift)
        if rng.random() < 0.04:  # under METADATA_KEY_MIN_SHARE most weeks: in and out of the chosen keys
            metadata["rare"] = "yes"
        for _ in range(int(rng.integers(0, 3))):
            metadata[f"k{int(rng.integers(0, 30))}"] = int(rng.integers(0, 5))  # many keys: MAX_METADATA_KEYS caps
        rated = rng.random() < 0.6
        down = rated and rng.random() < 0.1 + 0.2 * drift
        outputs.append(
            Output(
                project=project, external_id=f"tally-{n}", occurred_at=moment, received_at=now,
                end_user_id=f"user-{int(rng.integers(0, users))}", model=model, input="q", output="a",
                tags=sorted({TAGS[int(rng.integers(0, len(TAGS)))] for _ in range(int(rng.integers(0, 3)))}),
                metadata=metadata, feedback_score=(-1 if down else 1) if rated else None,
                feedback_comment="why" if rng.random() < 0.05 + 0.1 * drift else "", content_hash=f"{n:064x}",
                output_chars=int(rng.normal(500 * (1 + drift), 80)) if rng.random() < 0.9 else None,
            )
        )  # fmt: skip
        events.append(
            UsageEvent(
                project=project, end_user_id=f"user-{int(rng.integers(0, users))}",
                name=["session_start", "message", "return_started"][int(rng.integers(0, 2 if drift == 0 else 3))],
                occurred_at=moment, received_at=now, content_hash=f"{next(_serial):064x}",
            )
        )  # fmt: skip
    UsageEvent.objects.bulk_create(events)
    return Output.objects.bulk_create(outputs)


def stored_rows(project, week) -> list[dict]:
    return [model_to_dict(c, exclude=["id"]) for c in WeekChange.objects.filter(project=project, week=week)]


def refreshed_both_ways(project, week, now=None) -> tuple[list[dict], list[dict]]:
    """The week's stored rows refreshed with the kept tallies, then counted from scratch (no tallies at all)."""
    refresh_week_changes(project=project, week=week, now=now)
    kept = stored_rows(project, week)
    with mock.patch.object(change_tallies, "cached_week_counts", return_value=None):
        refresh_week_changes(project=project, week=week, now=now)
    return kept, stored_rows(project, week)


def assert_same_as_from_scratch(project, week, now=None) -> list[dict]:
    kept, scratch = refreshed_both_ways(project, week, now)
    assert kept == scratch
    return kept


def counted(project) -> dict:
    return {t.starts_at: (t.counted_at, t.counted_because) for t in ChangeWeekTally.objects.filter(project=project)}


class TestOnAKeptHistory:
    """Four steady baseline weeks and a drifting cycle week, their tallies kept by a first refresh: built and committed
    once for the class (about 3,100 outputs and as many events, and two refreshes), which each test reads or changes
    inside its own transaction, rolled back after it. `project` here is that history's project, read afresh."""

    @pytest.fixture(scope="class")
    @classmethod
    def kept_history(cls, django_db_setup, django_db_blocker):
        with django_db_blocker.unblock():
            project = ProjectFactory(slug="support-bot", name="Support bot")
            try:
                week = calendar.current_week(project) - timedelta(days=7)
                for offset, each in enumerate(weeks_before(week)):
                    add_stream(project, each, 600, seed=offset)
                add_stream(project, week, 700, seed=99, drift=0.5)
                rows = assert_same_as_from_scratch(project, week)
                assert len(rows) >= 5  # a week with changes to get right, not an empty list
            except BaseException:
                project.delete()
                raise
        yield project.pk, rows
        with django_db_blocker.unblock():
            project.delete()  # its outputs, events, tallies and changes with it

    @pytest.fixture
    def project(self, kept_history):
        return Project.objects.get(pk=kept_history[0])  # a fresh instance: a test may change its calendar

    @pytest.fixture
    def history(self, kept_history):
        """The changes the first refresh stored."""
        return copy.deepcopy(kept_history[1])

    def test_a_second_refresh_reads_the_kept_weeks_and_counts_only_the_cycle_week(self, project, week, history):
        before = counted(project)
        assert len(before) == 5  # the four baseline weeks and the closed week itself
        assert {because for _, because in before.values()} == {"not counted yet", "closed"}

        with mock.patch.object(change_tallies, "_count", wraps=change_tallies._count) as aggregated:
            assert_same_as_from_scratch(project, week)

        assert aggregated.call_count == 1  # the cycle week alone (kept again: it is closed)
        after = counted(project)
        closed = calendar.week_start(project, week)
        assert {start: after[start] for start in after if start != closed} == {
            start: before[start] for start in before if start != closed
        }

    def test_the_running_weeks_refresh_keeps_the_week_the_last_close_still_reads(self, project, week, history):
        running = week + timedelta(weeks=1)
        refresh_week_changes(
            project=project, week=running, now=calendar.week_start(project, running) + timedelta(hours=2)
        )
        assert calendar.week_start(project, weeks_before(week)[-1]) in counted(project)

        with mock.patch.object(change_tallies, "_count", wraps=change_tallies._count) as aggregated:
            assert_same_as_from_scratch(project, week)  # the close, after the next week's first refreshes
        assert aggregated.call_count == 1  # its own week only

    def test_the_counts_are_those_of_the_plain_path_field_by_field(self, project, week, history):
        starts = [calendar.week_start(project, week - timedelta(weeks=k)) for k in range(5)]
        window = change_counts.WeekWindow(starts=starts, end=calendar.week_end(project, week), elapsed=None)

        kept = change_tallies.cached_week_counts(project=project, window=window)

        assert kept == change_counts.week_counts(project, window)
        assert kept.slices and kept.numbers and kept.event_names and kept.lengths[1]

    def test_rows_arriving_late_into_a_baseline_week_are_counted(self, project, week, history):
        late = weeks_before(week)[2]
        add_stream(project, late, 300, seed=7, drift=1.0)  # a new model, more thumbs-down, a new event name

        rows = assert_same_as_from_scratch(project, week)

        tally = ChangeWeekTally.objects.get(project=project, starts_at=calendar.week_start(project, late))
        assert tally.counted_because == "its rows changed"
        assert rows != history

    @pytest.mark.parametrize(
        "change",
        [
            pytest.param({"feedback_score": -1}, id="late thumbs-down"),
            pytest.param({"feedback_comment": "late comment"}, id="late comment"),
            pytest.param({"output_chars": 5000}, id="indexed length"),
            pytest.param({"model": "gpt-next"}, id="model"),
            pytest.param({"tags": ["recall"]}, id="tags"),
            pytest.param({"metadata": {"topic": "topic-39", "latency_ms": 9999}}, id="metadata (a redaction)"),
        ],
    )
    def test_a_row_changed_in_place_in_a_baseline_week_is_counted_again(self, project, week, history, change):
        outputs = Output.objects.filter(
            project=project, occurred_at__gte=calendar.week_start(project, weeks_before(week)[0])
        ).filter(occurred_at__lt=calendar.week_start(project, week))
        Output.objects.filter(pk__in=list(outputs.order_by("pk").values_list("pk", flat=True)[:400])).update(**change)

        assert_same_as_from_scratch(project, week)

        assert counted(project)[calendar.week_start(project, weeks_before(week)[0])][1] == "its rows changed"

    def test_an_erasure_and_the_raw_data_purge_are_counted(self, project, week, history):
        erase_end_user(project=project, end_user_id="user-3")
        assert counted(project) == {}  # user-3 was active every week: no kept counts may still name their values
        assert_same_as_from_scratch(project, week)

        project.raw_retention_days = (timezone.now() - calendar.week_start(project, weeks_before(week)[1])).days
        project.save(update_fields=["raw_retention_days"])
        assert purge_expired_outputs(project=project)
        cutoff = timezone.now() - timedelta(days=project.raw_retention_days)
        assert counted(project) and all(start >= cutoff for start in counted(project))  # none that held purged rows
        assert_same_as_from_scratch(project, week)

    def test_metadata_keys_and_values_entering_and_leaving_the_caps(self, project, week, history):
        # A rare key becomes common in one baseline week, a topic climbs into the 30 most frequent, and ties at the
        # 30th place are broken by value, as the SQL's ROW_NUMBER does.
        baseline = weeks_before(week)[1]
        outputs = list(
            Output.objects.filter(project=project, occurred_at__gte=calendar.week_start(project, baseline))
            .filter(occurred_at__lt=calendar.week_start(project, weeks_before(week)[0]))
            .order_by("pk")
        )
        for i, out in enumerate(outputs[:300]):
            out.metadata = {**out.metadata, "rare": "yes", "topic": f"tie-{i % 25}"}
        Output.objects.bulk_update(outputs[:300], ["metadata"])

        assert_same_as_from_scratch(project, week)

        for out in outputs[:300]:
            out.metadata = {key: value for key, value in out.metadata.items() if key != "rare"}
        Output.objects.bulk_update(outputs[:300], ["metadata"])
        assert_same_as_from_scratch(project, week)

    @pytest.mark.parametrize("calendar_change", [{"time_zone": "America/Los_Angeles"}, {"cycle_weekday": 3}])
    def test_another_calendar_counts_its_own_weeks(self, project, week, history, calendar_change):
        for field, value in calendar_change.items():
            setattr(project, field, value)
        project.save(update_fields=list(calendar_change))
        week = calendar.current_week(project) - timedelta(days=7)

        assert_same_as_from_scratch(project, week)

        starts = {calendar.week_start(project, week - timedelta(weeks=k)) for k in range(5)}
        # The other calendar's weeks are forgotten, up to the week computed. (In the first hours of a UTC Monday the
        # new calendar's last ended week is the one before the old one's, whose tally no week computed yet reads.)
        up_to_it = {start for start in counted(project) if start <= calendar.week_start(project, week)}
        assert up_to_it == starts

    @pytest.mark.parametrize("weeks", [2, 6])
    def test_another_number_of_baseline_weeks(self, project, week, history, settings, weeks):
        add_stream(project, week - timedelta(weeks=5), 500, seed=11)
        add_stream(project, week - timedelta(weeks=6), 500, seed=12)
        settings.CHANGES_BASELINE_WEEKS = weeks

        assert_same_as_from_scratch(project, week)

    def test_a_stale_tally_would_show_if_the_guard_were_skipped(self, project, week, history):
        """The guard is what keeps the rows exact: without it, a late thumbs-down wave is missed."""
        first = calendar.week_start(project, weeks_before(week)[0])
        outputs = Output.objects.filter(project=project, occurred_at__gte=first, occurred_at__lt=calendar.week_start(
            project, week))  # fmt: skip
        outputs.update(feedback_score=-1)
        with mock.patch.object(change_tallies, "_why_count", side_effect=lambda tally, *_: None if tally else "x"):
            kept, scratch = refreshed_both_ways(project, week)
        assert kept != scratch


def test_ties_at_the_cut_follow_the_databases_order(project, week):
    for each in [*weeks_before(week), week]:
        values = [f"v{i:02d}" for i in range(40)] + ["Z", "a", "é", "_"]
        outputs = add_stream(project, each, len(values) * 3, seed=1)
        for i, out in enumerate(outputs):
            out.metadata = {"topic": values[i % len(values)]}
        Output.objects.bulk_update(outputs, ["metadata"])
    refresh_week_changes(project=project, week=week)

    assert_same_as_from_scratch(project, week)
    starts = [calendar.week_start(project, week - timedelta(weeks=k)) for k in range(5)]
    window = change_counts.WeekWindow(starts=starts, end=calendar.week_end(project, week), elapsed=None)
    kept = change_tallies.cached_week_counts(project=project, window=window)
    assert kept == change_counts.week_counts(project, window)


def test_the_running_week_compares_its_elapsed_share_live(project):
    week = calendar.current_week(project)
    for offset, each in enumerate(weeks_before(week)):
        add_stream(project, each, 600, seed=offset)
    add_stream(project, week, 600, seed=42, drift=0.5, hours=60)
    halfway = calendar.week_start(project, week) + timedelta(hours=84)
    assert_same_as_from_scratch(project, week, now=halfway - timedelta(hours=1))

    add_stream(project, weeks_before(week)[3], 200, seed=8, hours=40)  # late rows in the elapsed share
    rows = assert_same_as_from_scratch(project, week, now=halfway)

    assert rows and all(row["partial"] for row in rows)
    assert calendar.week_start(project, week) not in counted(project)  # a running week is never kept


def test_gold_verdicts_changed_in_a_baseline_week_are_read_again(project, rubric, week):
    for offset, each in enumerate(weeks_before(week)):
        add_verdicts(project, add_stream(project, each, 200, seed=offset), each, passes=170)
    add_verdicts(project, add_stream(project, week, 200, seed=5, drift=0.3), week, passes=120)
    assert_same_as_from_scratch(project, week)

    # A lead adjudicates last month's items: fails.
    baseline = weeks_before(week)[3]
    changed = Resolution.objects.filter(item__project=project, item__week=baseline).order_by("pk")[:80]
    for resolution in changed:
        resolution.adjudicated = {"correct": {"value": False}}
        resolution.save(update_fields=["adjudicated"])

    with mock.patch.object(change_tallies, "_count", wraps=change_tallies._count) as aggregated:
        rows = assert_same_as_from_scratch(project, week)
    rate = next(row for row in rows if row["kind"] == "slice_pass_rate" and row["dimension"] == "overall")
    assert rate["baseline_count"] == 170 * 4 - 80
    # Only that week's verdicts were counted again: its outputs and events were not aggregated.
    assert aggregated.call_count == 1  # the cycle week
    assert counted(project)[calendar.week_start(project, baseline)][1] == "its gold answers changed"


def test_another_verdict_question_counts_the_verdicts_again(project, rubric, week):
    for offset, each in enumerate(weeks_before(week)):
        add_verdicts(project, add_stream(project, each, 200, seed=offset), each, passes=170)
        add_verdicts(project, add_stream(project, each, 20, seed=offset), each, passes=0, key="other")
    add_verdicts(project, add_stream(project, week, 200, seed=5, drift=0.3), week, passes=120)
    assert_same_as_from_scratch(project, week)

    with verdict_question_is({"key": "other"}):
        assert_same_as_from_scratch(project, week)
        assert {because for _, because in counted(project).values()} == {"the verdict question changed", "closed"}
    with verdict_question_is(None):
        assert_same_as_from_scratch(project, week)


@contextmanager
def verdict_question_is(question):
    with mock.patch.object(change_counts, "verdict_question", return_value=question):
        with mock.patch.object(change_tallies, "verdict_question", return_value=question):
            yield


def test_a_week_with_an_id_like_key_is_too_varied_to_keep_and_counted_live(project, week, monkeypatch):
    monkeypatch.setattr(change_tallies, "MAX_KEPT_VALUES", 100)
    for offset, each in enumerate([*weeks_before(week), week]):
        outputs = add_stream(project, each, 300, seed=offset, drift=0.5 if each == week else 0)
        for out in outputs:
            out.metadata = {**out.metadata, "order": out.external_id}
        Output.objects.bulk_update(outputs, ["metadata"])

    assert_same_as_from_scratch(project, week)
    assert ChangeWeekTally.objects.filter(project=project, too_varied=True).exists()
    with mock.patch.object(change_tallies, "_count", wraps=change_tallies._count) as aggregated:
        assert_same_as_from_scratch(project, week)
    assert aggregated.call_count == 0  # a kept "too varied" week sends the step to the plain path at once


@pytest.mark.parametrize("kept", [True, False])  # from kept week tallies, or counted live (a week too varied to keep)
def test_a_closes_pass_rates_read_each_outputs_gold_once_even_with_stale_statistics(
    project, other_project, week, monkeypatch, kept
):
    """A project's outputs, items and gold answers of the closed week and the one before came after the last ANALYZE
    (a bulk import; autoanalyze not yet run): the statistics know only another project's, and the planner believes
    this one has a single item. Counting the labeled pass rates still handles rows in proportion to the outputs, where
    a nested loop that read all the project's outputs again for each of its items handled millions."""
    if not kept:
        monkeypatch.setattr(change_tallies, "MAX_KEPT_VALUES", 0)
    moment = calendar.week_start(project, week) + timedelta(days=2)
    bulk_labeled_items(other_project, 300, occurred_at=moment)
    analyze(Output, UsageEvent, Item, Resolution)
    before, _ = bulk_labeled_items(project, 300, occurred_at=moment - timedelta(weeks=1))
    this_week, _ = bulk_labeled_items(project, 600, occurred_at=moment, start=before)

    handled = rows_handled(lambda: refresh_week_changes(project=project, week=week, now=timezone.now()))

    assert handled <= 20 * 3 * (before + this_week), handled  # an output, its item and its resolution
