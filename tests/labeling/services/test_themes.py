"""Failure themes of a cycle week: which outputs fail, what is stored, and that a recompute replaces it."""

from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.db.models.functions import Coalesce

from labeling.models import FailureTheme, FailureThemeOutput, Item, Output, Queue, Resolution
from labeling.rules import calendar
from labeling.selectors.themes import week_failures, week_themes
from labeling.services import themes as theme_services
from labeling.services.themes import refresh_week_themes
from tests.factories import OutputFactory
from tests.helpers.themes import KINDS, planted_corpus

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def week(project):
    return calendar.current_week(project) - timedelta(days=7)


@pytest.fixture
def queue(project):
    return Queue.objects.create(project=project, slug="sample", name="Sample", overlap=2)


def output(project, week, *, hours=30, **fields):
    """An output `hours` after the week starts."""
    return OutputFactory(project=project, occurred_at=calendar.week_start(project, week) + timedelta(hours=hours),
                         **fields)  # fmt: skip


def gold(queue, out, week, *, automatic=None, adjudicated=None):
    """An item of the output with this resolution of `correct` (True/False, "tie"), as resolution stores it."""
    item = Item.objects.create(project=out.project, queue=queue, output=out, week=week, overlap=2)
    entry = (
        {"value": None, "method": "tie", "votes": {"true": 1, "false": 1}}
        if automatic == "tie"
        else {"value": automatic, "method": "unanimous"}
        if automatic is not None
        else None
    )
    Resolution.objects.create(
        item=item,
        status="resolved",
        automatic={"correct": entry, "helpful": {"value": 4, "method": "median"}} if entry else {},
        adjudicated={"correct": {"value": adjudicated}} if adjudicated is not None else {},
    )
    return item


def test_gold_fails_and_thumbs_down_without_gold_are_the_weeks_failures(project, other_project, rubric, queue, week):
    """Gold on the verdict question decides when there is one; a thumbs-down only counts without it."""
    down = {"feedback_score": -1}
    gold_fail = output(project, week)
    gold(queue, gold_fail, week, automatic=False)
    gold_pass_but_down = output(project, week, **down)
    gold(queue, gold_pass_but_down, week, automatic=True)
    down_unlabeled = output(project, week, **down)
    down_tied = output(project, week, **down)
    gold(queue, down_tied, week, automatic="tie")
    up_tied = output(project, week, feedback_score=1)
    gold(queue, up_tied, week, automatic="tie")
    adjudicated_fail = output(project, week)
    gold(queue, adjudicated_fail, week, automatic=True, adjudicated=False)
    adjudicated_pass = output(project, week, **down)
    gold(queue, adjudicated_pass, week, automatic=False, adjudicated=True)
    fails_in_one_queue = output(project, week)
    gold(queue, fails_in_one_queue, week, automatic=True)
    gold(Queue.objects.create(project=project, slug="other", name="Other", overlap=1), fails_in_one_queue, week,
         automatic=False)  # fmt: skip
    output(project, week, feedback_score=0)
    output(project, week)
    first_moment = output(project, week, hours=0, **down)
    output(project, week, hours=-1, **down)  # the week before
    output(project, week, hours=7 * 24, **down)  # the week after: its first moment
    earlier_fail = output(project, week, hours=-30)
    gold(queue, earlier_fail, week - timedelta(days=7), automatic=False)
    output(other_project, week, **down)

    expected = [gold_fail, down_unlabeled, down_tied, adjudicated_fail, fails_in_one_queue, first_moment]
    assert week_failures(project=project, week=week) == sorted(out.pk for out in expected)


def test_without_a_rubric_thumbs_down_are_the_failures(project, queue, week):
    down = output(project, week, feedback_score=-1)
    output(project, week, feedback_score=1)
    assert week_failures(project=project, week=week) == [down.pk]


