"""The metrics API: whose rows a caller sees, week ranges and filters, retention curves, cycle reports."""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from drf_spectacular.validation import validate_schema
from rest_framework.renderers import JSONRenderer

from api.serializers.metrics import RetentionOut, RetentionQuery
from labeling.metrics.agreement import MIN_GOLD_ITEMS
from labeling.models import (
    AgreementMetric,
    CycleStatus,
    ExpertWeek,
    FailureTheme,
    Item,
    QualityMetric,
    Queue,
    QueueWeek,
    RetentionCell,
    ReviewCycle,
    week_label,
)
from labeling.rules.access import OPERATOR_NOT_MEMBER
from labeling.rules.calendar import current_week, week_start
from labeling.selectors.metrics_api import SEGMENTS, retention_cells, retention_curves
from labeling.services.cycles import add_decision
from labeling.services.metrics import refresh_week_metrics
from labeling.services.rubrics import publish_rubric
from tests.api.test_schema_matches_responses import answer_shape, problems, unshaped
from tests.conftest import Api, _member
from tests.factories import OutputFactory, created_weeks_ago
from tests.helpers.labeling import AGREE, TIE, label_outputs
from tests.helpers.rubrics import QUESTIONS

TOPIC = {"key": "topic", "kind": "choice", "prompt": "What is it about?", "options": ["billing", "shipping"]}
QUALITY = "/api/v1/metrics/quality"
AGREEMENT = "/api/v1/metrics/agreement"
THROUGHPUT = "/api/v1/metrics/throughput"
RETENTION = "/api/v1/metrics/retention"
METRIC_PATHS = [QUALITY, AGREEMENT, THROUGHPUT, RETENTION]


@pytest.fixture
def project(project):
    """Created two years ago: the weeks these tests read are the project's own (a week that ended before the project
    was created, holding no review work, has no report or changes: a 404)."""
    return created_weeks_ago(project, 104)


@pytest.fixture
def other_project(other_project):
    return created_weeks_ago(other_project, 104)


def report_path(week) -> str:
    return f"/api/v1/cycles/{week_label(week)}/report"


def add_weeks(project, weeks, *, queues, experts, seed=0):
    """Metric rows for each week: two questions per queue, agreement, expert and queue weeks.

    `seed` shifts every count, so two projects' rows never look alike.
    """
    first, second = experts
    for index, week in enumerate(weeks):
        base = seed + index * 10
        for position, queue in enumerate(queues):
            n = base + position + 20
            QualityMetric.objects.create(
                project=project, week=week, queue=queue, question="correct", kind="binary", n=n,
                passes=n // 2, value=(n // 2) / n, ci_low=0.3, ci_high=0.7,
            )  # fmt: skip
            QualityMetric.objects.create(
                project=project, week=week, queue=queue, question="topic", kind="choice", n=n,
                shares={"billing": {"count": n, "share": 1.0}},
            )  # fmt: skip
            QueueWeek.objects.create(
                project=project, week=week, queue=queue, quota=50, items=n, items_complete=n - 1,
                labels_wanted=2 * n, labels=2 * n - 3, backlog=3, median_seconds=40.0 + position,
            )  # fmt: skip
        AgreementMetric.objects.create(
            project=project, week=week, question="correct", kind="binary", level="nominal", units=base + 12,
            labels=2 * (base + 12), experts=2, alpha=0.61, fleiss_kappa=0.6, cohen_kappa=0.62,
            pairs=[{"a": first.pk, "b": second.pk, "kappa": 0.62, "n": base + 12}],
        )  # fmt: skip
        AgreementMetric.objects.create(
            project=project, week=week, question="helpful", kind="rating", level="ordinal", units=base + 11,
            labels=2 * (base + 11), experts=2, alpha=0.4, alpha_interval=0.45, pairs=[],
        )  # fmt: skip
        for position, expert in enumerate(experts):
            ExpertWeek.objects.create(
                project=project, week=week, expert=expert, labels=base + 30 + position, skips=position, flags=1,
                median_seconds=35.5, gold_rate=0.75,
                gold_agreement={
                    "correct": {"agree": 8, "compared": 10}, "helpful": {"agree": 7, "compared": 10 + position},
                },
            )  # fmt: skip


@pytest.fixture
def weeks(this_week):
    """The last three cycle weeks, oldest first; the last is the running one."""
    return [this_week - timedelta(weeks=2), this_week - timedelta(weeks=1), this_week]


@pytest.fixture
def metrics(project, other_project, weeks, expert, other_expert):
    """Three weeks of metric rows in `project` and, with other counts, in `other_project`; the project's rubric has
    their questions (`topic` in an older version only)."""
    publish_rubric(project=project, questions=[*QUESTIONS, TOPIC])
    publish_rubric(project=project, questions=QUESTIONS)
    queues = [
        Queue.objects.create(project=project, slug="sample", name="Sample"),
        Queue.objects.create(project=project, slug="complaints", name="Complaints"),
    ]
    add_weeks(project, weeks, queues=queues, experts=[expert, other_expert])
    other_queue = Queue.objects.create(project=other_project, slug="sql-sample", name="SQL sample")
    other_experts = [_member(other_project, "olga", "expert"), _member(other_project, "omar", "expert")]
    add_weeks(other_project, weeks, queues=[other_queue], experts=other_experts, seed=500)
    return queues


@pytest.fixture
def reader(client, read_key):
    return Api(client, read_key.secret)


def week_query(first, last) -> str:
    return f"from={week_label(first)}&to={week_label(last)}"


# Quality -------------------------------------------------------------------------------------------------


def test_quality_lists_each_week_queue_and_question_with_counts_beside_rates(reader, metrics, weeks, project):
    response = reader.get(QUALITY)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["project"], body["from"], body["to"]) == (
        "support-bot", week_label(weeks[-1] - timedelta(weeks=11)), week_label(weeks[-1])
    )  # fmt: skip
    keys = [(row["week"], row["queue"], row["question"]) for row in body["results"]]
    assert keys == [
        (week_label(week), queue, question)
        for week in weeks
        for queue in ("complaints", "sample")
        for question in ("correct", "topic")
    ]
    first = body["results"][0]
    stored = QualityMetric.objects.get(project=project, week=weeks[0], queue__slug="complaints", question="correct")
    assert first == {
        "week": week_label(weeks[0]), "week_start": weeks[0].isoformat(), "queue": "complaints",
        "queue_name": "Complaints", "question": "correct", "kind": "binary", "n": stored.n, "passes": stored.passes,
        "value": stored.value, "ci_low": 0.3, "ci_high": 0.7, "shares": {}, "scale": "", "week_status": "open",
    }  # fmt: skip
    choice = body["results"][1]
    assert choice["passes"] is None and choice["value"] is None
    assert choice["shares"] == {"billing": {"count": stored.n, "share": 1.0}}


