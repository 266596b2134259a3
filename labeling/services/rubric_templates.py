"""The first rubric and queues of a new project: a few templates a lead starts from, or one question from scratch.

Data only, so the new-project page can show each template's questions and queues, and the service can create
them. Every template must pass `rubrics.validate_questions` and its queues `services.projects.QueueSpec` (tests
check each one). The queues start a team's weekly routine: the outputs users rated down, all of them (they are
few and they hurt), and a weekly sample of everything, labeled twice so agreement can be measured.

A queue's description says what the queue is for, never its numbers: it is stored text, which would go on saying "one in
five" after a lead changed the sample rate. The pages show the numbers from the queue's settings.
"""

from copy import deepcopy
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
    # In the shape of a project spec's `queues` (services.projects.QueueSpec).
    queues: list[dict] = field(default_factory=list)


def thumbs_down_queue(description: str) -> dict:
    """Every output its user rated down, labeled once and served first."""
    return {
        "slug": "thumbs-down",
        "name": "Thumbs down",
        "description": description,
        "rule": {"feedback_scores": [-1]},
        "overlap": 1,
        "priority": 10,
    }


def weekly_sample_queue(description: str, *, sample_rate: float, weekly_quota: int) -> dict:
    """A deterministic sample of every output, up to a weekly quota, each labeled by two experts (agreement)."""
    return {
        "slug": "weekly-sample",
        "name": "Weekly sample",
        "description": description,
        "sample_rate": sample_rate,
        "weekly_quota": weekly_quota,
        "overlap": 2,
    }


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
        queues=[
            thumbs_down_queue("Every answer its user rated down: the fastest way to find what hurts."),
            weekly_sample_queue(
                "A steady sample of every answer: the week's quality figures and the experts' agreement.",
                sample_rate=0.2,
                weekly_quota=50,
            ),
        ],
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
        queues=[
            thumbs_down_queue("Every reply a customer rated down: the cases that cost goodwill."),
            {
                "slug": "complaints",
                "name": "Complaints with a comment",
                "description": "Replies a customer commented on, whatever the score: their words say what went wrong.",
                "rule": {"has_comment": True},
                "sample_rate": 0.5,
                "weekly_quota": 20,
                "overlap": 1,
                "priority": 5,
            },
            weekly_sample_queue(
                "A steady sample of every reply: the week's quality figures and the experts' agreement.",
                sample_rate=0.12,
                weekly_quota=40,
            ),
        ],
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
        queues=[
            thumbs_down_queue("Every summary its reader rated down."),
            weekly_sample_queue(
                "A steady sample of every summary: the week's quality figures and the experts' agreement.",
                sample_rate=0.1,
                weekly_quota=30,
            ),
        ],
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
        queues=[
            thumbs_down_queue("Every query its user rated down: often a wrong join or filter."),
            weekly_sample_queue(
                "A steady sample of every query: the week's quality figures and the experts' agreement.",
                sample_rate=0.2,
                weekly_quota=40,
            ),
        ],
    ),
)

# From scratch: one pass/fail verdict, which the lead then edits on the rubric page, and one queue to start with.
SCRATCH_QUESTIONS = [{"key": "verdict", "kind": "binary", "prompt": "Does the output pass?"}]
SCRATCH_QUEUES = [
    weekly_sample_queue(
        "A steady sample of every output: the week's quality figures and the experts' agreement.",
        sample_rate=0.2,
        weekly_quota=50,
    )
]

BY_KEY = {template.key: template for template in TEMPLATES}


def first_rubric(template: str) -> dict:
    """The rubric part of a project spec: a template's questions and guidelines, or the scratch question."""
    if template == SCRATCH:
        return {"questions": deepcopy(SCRATCH_QUESTIONS), "guidelines": ""}
    chosen = _template(template)
    return {"questions": deepcopy(chosen.questions), "guidelines": chosen.guidelines}


def starter_queues(template: str) -> list[dict]:
    """The queues part of a project spec: a template's starter queues (the scratch one for "from scratch")."""
    return deepcopy(SCRATCH_QUEUES if template == SCRATCH else _template(template).queues)


def _template(key: str) -> RubricTemplate:
    chosen = BY_KEY.get(key)
    if chosen is None:
        raise InvalidSpec(f"No rubric template {key!r}: choose one of {', '.join([*BY_KEY, SCRATCH])}.")
    return chosen
