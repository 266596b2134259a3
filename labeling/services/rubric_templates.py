"""The first rubric of a new project: a few templates a lead starts from, or one question from scratch.

Data only, so the new-project page can show each template's questions and the service can publish them.
Every template must pass `rubrics.validate_questions` (a test checks each one).
"""

from dataclasses import dataclass, field

from labeling.exceptions import InvalidSpec

SCRATCH = "scratch"


@dataclass(frozen=True)
class RubricTemplate:
    key: str
    title: str
    summary: str
    questions: list[dict] = field(default_factory=list)
    guidelines: str = ""


TEMPLATES: tuple[RubricTemplate, ...] = (
    RubricTemplate(
        key="answer-quality",
        title="Answer quality",
        summary="A pass/fail verdict on an assistant's answer, how helpful it is, and a comment.",
        questions=[
            {
                "key": "correct",
                "kind": "binary",
                "prompt": "Is the answer correct and safe to act on?",
                "help": "Yes only if you would let the person asking act on it as written.",
            },
            {
                "key": "helpful",
                "kind": "rating",
                "prompt": "How helpful is it to the person who asked?",
                "scale": [1, 5],
                "help": "1: no help at all. 3: useful, but they need to ask again. 5: fully answers the question.",
            },
            {
                "key": "comment",
                "kind": "text",
                "prompt": "What is wrong or missing?",
                "required": False,
                "help": "One or two sentences; the weekly meeting reads these.",
            },
        ],
        guidelines=(
            "# Answer quality\n\n"
            "Judge the answer as the person who asked would receive it.\n\n"
            "- **Correct** means every fact and step is right for this question. A right answer to another "
            "question is *not* correct.\n"
            "- Rate **helpful** on its own: a correct but evasive answer may still score 2.\n"
            "- When unsure whether something is true, flag the item (`f`) instead of guessing.\n"
        ),
    ),
    RubricTemplate(
        key="support-reply",
        title="Support reply",
        summary="Would a customer-support reply resolve the case, within policy, in the right tone?",
        questions=[
            {
                "key": "resolved",
                "kind": "binary",
                "prompt": "Would this reply resolve the customer's issue without another contact?",
            },
            {
                "key": "within_policy",
                "kind": "binary",
                "prompt": "Does it keep to our policies (refunds, returns, privacy)?",
                "help": "No if it promises anything the policy does not allow, or a date nobody can know.",
            },
            {
                "key": "tone",
                "kind": "choice",
                "prompt": "How does it sound?",
                "options": ["warm", "neutral", "curt", "rude"],
            },
            {
                "key": "issues",
                "kind": "multi_choice",
                "prompt": "Which problems does it have?",
                "options": [
                    "wrong facts",
                    "made-up promise",
                    "ignores the question",
                    "asks for data it should not",
                    "too long",
                ],
                "required": False,
            },
            {
                "key": "better_reply",
                "kind": "correction",
                "prompt": "The reply you would have sent",
                "required": False,
                "help": "Only when the reply fails; engineers use these as examples.",
            },
        ],
        guidelines=(
            "# Support replies\n\n"
            "Read the whole conversation first: a reply is judged against what the customer asked last.\n\n"
            "- **Resolved**: the customer could stop here. Pointing to the right form or page counts.\n"
            "- **Within policy**: check refunds, returns and personal data against the policy pages.\n"
            "- Write a better reply only when this one fails, in the voice you would use with a customer.\n"
        ),
    ),
    RubricTemplate(
        key="summary-faithfulness",
        title="Summary faithfulness",
        summary="Does a summary say only what its source says, and cover what matters?",
        questions=[
            {
                "key": "faithful",
                "kind": "binary",
                "prompt": "Is every claim in the summary supported by the source?",
                "help": "One unsupported claim is enough for No.",
            },
            {
                "key": "coverage",
                "kind": "rating",
                "prompt": "How well does it cover the source's main points?",
                "scale": [1, 5],
                "help": "1: misses the point. 5: nothing important is left out.",
            },
            {
                "key": "unsupported",
                "kind": "multi_choice",
                "prompt": "What kind of errors does it make?",
                "options": [
                    "invented fact",
                    "wrong number or date",
                    "wrong attribution",
                    "overstated certainty",
                    "missing key point",
                ],
                "required": False,
            },
            {"key": "note", "kind": "text", "prompt": "Quote the claim that is not supported", "required": False},
        ],
        guidelines=(
            "# Summary faithfulness\n\n"
            "The source is in the context beside the output. Check each sentence of the summary against it.\n\n"
            "- **Faithful** is strict: a claim the source does not make fails the summary, even if it is true.\n"
            "- **Coverage** is about what a reader of the source would miss, not about length.\n"
        ),
    ),
    RubricTemplate(
        key="sql-correctness",
        title="SQL correctness",
        summary="Does a generated query answer the question, run, and avoid the usual mistakes?",
        questions=[
            {
                "key": "correct",
                "kind": "binary",
                "prompt": "Does the query return what the question asks for?",
                "help": "Think of the rows and columns it returns, not of how it is written.",
            },
            {"key": "runs", "kind": "binary", "prompt": "Does it run without errors on the schema given?"},
            {
                "key": "problems",
                "kind": "multi_choice",
                "prompt": "Which problems does it have?",
                "options": [
                    "wrong table or column",
                    "wrong join",
                    "wrong filter",
                    "wrong aggregation or grouping",
                    "missing order or limit",
                    "slow or unsafe",
                ],
                "required": False,
            },
            {"key": "fixed_sql", "kind": "correction", "prompt": "The corrected query", "required": False},
        ],
        guidelines=(
            "# SQL correctness\n\n"
            "The question and the schema are in the input and context.\n\n"
            "- **Correct**: the result set answers the question, including NULLs, duplicates and time zones.\n"
            "- **Slow or unsafe**: a full scan of a large table, a missing `WHERE` on `UPDATE`/`DELETE`.\n"
            "- Write the corrected query in the same dialect.\n"
        ),
    ),
)

# From scratch: one pass/fail verdict, which the lead then edits on the rubric page.
SCRATCH_QUESTIONS = [{"key": "verdict", "kind": "binary", "prompt": "Does the output pass?"}]

BY_KEY = {template.key: template for template in TEMPLATES}


def first_rubric(template: str) -> dict:
    """The rubric part of a project spec: a template's questions and guidelines, or the scratch question."""
    if template == SCRATCH:
        return {"questions": [dict(question) for question in SCRATCH_QUESTIONS], "guidelines": ""}
    chosen = BY_KEY.get(template)
    if chosen is None:
        raise InvalidSpec(f"No rubric template {template!r}: choose one of {', '.join([*BY_KEY, SCRATCH])}.")
    return {"questions": [dict(question) for question in chosen.questions], "guidelines": chosen.guidelines}