def test_quality_filters_by_range_queue_and_question(reader, metrics, weeks):
    response = reader.get(f"{QUALITY}?{week_query(weeks[1], weeks[1])}&queue=sample&question=correct")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["from"], body["to"]) == (week_label(weeks[1]), week_label(weeks[1]))
    assert [(r["week"], r["queue"], r["question"]) for r in body["results"]] == [
        (week_label(weeks[1]), "sample", "correct")
    ]
    only_from = reader.get(f"{QUALITY}?from={week_label(weeks[1])}&question=topic").json()
    assert only_from["to"] == week_label(weeks[2])  # `to` defaults to the current week
    assert {row["week"] for row in only_from["results"]} == {week_label(weeks[1]), week_label(weeks[2])}


def test_the_pooled_rows_are_the_meetings_headline_pass_rate(reader, metrics, weeks, project):
    """The meeting's headline pass rate pools every queue; the quality rows were per queue only, so an engineer could
    not find the headline in the metrics API. `pooled=true` gives a row per week and question, `queue` null, pooled by
    the headline's own rule (`pooled_trend`)."""
    body = reader.get(f"{QUALITY}?pooled=true&{week_query(weeks[0], weeks[2])}").json()

    assert [(row["week"], row["queue"], row["question"]) for row in body["results"]] == [
        (week_label(week), None, "correct") for week in weeks
    ]  # a choice question has no pooled figure
    for row, week in zip(body["results"], weeks, strict=True):
        headline = reader.get(report_path(week)).json()["headline"]["pass_rate"]
        assert {key: row[key] for key in ("value", "ci_low", "ci_high", "n", "passes")} == {
            key: headline[key] for key in ("value", "ci_low", "ci_high", "n", "passes")
        }
        stored = QualityMetric.objects.filter(project=project, week=week, question="correct")
        assert row["n"] == sum(each.n for each in stored) and row["passes"] == sum(each.passes for each in stored)
        assert (row["queue_name"], row["kind"], row["shares"], row["week_status"]) == (None, "binary", {}, "open")
    assert [row["question"] for row in reader.get(f"{QUALITY}?pooled=true&question=topic").json()["results"]] == []
    schema = reader.client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert unshaped(schema, answer_shape(schema, QUALITY), body) == [] and problems(schema, QUALITY, body) == []


def test_pooled_rows_of_one_queue_are_a_400(reader, metrics):
    response = reader.get(f"{QUALITY}?pooled=true&queue=sample")

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["field"], error["message"]) == ("pooled", "`pooled` pools every queue: leave out `queue`.")


@pytest.mark.parametrize("word", ["on", "y", "t", "off", "maybe"])
def test_pooled_reads_yes_or_no_by_the_apis_one_rule(reader, metrics, word):
    """`pooled` was DRF's boolean: it took `on`, `y` and `t`, which the explore filters and `?full=` refuse, and
    refused the rest with "Must be a valid boolean."."""
    response = reader.get(f"{QUALITY}?pooled={word}")

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["field"], error["message"]) == (
        "pooled", f"'{word}' is not yes or no: use yes, true or 1, or no, false or 0.",
    )  # fmt: skip


@pytest.mark.parametrize("word, pooled", [("YES", True), ("1", True), ("No", False), ("0", False)])
def test_pooled_takes_each_yes_and_no_word(reader, metrics, word, pooled):
    rows = reader.get(f"{QUALITY}?pooled={word}").json()["results"]

    assert rows and all((row["queue"] is None) == pooled for row in rows)


def test_the_default_range_is_the_twelve_weeks_up_to_the_current_one(reader, project, this_week):
    queue = Queue.objects.create(project=project, slug="sample", name="Sample")
    for offset in (-12, -11, 0, 1):  # one too old, the oldest and newest included, one not started yet
        week = this_week + timedelta(weeks=offset)
        QualityMetric.objects.create(project=project, week=week, queue=queue, question="correct", kind="binary", n=1)

    results = reader.get(QUALITY).json()["results"]

    assert [row["week"] for row in results] == [
        week_label(this_week - timedelta(weeks=11)), week_label(this_week)
    ]  # fmt: skip


def test_weeks_of_a_project_whose_cycle_starts_on_wednesday(reader, project):
    project.cycle_weekday = 2
    project.save(update_fields=["cycle_weekday"])
    this_week = current_week(project)
    assert this_week.weekday() == 2
    queue = Queue.objects.create(project=project, slug="sample", name="Sample")
    for offset in range(3):
        week = this_week - timedelta(weeks=offset)
        QualityMetric.objects.create(project=project, week=week, queue=queue, question="correct", kind="binary", n=1)

    last = this_week - timedelta(weeks=1)
    results = reader.get(f"{QUALITY}?{week_query(last, last)}").json()["results"]

    assert [(row["week"], row["week_start"]) for row in results] == [(week_label(last), last.isoformat())]


# Agreement -----------------------------------------------------------------------------------------------


def test_agreement_names_experts_by_username_and_lists_their_gold_agreement(reader, metrics, weeks):
    response = reader.get(f"{AGREEMENT}?{week_query(weeks[0], weeks[1])}")

    assert response.status_code == 200
    body = response.json()
    assert [(row["week"], row["question"]) for row in body["results"]] == [
        (week_label(week), question) for week in weeks[:2] for question in ("correct", "helpful")
    ]
    correct = body["results"][0]
    assert correct["pairs"] == [{"a": "erin", "b": "ezra", "kappa": 0.62, "n": 12}]
    assert (correct["level"], correct["alpha"], correct["units"], correct["labels"], correct["experts"]) == (
        "nominal", 0.61, 12, 24, 2
    )  # fmt: skip
    assert body["results"][1]["alpha_interval"] == 0.45 and body["results"][1]["fleiss_kappa"] is None
    assert [(row["week"], row["expert"]) for row in body["experts"]] == [
        (week_label(week), name) for week in weeks[:2] for name in ("erin", "ezra")
    ]
    ezra = body["experts"][1]
    assert (ezra["gold_rate"], ezra["agree"], ezra["compared"]) == (0.75, 15, 21)
    assert (ezra["items"], ezra["too_few_items"]) == (11, False)  # the question compared most: helpful, on 11
    assert ezra["questions"]["helpful"] == {"agree": 7, "compared": 11, "rate": 7 / 11}