def planted_outputs(project, week, seed: int, sizes: dict[str, int]) -> dict[int, str]:
    """Thumbs-down outputs of the planted kinds, as chat messages; output id → kind."""
    documents, truth = planted_corpus(seed, sizes)
    kinds = {}
    for n, (doc_id, text) in enumerate(documents):
        out = output(project, week, hours=1 + n % 150, feedback_score=-1,
                     input=[{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Help me"}],
                     output=[{"role": "assistant", "content": [{"type": "text", "text": text}]}])  # fmt: skip
        kinds[out.pk] = truth[doc_id]
    return kinds


def stored(project, week) -> list[tuple]:
    """The week's stored themes, every field but the row ids, and each theme's members."""
    return [
        (theme.rank, theme.terms, theme.size, theme.share, theme.failures, theme.themed, theme.example_output_ids,
         sorted(FailureThemeOutput.objects.filter(theme=theme).values_list("output_id", flat=True)))
        for theme in FailureTheme.objects.filter(project=project, week=week).order_by("rank")
    ]  # fmt: skip


def test_a_weeks_planted_failures_are_stored_as_themes_the_same_every_time(project, week):
    kinds = planted_outputs(project, week, seed=11, sizes={"refund": 24, "tracking": 16, "account": 10})
    assert refresh_week_themes(project=project, week=week) == 3
    first = stored(project, week)
    assert [row[0] for row in first] == [1, 2, 3] and [row[2] for row in first] == [24, 16, 10]
    for _rank, terms, size, share, failures, themed, examples, members in first:
        assert failures == themed == 50 and share == pytest.approx(size / 50)
        assert len(members) == size and set(examples) <= set(members) and len(examples) == 3
        kind = Counter(kinds[pk] for pk in members).most_common(1)[0][0]
        assert all(kinds[pk] == kind for pk in members)
        # The chat messages' structure ("role": "user", "type": "text") is not what a failure says.
        assert not {"user", "assistant", "system", "text"} & {word for term in terms for word in term.split()}
        assert any(word in KINDS[kind] for word in terms[0].split())

    assert refresh_week_themes(project=project, week=week) == 3
    assert stored(project, week) == first


def test_themes_made_from_the_same_inputs_are_kept_and_any_new_input_makes_them_again(project, week, monkeypatch):
    planted_outputs(project, week, seed=15, sizes={"refund": 20, "tracking": 20})

    def theme_ids():
        return sorted(FailureTheme.objects.filter(project=project, week=week).values_list("pk", flat=True))

    assert refresh_week_themes(project=project, week=week) == 2
    first, rows = theme_ids(), stored(project, week)
    assert refresh_week_themes(project=project, week=week) == 2
    assert theme_ids() == first and stored(project, week) == rows  # kept: not deleted and made again

    # A themed output redacted again (its text may have changed), a new failure, the code that groups: each makes
    # the themes again.
    member = FailureThemeOutput.objects.filter(theme__week=week).values_list("output_id", flat=True).first()
    Output.objects.filter(pk=member).update(redaction_version=Coalesce(F("redaction_version"), 0) + 1)
    refresh_week_themes(project=project, week=week)
    assert theme_ids() != first
    second = theme_ids()
    planted_outputs(project, week, seed=16, sizes={"refund": 1})
    refresh_week_themes(project=project, week=week)
    assert theme_ids() != second and stored(project, week)[0][4] == 41
    third = theme_ids()
    monkeypatch.setattr(theme_services, "OUTPUT_CHARS", theme_services.OUTPUT_CHARS - 1)
    theme_services._grouping_code.cache_clear()
    refresh_week_themes(project=project, week=week)
    assert theme_ids() != third
    theme_services._grouping_code.cache_clear()  # the code as it is, for the tests that follow


def test_a_recompute_replaces_the_weeks_themes_and_leaves_other_weeks(project, week):
    planted_outputs(project, week, seed=12, sizes={"refund": 20, "tracking": 20, "account": 20})
    planted_outputs(project, week - timedelta(days=7), seed=13, sizes={"refund": 10, "tracking": 10})
    refresh_week_themes(project=project, week=week - timedelta(days=7))
    before = stored(project, week - timedelta(days=7))
    assert refresh_week_themes(project=project, week=week) == 3

    # The week's failures change: one kind's outputs get a thumbs-up, another's are erased.
    Output.objects.filter(pk__in=FailureThemeOutput.objects.filter(theme__week=week, theme__rank=3)
                          .values("output_id")).update(feedback_score=1)  # fmt: skip
    assert refresh_week_themes(project=project, week=week) == 2
    rows = stored(project, week)
    assert [row[0] for row in rows] == [1, 2] and all(row[4] == 40 for row in rows)
    assert FailureThemeOutput.objects.filter(theme__project=project, theme__week=week).count() == 40

    Output.objects.filter(project=project, occurred_at__gte=calendar.week_start(project, week)).exclude(
        pk__in=Output.objects.filter(project=project, occurred_at__gte=calendar.week_start(project, week))
        .order_by("pk")
        .values("pk")[:5]
    ).delete()
    assert refresh_week_themes(project=project, week=week) == 0  # five failures: read one by one, no themes
    assert stored(project, week) == [] and week_themes(project=project, week=week) == []
    assert stored(project, week - timedelta(days=7)) == before


def test_a_large_week_is_themed_on_an_evenly_spread_choice(project, week, monkeypatch):
    monkeypatch.setattr(theme_services, "MAX_DOCUMENTS", 30)
    kinds = planted_outputs(project, week, seed=14, sizes={"refund": 40, "tracking": 30, "account": 20})
    assert refresh_week_themes(project=project, week=week) >= 2
    rows = stored(project, week)
    members = [pk for row in rows for pk in row[7]]
    assert all(row[4] == 90 and row[5] == 30 for row in rows) and len(members) == len(set(members)) == 30
    assert sum(row[3] for row in rows) == pytest.approx(1.0)
    spread = sorted(kinds)
    assert members and min(members) == spread[0] and max(members) >= spread[-3]


def test_a_theme_row_stored_by_the_code_before_its_fingerprint_gets_an_empty_one_and_is_made_again(project, week):
    """While a deploy rolls, workers still running the code before migration 0036 insert theme rows without the
    column: the database fills it in, and the next refresh, finding no fingerprint it knows, groups the week again."""
    planted_outputs(project, week, seed=17, sizes={"refund": 12, "tracking": 12})
    with connection.cursor() as cursor:  # the INSERT the code before 0036 sends: every column but the new one
        cursor.execute(
            f"INSERT INTO {FailureTheme._meta.db_table} (project_id, week, rank, terms, size, share, failures, themed, "
            "example_output_ids) VALUES (%s, %s, 1, '[\"old\"]', 24, 1.0, 24, 24, '[]')",
            [project.pk, week],
        )
    assert FailureTheme.objects.get(project=project, week=week).inputs_sha256 == ""

    assert refresh_week_themes(project=project, week=week) == 2
    assert ["old"] not in [row[1] for row in stored(project, week)]
