"""The Markdown export of a weekly report: figures with their counts, decisions, untrusted text made inert."""

import copy

from labeling.reports import md_text, report_markdown

HOSTILE_OUTPUT = '<script>alert("x")</script> **Refund** [click](http://evil.example) `rm -rf` | cell'


def sample_report(**overrides) -> dict:
    """A report dict in the format of cycles.build_report (see /work/briefs/cycles.md)."""
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


DECISIONS = [
    {"text": "Add the refund policy to the context", "owner": "Priya", "due_date": "2026-11-30", "item_id": None},
    {"text": "Re-label <b>tone</b> with the new guideline", "owner": "", "due_date": None, "item_id": 502},
]


def test_the_export_has_the_headline_figures_with_counts_and_changes():
    text = report_markdown(sample_report(), DECISIONS)
    assert text.startswith("# Support bot: weekly review 2026-W47\n")
    assert "Closed; figures frozen" in text
    assert "| Pass rate (correct) | 82.0% (41 of 50 items; 95% interval 69.5% – 90.2%) | 75.0% | +7.0 pts |" in text
    assert "| Agreement, Krippendorff's α (correct) | 0.712 (30 items) | 0.650 | +0.062 |" in text
    assert "| Labels done | 120 of 150 wanted (50 items; quota 50 items) | 100 | +20 |" in text
    assert "pass: 60.0% (6 of 10 users); fail: 30.0% (3 of 10 users); all: 45.0% (9 of 20 users)" in text
    assert "| Week 1 | 45.0% (9 of 20 users) | 60.0% (6 of 10 users) | 30.0% (3 of 10 users) |" in text
    assert "| tone | nominal | 0.412 | 0.405 | — | 28 | 57 | 3 |" in text
    assert "friendly 60.0% (30), curt 40.0% (20)" in text
    assert "| refunds | 50.0% | 80.0% | -30.0 pts | 10 / 12 |" in text


def test_decisions_are_listed_in_order_with_owner_and_due_date():
    text = report_markdown(sample_report(), DECISIONS)
    decisions = text.split("## Decisions\n")[1]
    assert decisions.index("Add the refund policy") < decisions.index("Re-label")
    assert "- Add the refund policy to the context (owner: Priya; due 2026-11-30)" in decisions
    assert "- Re-label \\<b\\>tone\\</b\\> with the new guideline (item 502)" in decisions
    assert "No decisions recorded." in report_markdown(sample_report(), [])


def test_ai_output_excerpts_are_inert_text():
    text = report_markdown(sample_report(), [])
    line = next(line for line in text.splitlines() if line.startswith("- Item 501"))
    assert "<script>" not in text
    assert '\\<script\\>alert\\("x"\\)\\</script\\>' in line
    assert "\\*\\*Refund\\*\\*" in line and "\\[click\\]\\(http://evil.example\\)" in line
    assert "\\`rm -rf\\`" in line and "\\| cell" in line
    assert "- Item 502 (billing), flagged by erin: Promises a refund we do not offer." in text
    assert "  - lena: Agreed, see policy 4.2" in text


def test_md_text_flattens_lines_and_escapes_markup():
    assert md_text("a\n\n# b\r\n| c") == "a \\# b \\| c"
    assert md_text(None) == ""
    assert md_text("<img src=x onerror=alert(1)>") == "\\<img src=x onerror=alert\\(1\\)\\>"


def test_an_open_week_says_its_figures_are_provisional_and_missing_parts_say_so():
    report = sample_report(status="open", quality=[], agreement=[], pass_rate_trend=[])
    report["headline"] = {"pass_rate": None, "alpha": None, "labels": None, "retention_week1": None}
    report["retention"] = {"cohorts": [], "curves": {"all": [], "pass": [], "fail": []}}
    report["agenda"] = {"adjudication": [], "flags": [], "movers": []}
    report["throughput"] = {"queues": [], "experts": []}
    text = report_markdown(copy.deepcopy(report), [])
    assert "Open: live, provisional figures" in text
    for note in ("No figures yet.", "No pass rate yet.", "No agreement figures yet", "No retention figures yet.",
                 "Nothing waits for a decision.", "No open flags.", "No labels yet."):  # fmt: skip
        assert note in text