def test_agreement_for_one_question_counts_only_that_question(reader, metrics, weeks):
    body = reader.get(f"{AGREEMENT}?{week_query(weeks[2], weeks[2])}&question=helpful").json()

    assert [row["question"] for row in body["results"]] == ["helpful"]
    assert body["results"][0]["pairs"] == []
    ezra = body["experts"][1]
    assert ezra["expert"] == "ezra" and list(ezra["questions"]) == ["helpful"]
    assert (ezra["agree"], ezra["compared"], ezra["gold_rate"]) == (7, 11, 7 / 11)
    assert reader.get(f"{AGREEMENT}?question=fix").json()["experts"] == []  # compared on no one's labels


def schema_properties(client, component: str) -> dict:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    return schema["components"]["schemas"][component]["properties"]


@pytest.mark.parametrize(("units", "too_few"), [(1, True), (4, True), (5, False)])
def test_an_agreement_over_too_few_items_says_so_beside_its_unchanged_numbers(
    reader, metrics, weeks, project, units, too_few
):
    """An alpha over one item is 0 or undefined, over a handful it swings by tenths with one label, yet a row served it
    like any other. Each row says whether fewer items than the minimum (5, as for a week-over-week change) had two
    labels; its numbers stay as computed, for callers that read them."""
    AgreementMetric.objects.filter(project=project, week=weeks[1], question="correct").update(units=units)

    results = reader.get(f"{AGREEMENT}?{week_query(weeks[0], weeks[1])}").json()["results"]

    rows = {(row["week"], row["question"]): row for row in results}
    tiny, usual = rows[(week_label(weeks[1]), "correct")], rows[(week_label(weeks[0]), "correct")]
    assert (tiny["too_few_items"], tiny["alpha"], tiny["units"], tiny["fleiss_kappa"]) == (too_few, 0.61, units, 0.6)
    assert (usual["too_few_items"], usual["alpha"]) == (False, 0.61)


def test_alpha_interval_is_a_second_alpha_not_a_confidence_interval(client, reader, metrics, weeks):
    """`alpha_interval` read like a confidence interval: it is Krippendorff's alpha computed at the interval level of
    measurement (ratings only). The answer says so under a name of its own, `alpha_at_interval_level`, and the
    old field's description says what it is."""
    body = reader.get(f"{AGREEMENT}?{week_query(weeks[0], weeks[0])}").json()

    correct, helpful = body["results"]
    assert (helpful["alpha_at_interval_level"], helpful["alpha_interval"]) == (0.45, 0.45)
    assert (correct["alpha_at_interval_level"], correct["alpha_interval"]) == (None, None)  # not a rating
    fields = schema_properties(client, "AgreementRowOut")
    assert "not a confidence interval" in fields["alpha_interval"]["description"].lower()
    assert "interval level of measurement" in fields["alpha_at_interval_level"]["description"]


def test_gold_rate_is_one_with_two_labels_per_item_and_its_description_says_why(client, reader, project, this_week):
    """Two labels per item: where they agree, the gold answer is theirs (both agree with it); where they differ it is
    a tie with no gold, so nothing is compared. Each expert's `gold_rate` is then 1.0 unless a lead adjudicated: the
    figure is right by its definition, and its description says so."""
    experts = [_member(project, "lab0", "expert"), _member(project, "lab1", "expert")]
    label_outputs(project, 2, answers=AGREE, experts=experts)
    label_outputs(project, 1, answers=TIE, experts=experts)
    refresh_week_metrics(project=project, week=this_week)

    body = reader.get(f"{AGREEMENT}?question=correct").json()

    assert [(row["expert"], row["gold_rate"], row["agree"], row["compared"]) for row in body["experts"]] == [
        ("lab0", 1.0, 2, 2), ("lab1", 1.0, 2, 2)
    ]  # fmt: skip
    described = schema_properties(client, "ExpertGoldOut")["gold_rate"]["description"]
    assert "including their own" in described and "tie" in described and "1.0" in described


def test_a_gold_rate_over_too_few_items_is_served_and_flagged(client, reader, project, this_week):
    """Two items compared: the rate is given as computed, flagged as standing on too few items (under MIN_GOLD_ITEMS),
    and the flag's description says the pages show none."""
    experts = [_member(project, "lab0", "expert"), _member(project, "lab1", "expert")]
    label_outputs(project, 2, answers=AGREE, experts=experts)
    refresh_week_metrics(project=project, week=this_week)

    body = reader.get(AGREEMENT).json()

    assert [(row["expert"], row["gold_rate"], row["compared"], row["items"], row["too_few_items"])
            for row in body["experts"]] == [("lab0", 0.5, 4, 2, True), ("lab1", 0.5, 4, 2, True)]  # fmt: skip
    described = schema_properties(client, "ExpertGoldOut")["too_few_items"]["description"]
    assert f"under {MIN_GOLD_ITEMS}" in described and "show none" in described


def test_an_expert_with_no_gold_answer_to_compare_with_is_not_said_to_stand_on_too_few(
    client, reader, project, lead, this_week
):
    """No item compared is no figure at all (`gold_rate` null, "—" on the pages), not a figure over too few items:
    report.md said "0 items: too few for a gold agreement figure" of every expert whose items had no gold yet."""
    experts = [_member(project, "lab0", "expert"), _member(project, "lab1", "expert")]
    label_outputs(project, 2, answers=AGREE, experts=experts, resolve=False)
    refresh_week_metrics(project=project, week=this_week)
    client.force_login(lead)

    body = reader.get(AGREEMENT).json()
    markdown = client.get(f"/p/{project.slug}/meeting/{week_label(this_week)}/report.md").content.decode()

    assert [(row["expert"], row["gold_rate"], row["items"], row["too_few_items"]) for row in body["experts"]] == [
        ("lab0", None, 0, False),
        ("lab1", None, 0, False),
    ]
    assert "too few for a gold agreement figure" not in markdown
    assert "| lab0 | 2 | 0 | 0 |" in markdown and "| — of 0 |" in markdown


# Throughput ----------------------------------------------------------------------------------------------


