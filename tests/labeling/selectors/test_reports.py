"""The Markdown export of a weekly report: figures with their counts, decisions, untrusted text made inert."""

import copy

from labeling.metrics.agreement import MIN_GOLD_ITEMS
from labeling.reports import md_text, report_markdown
from tests.helpers.reports import sample_report

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


def test_an_agreement_over_too_few_items_is_no_figure_in_the_export():
    report = sample_report()
    report["headline"]["alpha"] |= {"value": 1.0, "units": 2, "change": None}
    report["agreement"][0] |= {"units": 2, "labels": 4}

    text = report_markdown(report, [])

    assert "| Agreement, Krippendorff's α (correct) | — (2 items: too few for an agreement figure) |" in text
    assert "| correct | nominal | — | — | — | 2 (too few) | 4 | 3 |" in text


def test_an_experts_agreement_with_the_gold_over_too_few_items_is_no_figure_in_the_export():
    """The experts' table gives a rate over enough items with the answers it counts, and none over too few (the
    report's row flags it, as the metrics API does), saying why in the sentence the agreement figures use."""
    report = sample_report()
    enough, too_few = report["throughput"]["experts"][0], {
        "expert": "ezra", "labels": 2, "skips": 0, "flags": 0, "median_seconds": 30.0, "gold_rate": 1.0,
        "gold_compared": 4, "gold_items": 2, "too_few_items": True,
    }  # fmt: skip
    report["throughput"]["experts"] = [enough | {"gold_items": 30}, too_few]

    text = report_markdown(report, [])

    assert "| erin | 70 | 2 | 1 | 38 s | 90.0% of 60 |" in text
    assert (
        f"| ezra | 2 | 0 | 0 | 30 s | 2 items: too few for a gold agreement figure ({MIN_GOLD_ITEMS} needed) |" in text
    )


def test_last_weeks_agreement_over_too_few_items_is_no_figure_in_the_export_either():
    report = sample_report()
    previous = {"previous": 0.0, "change": None, "too_few_to_compare": True, "previous_units": 1}
    report["headline"]["alpha"] |= {"value": 0.7, "units": 30} | previous

    text = report_markdown(report, [])

    line = next(line for line in text.splitlines() if line.startswith("| Agreement, Krippendorff's α"))
    assert "| 0.700 (30 items) | — | too few items to compare (30 this week, 1 last week) |" in line


def test_a_pass_rate_over_one_item_says_item_in_the_singular():
    report = sample_report()
    report["headline"]["pass_rate"] |= {"value": 1.0, "passes": 1, "n": 1, "ci_low": 0.21, "ci_high": 1.0}

    assert "| Pass rate (correct) | 100.0% (1 of 1 item; 95% interval 21.0% – 100.0%) |" in report_markdown(report, [])


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
    assert "Open: provisional figures as of" in text  # no `freshness`: a report without a computation record
    for note in ("No figures yet.", "No pass rate yet.", "No agreement figures yet", "No retention figures yet.",
                 "Nothing waits for a decision.", "No open flags.", "No labels yet."):  # fmt: skip
        assert note in text


def test_carried_decisions_come_first_inert_and_a_report_without_them_reads_byte_for_byte_as_before():
    carried = {"id": 7, "week": "2026-W45", "text": "Fix <script>", "owner": "", "due_date": "2026-11-20",
               "item_id": 502, "created_by": None, "created_at": "2026-11-05T10:00Z", "overdue": True}  # fmt: skip
    text = report_markdown(sample_report(carried_decisions=[carried]), DECISIONS)

    decisions = text.split("## Decisions\n")[1]
    assert "- Fix \\<script\\> (decided in 2026-W45; due 2026-11-20, overdue; item 502)" in decisions
    assert decisions.index("Fix") < decisions.index("### Decided in 2026-W47") < decisions.index("Add the refund")
    for decided in (DECISIONS, []):
        assert report_markdown(sample_report(carried_decisions=[]), decided) == report_markdown(
            sample_report(), decided
        )
