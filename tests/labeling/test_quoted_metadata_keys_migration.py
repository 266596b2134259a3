"""Migration 0065: stored explore queries (saved views, a closed week's "what changed" links) write a quoted
metadata key with its quotes doubled, so each still finds what it found before quotes were doubled."""

import importlib
from datetime import date
from urllib.parse import parse_qsl, urlencode

from django.apps import apps
from django.http import QueryDict

from labeling.models import ReviewCycle, SavedView
from labeling.models.cycles import CycleStatus
from labeling.rules.explore import parse_filter, read_pair
from labeling.selectors.explore import filter_outputs
from tests.factories import OutputFactory

MIGRATION = importlib.import_module("labeling.migrations.0065_double_quotes_in_stored_quoted_metadata_keys")
# How a pair was written and read before quotes were doubled (migration 0046 keeps the writing as it stood then).
BEFORE = importlib.import_module("labeling.migrations.0046_quote_saved_view_values_with_spaces")


def meta(*values: str) -> str:
    return urlencode([("meta", value) for value in values])


def test_a_saved_views_quoted_key_holding_doubled_quotes_still_finds_its_outputs(project):
    """A key holding two quotes in a row, written before in quotes as it was, now reads as holding one: the view is
    written with each of its quotes doubled; a view whose pairs read alike either way stays byte for byte."""
    wanted = OutputFactory(project=project, external_id="wanted", metadata={'x""y:z': "v"})
    OutputFactory(project=project, external_id="other", metadata={'x"y:z': "v"})
    old = SavedView.objects.create(project=project, name="Old", query=meta('"x""y:z":v') + "&labeled=no")
    plain = SavedView.objects.create(project=project, name="Plain", query=meta('"a:b":c', "topic:billing"))
    assert list(filter_outputs(project, parse_filter(QueryDict(old.query)))) != [wanted]  # misread since the change

    MIGRATION.double_quotes(apps, None)

    old.refresh_from_db()
    plain.refresh_from_db()
    assert old.query == meta('"x""""y:z":v') + "&labeled=no"
    assert plain.query == meta('"a:b":c', "topic:billing")
    assert list(filter_outputs(project, parse_filter(QueryDict(old.query)))) == [wanted]


def test_a_closed_weeks_change_links_keep_their_slice(project):
    """The "what changed" links frozen in a closed week's report are stored canonical queries too."""
    report = {
        "week": "2026-W48",
        "changes": [
            {"key": 'a"b:c', "explore_query": "from=2026-11-23&" + meta('"a"b:c":on')},
            {"key": "", "explore_query": None},
            {"key": "topic", "explore_query": "from=2026-11-23&" + meta("topic:billing")},
        ],
    }
    cycle = ReviewCycle.objects.create(
        project=project, week=date(2026, 11, 23), status=CycleStatus.CLOSED, report=report
    )
    untouched = ReviewCycle.objects.create(project=project, week=date(2026, 11, 30), report={})

    MIGRATION.double_quotes(apps, None)

    cycle.refresh_from_db()
    untouched.refresh_from_db()
    links = [change["explore_query"] for change in cycle.report["changes"]]
    assert links == ["from=2026-11-23&" + meta('"a""b:c":on'), None, "from=2026-11-23&" + meta("topic:billing")]
    assert cycle.report["week"] == "2026-W48" and untouched.report == {}
    assert parse_filter(QueryDict(links[0])).metadata == (('a"b:c', ("on",)),)


# Pieces of keys and values that the two readings of a quoted key tell apart: quotes, doubled or before a colon.
PIECES = ["x", ":", '"', '""', '":', " ", ""]
KEYS = sorted({a + b + c for a in PIECES for b in PIECES for c in PIECES} - {""})
VALUES = sorted({a + b for a in PIECES for b in PIECES})
TEXTS = [""]
for _ in range(7):  # every text of up to seven of these characters
    TEXTS += [text + char for text in TEXTS[-(4**_) :] for char in 'x:" ']


def _migrated(value: str) -> str:
    (pair,) = parse_qsl(MIGRATION.doubled(meta(value)), keep_blank_values=True)
    return pair[1]


def test_every_stored_pair_reads_after_the_migration_as_it_read_before():
    """Property over every pair written before (keys of up to three tricky pieces, values of up to two) and every
    text of up to seven tricky characters: migrated, it reads as it read before quotes were doubled."""
    written = {BEFORE._typed_pair(key, value) for key in KEYS for value in VALUES}
    misread = 0
    for text in sorted(written) + TEXTS:
        before = MIGRATION._read_pair_before(text)
        if before is None:
            continue
        misread += read_pair(text) != before
        assert read_pair(_migrated(text)) == before, text
    assert misread > 100  # the reading changed for these: the migration is what keeps them


FORWARD, REVERSE = MIGRATION.Migration.operations[0].code, MIGRATION.Migration.operations[0].reverse_code


def test_migrating_down_then_up_again_leaves_the_stored_queries_as_the_first_migration_did(project):
    """Reversed, a quoted key is written again without its quotes doubled: migrated up once more, it is not doubled a
    second time (`"a""b:c":v`, the key `a"b:c`, read the old way is the key `a""b:c`)."""
    view = SavedView.objects.create(project=project, name="Old", query=meta('"a"b:c":v', "topic:billing") + "&q=x")
    cycle = ReviewCycle.objects.create(
        project=project,
        week=date(2026, 11, 23),
        status=CycleStatus.CLOSED,
        report={"changes": [{"key": 'a"b:c', "explore_query": "from=2026-11-23&" + meta('"a"b:c":on')}]},
    )

    def stored() -> tuple[str, str]:
        view.refresh_from_db()
        cycle.refresh_from_db()
        return view.query, cycle.report["changes"][0]["explore_query"]

    before = stored()
    FORWARD(apps, None)
    up = stored()
    assert up == (meta('"a""b:c":v', "topic:billing") + "&q=x", "from=2026-11-23&" + meta('"a""b:c":on'))
    REVERSE(apps, None)
    assert stored() == before
    FORWARD(apps, None)
    assert stored() == up


def test_the_reverse_writes_each_pair_back_as_it_was_written_before():
    """Property over the pairs of the test above: reversed, a migrated pair reads the old way as it read before the
    migration, is the very string stored when that was the old writing of what it read, and migrated again is what
    the first migration wrote."""
    written = {BEFORE._typed_pair(key, value) for key in KEYS for value in VALUES}
    canonical = 0
    for text in sorted(written) + TEXTS:
        before = MIGRATION._read_pair_before(text)
        if before is None:
            continue
        up = MIGRATION.doubled(meta(text))
        (down,) = (value for _, value in parse_qsl(MIGRATION.undoubled(up), keep_blank_values=True))
        assert MIGRATION._read_pair_before(down) == before, text
        assert MIGRATION.doubled(meta(down)) == up, text
        if BEFORE._typed_pair(*before) == text:
            canonical += 1
            assert down == text
    assert canonical > 5000