def test_throughput_lists_queue_weeks_and_expert_weeks(reader, metrics, weeks, project):
    body = reader.get(f"{THROUGHPUT}?{week_query(weeks[2], weeks[2])}").json()

    stored = QueueWeek.objects.get(project=project, week=weeks[2], queue__slug="sample")
    assert body["queues"][1] == {
        "week": week_label(weeks[2]), "week_start": weeks[2].isoformat(), "queue": "sample", "queue_name": "Sample",
        "quota": 50, "items": stored.items, "items_complete": stored.items_complete, "labels": stored.labels,
        "labels_wanted": stored.labels_wanted, "backlog": 3, "median_seconds": 40.0, "week_status": "open",
    }  # fmt: skip
    assert [row["queue"] for row in body["queues"]] == ["complaints", "sample"]
    assert body["experts"] == [
        {"week": week_label(weeks[2]), "week_start": weeks[2].isoformat(), "expert": name, "labels": 50 + position,
         "skips": position, "flags": 1, "median_seconds": 35.5, "week_status": "open"}
        for position, name in enumerate(["erin", "ezra"])
    ]  # fmt: skip
    narrowed = reader.get(f"{THROUGHPUT}?queue=complaints").json()
    assert {row["queue"] for row in narrowed["queues"]} == {"complaints"}
    assert len(narrowed["experts"]) == 6  # expert weeks span every queue


# Which weeks are final -----------------------------------------------------------------------------------


def test_every_weekly_row_says_whether_its_weeks_close_froze_it(client, reader, metrics, weeks, project):
    """The running week's rows came in the default range like any other, nothing saying they may still change: a row's
    `week_status` is "closed" once its week's close froze it, else "open", as the report's `status`."""
    ReviewCycle.objects.create(project=project, week=weeks[0], status=CycleStatus.CLOSED)
    ReviewCycle.objects.create(project=project, week=weeks[1])  # over, its close not run yet
    expected = {week_label(weeks[0]): "closed", week_label(weeks[1]): "open", week_label(weeks[2]): "open"}
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    for path, lists in (
        (QUALITY, ["results"]),
        (AGREEMENT, ["results", "experts"]),
        (THROUGHPUT, ["queues", "experts"]),
    ):
        body = reader.get(path).json()
        for name in lists:
            assert {row["week"]: row["week_status"] for row in body[name]} == expected, (path, name)
        assert unshaped(schema, answer_shape(schema, path), body) == [], path
        assert problems(schema, path, body) == [], path
    declared = schema["components"]["schemas"]["QualityRowOut"]["properties"]["week_status"]
    enum = declared["allOf"][0]["$ref"].rsplit("/", 1)[1]
    assert schema["components"]["schemas"][enum]["enum"] == ["closed", "open"]  # the report's `status` too


# Retention -----------------------------------------------------------------------------------------------


def cells(project, segment, cohort, grid, *, users, current):
    """Store one cohort's row: `grid` lists (active_on, active_on_or_after) from offset 0."""
    for offset, (active_on, on_or_after) in enumerate(grid):
        RetentionCell.objects.create(
            project=project, segment=segment, cohort_week=cohort, offset=offset, cohort_users=users,
            active_on=active_on, active_on_or_after=on_or_after,
            incomplete=cohort + timedelta(weeks=offset) == current,
        )  # fmt: skip


@pytest.fixture
def retention(project, other_project, this_week):
    """Cohorts of 10 and 30 users two and one weeks ago (all), one of 4 (pass); the current week's cells run."""
    two, one = this_week - timedelta(weeks=2), this_week - timedelta(weeks=1)
    cells(project, "all", two, [(10, 10), (4, 6), (3, 3)], users=10, current=this_week)
    cells(project, "all", one, [(30, 30), (6, 9)], users=30, current=this_week)
    cells(project, "all", this_week, [(5, 5)], users=5, current=this_week)
    cells(project, "pass", two, [(4, 4), (3, 3), (1, 1)], users=4, current=this_week)
    cells(other_project, "all", two, [(99, 99), (98, 98), (97, 97)], users=99, current=this_week)
    return two, one


def test_retention_serves_the_grid_with_rates_and_weighted_curves_over_complete_cells(reader, retention, this_week):
    two, one = retention

    body = reader.get(RETENTION).json()

    assert (body["segment"], body["measure"]) == (None, "active_on")
    grid = [(cell["segment"], cell["cohort"], cell["offset"]) for cell in body["results"]]
    assert grid == [
        ("all", week_label(two), 0), ("all", week_label(two), 1), ("all", week_label(two), 2),
        ("all", week_label(one), 0), ("all", week_label(one), 1), ("all", week_label(this_week), 0),
        ("pass", week_label(two), 0), ("pass", week_label(two), 1), ("pass", week_label(two), 2),
    ]  # fmt: skip
    assert body["results"][1] == {
        "segment": "all", "cohort": week_label(two), "cohort_week": two.isoformat(), "offset": 1,
        "activity_week": week_label(one), "cohort_users": 10, "active_on": 4, "active_on_or_after": 6, "rate": 0.4,
        "rate_on_or_after": 0.6, "incomplete": False,
    }  # fmt: skip
    assert body["results"][2]["incomplete"] and body["results"][4]["incomplete"]
    # Offset 0 pools the two complete cohorts (the current week's is still running); offset 1 only the oldest.
    assert body["curves"]["all"] == [
        {"offset": 0, "rate": 1.0, "returned": 40, "users": 40, "cohorts": 2},
        {"offset": 1, "rate": 0.4, "returned": 4, "users": 10, "cohorts": 1},
    ]
    assert body["curves"]["pass"] == [
        {"offset": 0, "rate": 1.0, "returned": 4, "users": 4, "cohorts": 1},
        {"offset": 1, "rate": 0.75, "returned": 3, "users": 4, "cohorts": 1},
    ]
    assert body["curves"]["fail"] == []


def test_retention_for_one_segment_measure_and_range(reader, retention):
    two, one = retention

    body = reader.get(f"{RETENTION}?segment=all&measure=active_on_or_after&{week_query(two, one)}").json()

    assert body["segment"] == "all" and list(body["curves"]) == ["all"]
    assert {cell["segment"] for cell in body["results"]} == {"all"} and len(body["results"]) == 5
    assert body["curves"]["all"][1] == {"offset": 1, "rate": 0.6, "returned": 6, "users": 10, "cohorts": 1}
    only_recent = reader.get(f"{RETENTION}?segment=all&{week_query(one, one)}").json()
    assert {cell["cohort"] for cell in only_recent["results"]} == {week_label(one)}
    assert only_recent["curves"]["all"] == [{"offset": 0, "rate": 1.0, "returned": 30, "users": 30, "cohorts": 1}]


