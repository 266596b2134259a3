"""A frozen weekly report as the close stores it, and a flagged item for its agenda, for tests of what reads one."""

from labeling.models import Queue
from labeling.services.assignment import next_item
from labeling.services.labels import comment_on_item, flag_item, submit_label
from tests.factories import created_weeks_ago
from tests.helpers.labeling import make_items

HOSTILE_OUTPUT = '<script>alert("x")</script> **Refund** [click](http://evil.example) `rm -rf` | cell'


def sample_report(**overrides) -> dict:
    """A report dict in the format of selectors.report.build_report (the meeting page and the API read it)."""
    report = {
        "version": 1,
        "project": "support-bot",
        "project_name": "Support bot",
        "week": "2026-W47",
        "week_start": "2026-11-16",
        "week_end": "2026-11-22",
        "status": "closed",
        "generated_at": "2026-11-23T00:05:00+00:00",
        "verdict_question": "correct",
        "headline": {
            "pass_rate": {"value": 0.82, "ci_low": 0.6947, "ci_high": 0.9023, "n": 50, "passes": 41,
                          "previous": 0.75, "change": 0.07},
            "alpha": {"question": "correct", "value": 0.7123, "previous": 0.65, "change": 0.0623, "units": 30},
            "labels": {"done": 120, "wanted": 150, "quota": 50, "items": 50, "previous_done": 100, "change": 20},
            "retention_week1": {
                "cohort_week": "2026-W46",
                "all": {"rate": 0.45, "returned": 9, "users": 20},
                "pass": {"rate": 0.6, "returned": 6, "users": 10},
                "fail": {"rate": 0.3, "returned": 3, "users": 10},
                "previous_all": {"rate": 0.4, "returned": 8, "users": 20},
            },
        },
        "quality": [
            {"queue": "billing", "queue_name": "Billing", "question": "correct", "kind": "binary", "n": 50,
             "passes": 41, "value": 0.82, "ci_low": 0.6947, "ci_high": 0.9023, "shares": {}},
            {"queue": "billing", "queue_name": "Billing", "question": "tone", "kind": "choice", "n": 50,
             "passes": None, "value": None, "ci_low": None, "ci_high": None,
             "shares": {"friendly": {"count": 30, "share": 0.6}, "curt": {"count": 20, "share": 0.4}}},
        ],
        "pass_rate_trend": [
            {"week": "2026-W45", "week_start": "2026-11-02", "value": 0.7, "ci_low": 0.56, "ci_high": 0.81, "n": 40},
            {"week": "2026-W46", "week_start": "2026-11-09", "value": 0.75, "ci_low": 0.61, "ci_high": 0.85, "n": 48},
            {"week": "2026-W47", "week_start": "2026-11-16", "value": 0.82, "ci_low": 0.6947, "ci_high": 0.9023,
             "n": 50},
        ],
        "agreement": [
            {"question": "correct", "kind": "binary", "level": "nominal", "alpha": 0.7123, "alpha_interval": None,
             "fleiss_kappa": 0.7011, "cohen_kappa": 0.7204, "units": 30, "labels": 62, "experts": 3},
            {"question": "tone", "kind": "choice", "level": "nominal", "alpha": 0.412, "alpha_interval": None,
             "fleiss_kappa": 0.405, "cohen_kappa": None, "units": 28, "labels": 57, "experts": 3},
        ],
        "throughput": {
            "queues": [{"queue": "billing", "queue_name": "Billing", "quota": 50, "items": 50, "items_complete": 45,
                        "labels": 120, "labels_wanted": 150, "backlog": 30, "median_seconds": 41.0}],
            "experts": [{"expert": "erin", "labels": 70, "skips": 2, "flags": 1, "median_seconds": 38.0,
                         "gold_rate": 0.9, "gold_compared": 60}],
        },
        "retention": {
            "cohorts": [],
            "curves": {
                "all": [{"offset": 0, "rate": 1.0, "returned": 20, "users": 20, "cohorts": 2},
                        {"offset": 1, "rate": 0.45, "returned": 9, "users": 20, "cohorts": 2}],
                "pass": [{"offset": 0, "rate": 1.0, "returned": 10, "users": 10, "cohorts": 2},
                         {"offset": 1, "rate": 0.6, "returned": 6, "users": 10, "cohorts": 2}],
                "fail": [{"offset": 0, "rate": 1.0, "returned": 10, "users": 10, "cohorts": 2},
                         {"offset": 1, "rate": 0.3, "returned": 3, "users": 10, "cohorts": 2}],
            },
        },
        "agenda": {
            "adjudication": [{"item_id": 501, "queue": "billing", "week": "2026-W47", "questions": ["correct"],
                              "excerpt": HOSTILE_OUTPUT}],
            "flags": [{"flag_id": 7, "item_id": 502, "queue": "billing", "expert": "erin",
                       "note": "Promises a refund we do not offer", "created_at": "2026-11-18T10:00:00+00:00",
                       "excerpt": "We will refund you twice.",
                       "comments": [{"author": "lena", "body": "Agreed, see policy 4.2",
                                     "created_at": "2026-11-18T11:00:00+00:00"}]}],
            "movers": [{"tag": "refunds", "value": 0.5, "previous": 0.8, "change": -0.3, "n": 10, "previous_n": 12}],
        },
    }  # fmt: skip
    report.update(overrides)
    return report


def flagged_item(project, rubric, expert, *, note: str, comment: str):
    """An item of this week (a four-week-old project, queue "billing" for two experts) that `expert` labeled, flagged
    with `note` and commented on with `comment`: the agenda's flagged items, as every reader sees them."""
    created_weeks_ago(project, 4)
    queue = Queue.objects.create(project=project, slug="billing", name="Billing", overlap=2, weekly_quota=20)
    [item] = make_items(project, 1)
    assert item.queue == queue
    held = next_item(expert=expert, queue=queue)
    submit_label(expert=expert, item=held, rubric=rubric, answers={"correct": False, "helpful": 2})
    flag_item(expert=expert, item=item, note=note)
    comment_on_item(author=expert, item=item, body=comment)
    return item
