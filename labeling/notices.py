"""What publishing a rubric version does to the figures, in words: the one wording of the notices the rubric page
flashes to the lead who publishes it (earlier answers no longer counted, the pass rate's question gone or switched)
and of the notice of a version published during a week, which the meeting page, the weekly report's Markdown and the
digest each write their own way (Markdown, HTML or plain text). Pure: rubrics and dicts in, sentences out.
"""

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING

from labeling.rules.gold import VerdictChange, dropped_options, verdict_change, verdict_question
from labeling.rules.text import isolated

if TYPE_CHECKING:
    from labeling.models import Rubric


def no_verdict_question(version: int) -> str:
    """That version `version` asks no yes/no question, which the pass rate reads: the one wording of the rubric page's
    warning and of a week's notices (`verdict_moved_text`, `rubric_published_text`, `verdict_change_clause`), each going
    on with what it means."""
    return f"v{version} has no pass/fail question any more (a yes/no question)"


def verdict_change_clause(version: int, change: str) -> str:
    """What version `version`, published in the running week, did to the pass rate's question (`change`, a
    `VerdictChange`), as a clause going on from "...its figures pool labels of two versions" (the project page's and
    the home page's notice); "" when it is asked alike or there is none."""
    if change == VerdictChange.CHANGED:
        return ", and the pass rate's question changed"
    if change == VerdictChange.DROPPED:
        return f", and {no_verdict_question(version)}: the pass rate has nothing to read"
    return ""


def plain(words: str) -> str:
    """Return words as they are: plain text has no bold (`rubric_published_text`'s `strong` for an e-mail)."""
    return words


def rubric_published_text(
    published: dict,
    *,
    zone: tzinfo | None = None,
    text: Callable[[object], str],
    strong: Callable[[str], str],
) -> tuple[str, str, list[str]]:
    """What a version published during a week (`selectors.rubrics.rubrics_published_data`) changed: who published it
    when ("Rubric v2 published Wed 18 Nov, 10:00 UTC by lena", in `zone`, else UTC), what it means for the week's
    figures, and a line per change. The one wording of the meeting page, the report's Markdown and the digest, each
    writing it its own way: `text` writes a person's words (a prompt, a name), `strong` a sentence the reader must not
    miss (the pass rate's question changed or gone) — `md_text` and `md_strong` for Markdown, `rules.text.isolated`
    and `plain` for plain text (the digest), the meeting page's HTML pair (`templatetags.expertloop`)."""
    try:
        moment = datetime.fromisoformat(published["published_at"]).astimezone(zone or UTC)
        when = f" {moment:%a} {moment.day} {moment:%b}, {moment:%H:%M} {moment.tzname() or ''}".rstrip()
    except (TypeError, ValueError):
        when = ""
    by = f" by {text(published['by'])}" if published.get("by") else ""
    version, since = published.get("version"), published.get("since")
    added, changed, dropped = (published.get(key) or [] for key in ("added", "changed", "dropped"))
    meaning = f"the week's labels answer v{since} before it and v{version} after it" + (
        ", so figures from before and after it read different questions."
        if added or changed or dropped
        else "; its questions are asked as before."
    )
    # The prompt is written only where it is said: a version with no pass/fail question ("none", "dropped") has none,
    # and `isolated` (the digest's `text`) takes a string.
    verdict_change = published.get("verdict_change")
    if verdict_change == "same":
        meaning += (
            f" The pass rate's question, “{text(published.get('verdict'))}”, is asked as before: its figure reads "
            "alike across the change."
        )
    elif verdict_change == "changed":
        meaning += " " + strong(
            f"The pass rate's question changed (now “{text(published.get('verdict'))}”): the pass rate before and "
            "after it reads different questions."
        )
    elif verdict_change == "dropped":
        meaning += " " + strong(f"{no_verdict_question(version)}: the pass rate has nothing to read after it.")
    changes = [
        *(f"New question: “{text(prompt)}”" for prompt in added),
        *(f"Asked on another scale or options: “{text(prompt)}”" for prompt in changed),
        *(f"No longer asked: “{text(prompt)}”" for prompt in dropped),
        *(["The guidelines changed."] if published.get("guidelines_changed") else []),
    ]
    return f"Rubric v{version} published{when}{by}", meaning, changes


def answers_lost_text(before: "Rubric", after: "Rubric", keys: list[str]) -> list[str]:
    """What publishing `after` over `before` does to the earlier answers of these keys (`asked_differently`): a question
    asked on another scale, options or kind loses them all; a multi-choice question that dropped options only those
    that ticked one of them (`dropped_options`). The warnings the rubric page flashes to the lead who published it."""
    earlier = {question["key"]: question for question in before.questions}
    dropped = {
        question["key"]: options
        for question in after.questions
        if question["key"] in keys and (options := dropped_options(question, earlier[question["key"]]))
    }
    whole = [key for key in keys if key not in dropped]
    remedy = "To keep comparing them, ask the new version under a new key."
    warnings = []
    if whole:
        warnings.append(
            f"v{after.version} asks {', '.join(whole)} on another scale, options or kind than v{before.version}: their "
            f"earlier answers no longer count toward them in gold answers and figures. {remedy}"
        )
    for key, options in dropped.items():
        named = ", ".join(f"“{isolated(option)}”" for option in options)
        which = "that option" if len(options) == 1 else "one of those options"
        warnings.append(
            f"v{after.version} no longer offers {named} for {key}: earlier answers to it that ticked {which} no longer "
            f"count toward it in gold answers and figures; those that did not still do. {remedy}"
        )
    return warnings


def verdict_moved_text(before: "Rubric | None", after: "Rubric") -> str | None:
    """What publishing `after` over `before` does to the pass rate, which reads the first yes/no question
    (`verdict_question`): none any more, or another question than before; None when it reads the same one (or had none
    to read). The warning the rubric page flashes to the lead who published it, beside `answers_lost_text`'s."""
    if before is None:
        return None
    change = verdict_change(before.questions, after.questions)
    verdict_before = (verdict_question(before.questions) or {}).get("key")
    verdict_now = (verdict_question(after.questions) or {}).get("key")
    if change == VerdictChange.DROPPED:
        return (
            f"{no_verdict_question(after.version)}: the pass rate on the meeting page and the dashboard, and the "
            f"datasets' verdict, read {verdict_before} until now and have nothing to read from here on."
        )
    if change == VerdictChange.CHANGED and verdict_before and verdict_now != verdict_before:
        # The pass rate follows the first yes/no question: a question put above it switches it unnoticed.
        return (
            f"v{after.version}'s verdict question (its first yes/no question: the pass rate on the meeting page and "
            f"the dashboard, and the datasets' verdict) is {verdict_now}, no longer {verdict_before}; a yes to it "
            "counts as a pass."
        )
    return None