def test_retention_says_from_and_to_bound_the_cohorts_and_names_each_cells_activity_week(
    client, reader, retention, this_week
):
    """`to` bounds the cohorts, not the weeks of activity: a cohort's cells run on to the current week. The answer
    names what `from` and `to` bound (`range_of`), each cell its week of activity (cohort + offset, as a label), and
    the parameters' descriptions say it; the cells' numbers are the same."""
    two, one = retention

    body = reader.get(f"{RETENTION}?segment=all&{week_query(two, two)}").json()

    assert (body["from"], body["to"], body["range_of"]) == (week_label(two), week_label(two), "cohorts")
    assert [(cell["cohort"], cell["offset"], cell["activity_week"], cell["active_on"]) for cell in body["results"]] == [
        (week_label(two), 0, week_label(two), 10), (week_label(two), 1, week_label(one), 4),
        (week_label(two), 2, week_label(this_week), 3),
    ]  # fmt: skip
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    parameters = {p["name"]: p["description"] for p in schema["paths"][RETENTION]["get"]["parameters"]}
    assert "last cohort" in parameters["to"] and "not the weeks of activity" in parameters["to"]
    assert "first cohort" in parameters["from"]


def retention_body_by_serializer(project, query: dict) -> dict:
    """The body as the view built it before: `RetentionOut` run over the selectors' rows, cell by cell."""
    params = RetentionQuery(data=query, context={"project": project})
    params.is_valid(raise_exception=True)
    weeks, segment, measure = params.validated_data["weeks"], query.get("segment"), params.validated_data["measure"]
    rows = retention_cells(project=project, weeks=weeks, segment=segment)
    curves = retention_curves(rows, weeks=weeks, segments=(segment,) if segment else SEGMENTS, measure=measure)
    data = {
        "project": project.slug, "from": week_label(weeks.first), "to": week_label(weeks.last), "range_of": "cohorts",
        "segment": segment, "measure": measure, "results": rows, "curves": curves,
    }  # fmt: skip
    return RetentionOut(data).data


@pytest.mark.parametrize(
    "query",
    [{}, {"segment": "fail"}, {"segment": "pass", "measure": "active_on_or_after"}, {"measure": "active_on_or_after"}],
)
def test_retention_body_is_byte_for_byte_what_the_serializer_gave(reader, project, retention, this_week, query):
    """Plain dicts instead of a serializer call per cell: same keys, order, types, None rates and dates."""
    two, one = retention
    older = this_week - timedelta(weeks=5)
    cells(project, "all", older, [(7, 7), (0, 3), (2, 2), (1, 1), (1, 1), (0, 0)], users=7, current=this_week)
    cells(project, "fail", older, [(0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0)], users=0, current=this_week)
    cells(project, "fail", one, [(3, 3), (1, 2)], users=3, current=this_week)
    cells(project, "pass", this_week, [(1, 1)], users=1, current=this_week)
    query = {"from": week_label(older), "to": week_label(this_week), **query}

    response = reader.get(f"{RETENTION}?{urlencode(query)}")

    assert response.status_code == 200
    expected = retention_body_by_serializer(project, query)
    assert response.content == JSONRenderer().render(expected, "application/json")
    body = response.json()
    assert any(cell["incomplete"] for cell in body["results"]) and any(body["curves"].values())
    if query.get("segment") in (None, "fail"):
        assert any(cell["rate"] is None for cell in body["results"])  # the empty cohort


@pytest.mark.parametrize("users, returned", [(20_001, 1), (30_000_000, 1)])
def test_a_rate_json_writes_with_an_exponent_comes_out_as_the_serializer_wrote_it(
    reader, project, this_week, users, returned
):
    """A rate under 1e-4 (5e-05) is written as json.dumps writes it, whichever encoder writes the body."""
    two = this_week - timedelta(weeks=2)
    cells(project, "all", two, [(users, users), (returned, returned), (0, 0)], users=users, current=this_week)
    query = {"from": week_label(two), "to": week_label(this_week)}

    response = reader.get(f"{RETENTION}?{urlencode(query)}")

    assert response.status_code == 200
    assert response.content == JSONRenderer().render(retention_body_by_serializer(project, query), "application/json")
    assert b"e-05" in response.content or b"e-08" in response.content


def test_a_long_retention_range_comes_out_as_the_serializer_wrote_it(reader, project, this_week):
    """40 weeks of cohorts, every segment, rates in full: the same bytes as RetentionOut's."""
    for weeks_ago in range(40):
        cohort = this_week - timedelta(weeks=weeks_ago)
        for segment, users in (("all", 97), ("pass", 41), ("fail", 13)):
            grid = [(max(users - 7 * offset, 0), max(users - 5 * offset, 0)) for offset in range(weeks_ago + 1)]
            cells(project, segment, cohort, grid, users=users, current=this_week)
    query = {"from": week_label(this_week - timedelta(weeks=39)), "to": week_label(this_week)}

    response = reader.get(f"{RETENTION}?{urlencode(query)}")

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.content == JSONRenderer().render(retention_body_by_serializer(project, query), "application/json")
    assert len(response.json()["results"]) == 3 * sum(range(1, 41))


# Cycle reports -------------------------------------------------------------------------------------------


def test_a_closed_cycles_report_is_served_exactly_as_frozen(reader, project, other_project, this_week):
    week = this_week - timedelta(weeks=3)
    frozen = {
        "version": 1, "project": "support-bot", "week": week_label(week), "status": "closed",
        "headline": {"pass_rate": {"value": 0.8125, "n": 16, "passes": 13, "ci_low": None}},
        "quality": [], "agenda": {"flags": [{"excerpt": "<b>not trusted</b>"}]},
    }  # fmt: skip
    ReviewCycle.objects.create(project=project, week=week, status=CycleStatus.CLOSED, report=frozen)
    ReviewCycle.objects.create(project=other_project, week=week, status=CycleStatus.CLOSED, report={"other": 1})

    response = reader.get(report_path(week))

    assert response.status_code == 200
    # As frozen, beside the week's own decisions and the rubric versions published in it, as they are now.
    assert response.json() == frozen | {"decisions": [], "rubrics_published": []}


def test_the_current_weeks_report_is_built_live_and_open(reader, project, this_week):
    response = reader.get(report_path(this_week))

    assert response.status_code == 200, response.content
    report = response.json()
    assert (report["status"], report["week"], report["project"]) == ("open", week_label(this_week), "support-bot")
    assert report["week_start"] == this_week.isoformat()


def test_a_past_open_week_with_items_has_a_live_report(reader, project, this_week):
    week = this_week - timedelta(weeks=5)
    queue = Queue.objects.create(project=project, slug="sample", name="Sample")
    Item.objects.create(project=project, queue=queue, output=OutputFactory(project=project), week=week, overlap=1)

    response = reader.get(report_path(week))

    assert response.status_code == 200 and response.json()["status"] == "open"


def test_a_week_that_has_not_started_has_no_report(reader, project, this_week):
    response = reader.get(report_path(this_week + timedelta(weeks=1)))

    assert response.status_code == 404
    assert "has not started" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("suffix", ["", "?format=markdown"])
def test_a_week_that_ended_before_the_project_was_created_has_no_report(reader, project, suffix):
    """It was a 200 "open" report, empty, of a week nobody could ever close (the meeting page notes it as before the
    project); a week that has not started is a 404 already."""
    created_weeks_ago(project, 0)

    response = reader.get(f"/api/v1/cycles/2020-W01/report{suffix}")

    assert response.status_code == 404
    assert response.json()["errors"][0]["message"] == "Week 2020-W01 ended before this project was created."
    assert not ReviewCycle.objects.exists()


@pytest.mark.parametrize("suffix", ["", "?format=markdown"])
def test_a_week_with_outputs_but_no_items_yet_has_a_report_with_zero_review_figures(reader, project, this_week, suffix):
    """Outputs sent with older dates that nothing routed into a queue yet, and the themes found in them: the week is
    one of the project's, answered with its themes and zero review figures, not as a week before the project."""
    created_weeks_ago(project, 0)
    week = this_week - timedelta(weeks=3)
    failing = OutputFactory(project=project, occurred_at=week_start(project, week) + timedelta(hours=12))
    FailureTheme.objects.create(project=project, week=week, rank=1, terms=["refund", "days"], size=1, share=1.0,
                                failures=1, themed=1, example_output_ids=[failing.pk])  # fmt: skip

    response = reader.get(f"{report_path(week)}{suffix}")

    assert response.status_code == 200, response.content
    if suffix:
        assert "refund" in response.content.decode()
        return
    report = response.json()
    assert (report["status"], report["week"]) == ("open", week_label(week))
    assert report["headline"]["pass_rate"] is None and report["headline"]["labels"]["done"] == 0
    assert report["quality"] == [] and report["agenda"] == {"adjudication": [], "flags": [], "movers": []}
    assert [theme["terms"] for theme in report["themes"]] == [["refund", "days"]]
    assert not ReviewCycle.objects.exists()


def test_a_past_week_with_nothing_in_it_has_an_empty_live_report(reader, project, this_week):
    """As on the meeting page: every started week of the project has a report, so a lead can record decisions and
    close it."""
    week = this_week - timedelta(weeks=5)

    response = reader.get(report_path(week))

    assert response.status_code == 200
    report = response.json()
    assert (report["status"], report["week"]) == ("open", week_label(week))
    assert report["headline"]["pass_rate"] is None and report["headline"]["labels"]["done"] == 0
    assert report["quality"] == [] and report["agenda"]["flags"] == []
    assert not ReviewCycle.objects.exists()  # reading a week makes no cycle row


@pytest.fixture
def in_honolulu(project):
    """The project moved to Honolulu, before `this_week` keeps the clock clear of its week starts there."""
    project.time_zone = "Pacific/Honolulu"
    project.save(update_fields=["time_zone"])
    return project


def test_a_closed_weeks_report_as_markdown_is_in_the_zone_the_week_was_closed_in(
    client, read_key, project, in_honolulu, this_week
):
    """As its meeting page says: the week's dates were drawn in that zone's calendar. Before, the moments were written
    in the project's zone now (Honolulu's), and no zone was named beside the dates."""
    week = this_week - timedelta(weeks=3)
    frozen = {"version": 1, "project": "support-bot", "project_name": "Support bot", "week": week_label(week),
              "week_start": "2026-11-23", "week_end": "2026-11-29", "status": "closed",
              "generated_at": "2026-11-30T16:22:00+00:00"}  # fmt: skip
    ReviewCycle.objects.create(
        project=project, week=week, status=CycleStatus.CLOSED, report=frozen, closed_in_time_zone="America/Los_Angeles"
    )

    response = client.get(f"{report_path(week)}?format=markdown", HTTP_AUTHORIZATION=f"Bearer {read_key.secret}")

    assert response.status_code == 200
    assert (
        r"Week 2026-11-23 to 2026-11-29 (America/Los\_Angeles). "  # Markdown's escape of "_", shown as written
        r"Closed; figures frozen at 2026-11-30 08:22 PST."
    ) in response.content.decode()


def test_a_report_as_markdown_names_a_zone_whose_abbreviation_is_its_name_once(client, read_key, project, this_week):
    """A week closed in UTC read "figures frozen at 2026-11-30 16:22 UTC (UTC).": the zone twice."""
    week = this_week - timedelta(weeks=3)
    frozen = {"version": 1, "project": "support-bot", "project_name": "Support bot", "week": week_label(week),
              "week_start": "2026-11-23", "week_end": "2026-11-29", "status": "closed",
              "generated_at": "2026-11-30T16:22:00+00:00"}  # fmt: skip
    ReviewCycle.objects.create(
        project=project, week=week, status=CycleStatus.CLOSED, report=frozen, closed_in_time_zone="UTC"
    )

    response = client.get(f"{report_path(week)}?format=markdown", HTTP_AUTHORIZATION=f"Bearer {read_key.secret}")

    assert response.status_code == 200
    text = response.content.decode()
    assert "Week 2026-11-23 to 2026-11-29 (UTC). Closed; figures frozen at 2026-11-30 16:22 UTC." in text, text
    assert "UTC (UTC)" not in text


@pytest.mark.parametrize("label", ["2026-48", "2026-W54", "W48", "2026-W4"])
def test_a_malformed_week_label_in_the_report_path_is_a_400(reader, project, label):
    response = reader.get(f"/api/v1/cycles/{label}/report")

    assert response.status_code == 400
    assert label in response.json()["errors"][0]["message"]


def test_a_report_as_markdown_carries_the_decisions_and_errors_stay_json(client, read_key, project, lead, this_week):
    week = this_week - timedelta(weeks=3)
    frozen = {"version": 1, "project": "support-bot", "project_name": "Support bot", "week": week_label(week),
              "status": "closed", "generated_at": "2026-11-02T00:05:00+00:00"}  # fmt: skip
    cycle = ReviewCycle.objects.create(project=project, week=week, status=CycleStatus.CLOSED, report=frozen)
    add_decision(user=lead, cycle=cycle, text="Retrain the <refund> prompt", owner="enzo")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {read_key.secret}"}

    by_query = client.get(f"{report_path(week)}?format=markdown", **auth)
    by_header = client.get(report_path(week), HTTP_ACCEPT="text/markdown", **auth)

    assert by_query.status_code == by_header.status_code == 200
    assert by_query["Content-Type"] == "text/markdown; charset=utf-8"
    assert by_query.content == by_header.content
    text = by_query.content.decode()
    assert text.splitlines()[0] == f"# Support bot: weekly review {week_label(week)}"
    assert "Closed; figures frozen at 2026" in text
    assert "Retrain the" in text and "<refund>" not in text and "owner: enzo" in text
    missing = client.get(f"{report_path(this_week + timedelta(weeks=1))}?format=markdown", **auth)
    assert missing.status_code == 404 and missing["Content-Type"] == "application/json"
    assert missing.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "accept, answered",
    [
        ("application/json;q=0, text/markdown", "text/markdown"),
        ("application/json;q=0.5, text/markdown", "text/markdown"),
        ("text/markdown;q=0.9, application/json;q=0.8", "text/markdown"),
        ("text/markdown;q=0.5, */*", "application/json"),
        ("text/*;q=0.9, application/json;q=0.1", "text/markdown"),
        ("*/*, text/markdown", "text/markdown"),  # equal quality: the more specific range, as before
        ("text/markdown, application/json", "application/json"),  # equal quality and specificity: ours first
        ("", "application/json"),
    ],
)
def test_the_report_is_answered_in_the_type_the_accept_header_prefers(reader, project, this_week, accept, answered):
    """The q values of Accept decide between JSON and Markdown: DRF compares only how specific each range is, so
    `application/json;q=0, text/markdown` was answered in JSON, the one type the client had refused."""
    response = reader.client.get(report_path(this_week), HTTP_ACCEPT=accept, **reader._headers(...))

    assert response.status_code == 200, response.content[:200]
    assert response["Content-Type"].split(";")[0] == answered


@pytest.mark.parametrize("path", [f"{QUALITY}?format=csv", "/api/v1/metrics/retention?format=markdown"])
def test_an_unknown_format_is_a_400_after_the_access_check(client, reader, other_project_key, project, path):
    response = reader.get(path)

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "format"
    assert Api(client, other_project_key.secret).get(f"{path}&project=support-bot").status_code == 404
    assert client.get(path).status_code == 401


# Who may read --------------------------------------------------------------------------------------------


def all_paths(weeks) -> list[str]:
    return [*METRIC_PATHS, report_path(weeks[0])]


@pytest.fixture
def closed_cycle(project, weeks):
    return ReviewCycle.objects.create(
        project=project, week=weeks[0], status=CycleStatus.CLOSED, report={"project": "support-bot", "mark": "A"}
    )


def test_it_validates_ownership(client, metrics, retention, closed_cycle, weeks, other_project, other_project_key):
    """Project B's key sees only B's rows, and cannot name project A; B's members are told A does not exist."""
    other = Api(client, other_project_key.secret)
    quality = other.get(QUALITY).json()
    assert quality["project"] == "sql-assistant"
    assert {row["queue"] for row in quality["results"]} == {"sql-sample"}
    agreement = other.get(AGREEMENT).json()
    assert {name for row in agreement["results"] for pair in row["pairs"] for name in (pair["a"], pair["b"])} == {
        "olga", "omar"
    }  # fmt: skip
    assert {row["expert"] for row in agreement["experts"]} == {"olga", "omar"}
    throughput = other.get(THROUGHPUT).json()
    assert {row["queue"] for row in throughput["queues"]} == {"sql-sample"}
    assert {row["expert"] for row in throughput["experts"]} == {"olga", "omar"}
    assert {cell["cohort_users"] for cell in other.get(RETENTION).json()["results"]} == {99}
    own_report = other.get(report_path(weeks[0])).json()  # A's week is closed; B's is not, and B sees only its own
    assert (own_report["project"], own_report["status"]) == ("sql-assistant", "open") and "mark" not in own_report

    other_engineer = _member(other_project, "otto", "engineer")
    for path in all_paths(weeks):
        joined = "&" if "?" in path else "?"
        response = other.get(f"{path}{joined}project=support-bot")
        assert response.status_code == 404, path
        client.force_login(other_engineer)
        response = client.get(f"{path}?project=support-bot")
        client.logout()
        assert response.status_code == 404, path
        assert b"erin" not in response.content and b"complaints" not in response.content
    # Access is decided before the parameters: bad ones do not turn the 404 into a 400.
    assert other.get(f"{QUALITY}?project=support-bot&from=garbage&queue=nope").status_code == 404


@pytest.mark.parametrize("role", ["expert", "lead", "engineer", "admin"])
def test_a_signed_in_member_reads_with_the_project_in_the_query(client, metrics, closed_cycle, weeks, project, role):
    client.force_login(_member(project, f"{role}-1", role))

    for path in METRIC_PATHS:
        response = client.get(f"{path}?project=support-bot")
        assert response.status_code == 200, path
        assert response.json()["project"] == "support-bot"
    assert client.get(f"{report_path(weeks[0])}?project=support-bot").json()["mark"] == "A"


def test_a_signed_in_member_must_name_the_project(client, metrics, weeks, project, engineer):
    client.force_login(engineer)

    for path in all_paths(weeks):
        response = client.get(path)
        assert response.status_code == 400, path
        assert "?project=" in response.json()["errors"][0]["message"]
    assert client.get(f"{QUALITY}?project=nope").status_code == 404


def test_no_credentials_is_a_401_and_a_key_without_the_read_scope_a_403(client, metrics, weeks, ingest_key):
    for path in all_paths(weeks):
        anonymous = client.get(f"{path}?project=support-bot")
        assert anonymous.status_code == 401, path
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
        response = Api(client, ingest_key.secret).get(path)
        assert response.status_code == 403, path
        assert "read" in response.json()["errors"][0]["message"]


def test_a_key_may_name_its_own_project(reader, metrics):
    assert reader.get(f"{QUALITY}?project=support-bot").status_code == 200


# Bad input -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, field, words",
    [
        (f"{QUALITY}?from=2026-48", "from", "not a week"),
        (f"{QUALITY}?to=2026-W54", "to", "has no week 54"),
        (f"{AGREEMENT}?from=2026-W00", "from", "has no week 0"),
        (f"{THROUGHPUT}?to=latest", "to", "not a week"),
        (f"{QUALITY}?from=2026-W10&to=2026-W09", "from", "is after `to`"),
        (f"{RETENTION}?from=2022-W01&to=2026-W01", "from", "104 weeks at most"),
        (f"{QUALITY}?queue=nope", "queue", "complaints, sample"),
        (f"{QUALITY}?question=nope", "question", "correct, critique, fix, helpful, issues, tone, topic"),
        (f"{AGREEMENT}?question=nope", "question", "Unknown question 'nope'"),
        (f"{THROUGHPUT}?queue=sql-sample", "queue", "Unknown queue"),  # another project's queue
        (f"{AGREEMENT}?queue=sample", "queue", "does not apply"),
        (f"{THROUGHPUT}?question=correct", "question", "does not apply"),
        (f"{RETENTION}?queue=sample", "queue", "does not apply"),
        (f"{RETENTION}?segment=weird", "segment", '"weird" is not a segment. The segments: all, pass, fail.'),
        (
            f"{RETENTION}?measure=ever",
            "measure",
            '"ever" is not a measure. The measures: active_on, active_on_or_after.',
        ),
        (f"{QUALITY}?question={'q' * 65}", "question", "64"),
        # A kind the metric has no rows for answered 200 with no rows, as "nothing labeled yet" does.
        (f"{QUALITY}?question=critique", "question", "'critique' is a text question: quality is computed for"),
        (f"{QUALITY}?question=fix", "question", "This project's: correct, helpful, issues, tone, topic."),
    ],
)
def test_bad_parameters_are_a_400_naming_them(reader, metrics, path, field, words):
    response = reader.get(path)

    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert error["field"] == field
    assert words in error["message"]


def test_a_range_of_exactly_104_weeks_is_allowed(reader, metrics, this_week):
    response = reader.get(f"{QUALITY}?{week_query(this_week - timedelta(weeks=103), this_week)}")

    assert response.status_code == 200
    assert len(response.json()["results"]) == 12  # three weeks of rows, all in range


# Query counts --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("extra_weeks", [0, 6])
@pytest.mark.parametrize(
    "path, queries",
    [
        (QUALITY, 2),  # key, rows
        (f"{QUALITY}?queue=sample", 3),  # + the queue
        (f"{QUALITY}?question=correct", 3),  # + the rubric's questions
        (AGREEMENT, 4),  # key, agreement, usernames, expert weeks
        (THROUGHPUT, 3),  # key, queue weeks, expert weeks
        (RETENTION, 2),  # key, cells
    ],
)
def test_metric_reads_take_a_fixed_number_of_queries(
    reader, metrics, retention, project, expert, other_expert, weeks, extra_weeks, path, queries,
    django_assert_num_queries,
):  # fmt: skip
    older = [weeks[0] - timedelta(weeks=k) for k in range(1, extra_weeks + 1)]
    add_weeks(project, older, queues=metrics, experts=[expert, other_expert], seed=7)
    reader.get(path)  # the key's last use is written once a minute, not counted here

    with django_assert_num_queries(queries):
        response = reader.get(path)

    assert response.status_code == 200


def test_a_frozen_report_takes_four_queries(reader, closed_cycle, weeks, django_assert_num_queries):
    reader.get(report_path(weeks[0]))

    # key, cycle (with the closed weeks beside it, which bound the week after a zone move: `calendar.week_span`), the
    # week's decisions (with their status now), the rubric versions published in the week
    with django_assert_num_queries(4):
        assert reader.get(report_path(weeks[0])).json()["mark"] == "A"


def test_an_operator_who_is_not_a_member_reads_the_figures_the_meeting_page_shows_them(
    client, operator, metrics, closed_cycle, weeks
):
    """One rule for the page and the API: the meeting page's figures and report, read without a membership (and not
    blind); the rubric and queues, whose pages are a lead's screens, stay the members'."""
    client.force_login(operator)

    assert client.get(f"/p/support-bot/meeting/{week_label(weeks[1])}/").status_code == 200
    for path in all_paths(weeks):
        response = client.get(path, {"project": "support-bot"})
        assert response.status_code == 200, (path, response.content)
        assert response.json()["project"] == "support-bot"
    assert client.get(report_path(weeks[0]), {"project": "support-bot"}).json()["mark"] == "A"
    assert client.get("/api/v1/metrics/changes", {"project": "support-bot"}).status_code == 200
    for path in ("/api/v1/rubric", "/api/v1/queues"):  # told so, as those pages tell them
        refused = client.get(path, {"project": "support-bot"})
        assert refused.status_code == 403 and refused.json()["errors"][0]["message"] == OPERATOR_NOT_MEMBER, path


def test_a_signed_in_members_frozen_report_asks_the_membership_once(
    client, engineer, closed_cycle, weeks, django_assert_num_queries
):
    """The membership that names the project also says whether the reader labels blind: not asked again."""
    client.force_login(engineer)
    path = f"{report_path(weeks[0])}?project=support-bot"
    client.get(path)

    # session, user, membership (with the project), cycle (with the closed weeks beside it), the week's decisions, the
    # rubric versions published in it
    with django_assert_num_queries(6):
        assert client.get(path).json()["mark"] == "A"


# Schema --------------------------------------------------------------------------------------------------


def test_the_openapi_schema_documents_the_metrics_endpoints_and_validates(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    operations = {
        path: schema["paths"][path]["get"]["operationId"] for path in schema["paths"] if "get" in schema["paths"][path]
    }
    assert operations[QUALITY] == "get_quality_metrics"
    assert operations["/api/v1/cycles/{week}/report"] == "get_cycle_report"
    quality = schema["paths"][QUALITY]["get"]
    assert {p["name"] for p in quality["parameters"]} == {"project", "from", "to", "queue", "question", "pooled"}
    assert {p["name"] for p in schema["paths"][RETENTION]["get"]["parameters"]} == {
        "project", "from", "to", "segment", "measure"
    }  # fmt: skip
    row = schema["components"]["schemas"]["QualityRowOut"]["properties"]
    assert {"week", "week_start", "queue", "question", "kind", "n", "passes", "value", "ci_low", "ci_high"} <= set(row)
    described = schema["paths"]["/api/v1/cycles/{week}/report"]["get"]["description"]
    assert '"status": "open"' in described
    # Every key read now rather than frozen is named: the decisions, the freshness, the rubric versions published.
    assert all(f"`{key}`" in described for key in ("decisions", "freshness", "rubrics_published"))
