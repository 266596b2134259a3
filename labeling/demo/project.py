"""The demo project: rubric, guidelines, queues and members of `support-bot`, as a `create_project` spec."""

from datetime import datetime, timedelta
from typing import Any

from django.db.models import F, Value
from django.db.models.functions import Least

from labeling.models import (
    AuditEvent,
    Dataset,
    Membership,
    Output,
    Project,
    Queue,
    RedactionRuleSet,
    Rubric,
    WebhookEndpoint,
)

from .conversation import GPT_NEXT
from .shop import POLICY, SHOP

SLUG = "support-bot"

# username → (role in the project, demo password). Fixed on purpose: the demo is local-only and the
# printed table must stay true across re-runs.
MEMBERS: dict[str, tuple[str, str]] = {
    "expert1": ("expert", "expert1-demo"),
    "expert2": ("expert", "expert2-demo"),
    "lead": ("lead", "lead-demo"),
    "engineer": ("engineer", "engineer-demo"),
}
ADMIN = ("admin", "admin-demo")

QUESTIONS: list[dict[str, Any]] = [
    {
        "key": "correct",
        "kind": "binary",
        "prompt": "Is the answer factually correct and complete?",
        "help": "Check it against the policy cheat sheet and the order data in the context panel.",
    },
    {
        "key": "helpfulness",
        "kind": "rating",
        "scale": [1, 5],
        "prompt": "How helpful is the answer to this customer?",
        "help": "1 = useless or harmful · 3 = answers, but the customer has to work for it · 5 = nothing to add.",
    },
    {
        "key": "tone",
        "kind": "choice",
        "options": ["friendly", "neutral", "curt", "rude"],
        "prompt": "How does the answer sound?",
    },
    {
        "key": "issues",
        "kind": "multi_choice",
        "options": ["wrong_policy", "hallucinated_order_data", "evasive", "missing_escalation", "too_long"],
        "prompt": "Which problems does the answer have?",
        "required": False,
        "help": "Pick every one that applies; leave empty when there is none.",
    },
    {
        "key": "critique",
        "kind": "text",
        "prompt": "What is wrong or missing, in a sentence or two?",
        "required": False,
    },
    {
        "key": "corrected_answer",
        "kind": "correction",
        "prompt": "Rewrite the answer as you would send it to the customer.",
        "required": False,
        "help": "Only when the answer is not correct or not helpful enough. Keep the customer's language.",
    },
]

GUIDELINES = f"""\
# Reviewing the {SHOP} support bot

The bot answers customers in the shop's chat widget (web and app). It can look up orders and returns
(you see what it looked up in the **context** panel) and search the help centre. Every week we ask
you, the people who answer these questions for a living, to judge a sample of its answers. Your
labels decide what we fix next and become the test set the bot must pass before each release.

Judge the **last assistant message** only, as if you were the customer who wrote the last user
message. Earlier turns are there for context. Take about a minute per item; if you cannot decide,
skip it or flag it for the weekly meeting with a note — a flag is more useful than a guess.

## Correct
An answer is *correct* when every fact in it matches the policy below and the order data in the
context, and it answers what was asked. A friendly answer with one wrong date is **not** correct.
If the bot states order details (dates, amounts, tracking numbers) that are not in the context, it
made them up: mark it incorrect and tick `hallucinated_order_data`, even if they sound plausible.

## Helpfulness (1–5)
5 means you would send it unchanged. 3 means it is right but the customer still has to dig (a link
instead of the two steps they need). 1 means it does not help or sends the customer the wrong way.

## Escalation
Some cases must go to a person: damaged or wrong items, parcels without tracking movement for
{POLICY.lost_parcel_days} days, two posted charges for one order, and anything that looks like
someone else using the customer's account. The bot should say it is handing over and what happens
next. An otherwise fine answer that keeps such a case to itself gets `missing_escalation`.

## Policy cheat sheet
Amounts are the same number in every currency we sell in ($, CA$, £, €).

- **Returns:** {POLICY.return_days} days from delivery, unused with tags. Return label
  {POLICY.return_fee} deducted from the refund, free for faulty or wrong items. Size exchanges are
  free. Final sale: gift cards, personalised items, opened socks and underwear.
- **Refunds:** to the original payment method, {POLICY.refund_days} business days after the
  warehouse receives the return.
- **Shipping:** standard {POLICY.standard_days} business days ({POLICY.standard_fee}, free from
  {POLICY.free_shipping_from}); express {POLICY.express_days} business days ({POLICY.express_fee}).
  Orders before 2 pm ship the same day. Addresses can be changed in *My orders* until the order ships.
- **Billing:** a card hold (pending) disappears within {POLICY.hold_days} business days. Price drops
  are refunded within {POLICY.price_match_days} days of purchase. Promo codes cannot be added
  after checkout. Invoices: *My orders → Invoice*.
- **Account:** reset links last {POLICY.reset_minutes} minutes; {POLICY.lockout_attempts} failed
  sign-ins lock the account for {POLICY.lockout_minutes} minutes; deletion under *Settings → Privacy*,
  completed within {POLICY.deletion_days} days.

## Corrected answer
Write one when the answer is wrong or unhelpful: it is the most valuable thing you give us, because
engineers train and test on it. Short beats complete; never promise what the policy does not allow.
"""

# Rubric v2, published two weeks ago: reviewers rarely agreed on a 2 against a 1 or a 4 against a 5, so the team asks
# helpfulness on three points. The dashboard's helpfulness trend starts a new line at that week (a 2 of three is not
# a 2 of five); everything else is asked as before.
RESCALED_WEEKS_AGO = 2
HELPFULNESS_ON_THREE_POINTS = {
    "key": "helpfulness",
    "kind": "rating",
    "scale": [1, 3],
    "prompt": "How helpful is the answer to this customer?",
    "help": "1 = useless or sends the customer the wrong way · 2 = answers, but the customer has to work for it · "
    "3 = nothing to add.",
}
QUESTIONS_V2 = [HELPFULNESS_ON_THREE_POINTS if question["key"] == "helpfulness" else question for question in QUESTIONS]
GUIDELINES_V2 = GUIDELINES.replace(
    """## Helpfulness (1–5)
5 means you would send it unchanged. 3 means it is right but the customer still has to dig (a link
instead of the two steps they need). 1 means it does not help or sends the customer the wrong way.""",
    """## Helpfulness (1–3, since rubric v2)
3 means you would send it unchanged. 2 means it is right but the customer still has to dig (a link
instead of the two steps they need). 1 means it does not help or sends the customer the wrong way.
(Until v2 this was a 1–5 scale; we rarely agreed on a 4 against a 5, so the in-between points went.)""",
)

# Explore views the lead saved: what the GPT upgrade started promising, and the unhappy customers' words.
SAVED_VIEWS = [
    ("Refund date promises", f'q="refund will arrive by"&model={GPT_NEXT}'),
    ("Thumbs down with a comment", "feedback=down&comment=yes"),
]

QUEUES: list[dict[str, Any]] = [
    {
        "slug": "thumbs-down",
        "name": "Thumbs down",
        "description": "Every answer a customer rated down: the fastest way to find what hurts.",
        "rule": {"feedback_scores": [-1]},
        "overlap": 1,
        "priority": 10,
    },
    {
        "slug": "refunds",
        "name": "Returns and refunds",
        "description": "The returns conversations, where wrong policy costs money.",
        "rule": {"metadata": {"topic": "returns"}},
        "sample_rate": 0.3,
        "weekly_quota": 20,
        "overlap": 1,
        "priority": 5,
    },
    {
        "slug": "weekly-sample",
        "name": "Weekly sample",
        "description": "A steady sample of every answer: the week's quality figures and the experts' agreement.",
        "sample_rate": 0.12,
        "weekly_quota": 40,
        "overlap": 2,
    },
]


RETENTION_REFERENCE = "week 1: 45%, week 2: 35%, week 4: 25%, week 8: 18%"
RETENTION_REFERENCE_SOURCE = "Target set at the Q3 planning (illustrative demo figures, not a published benchmark)"


def project_spec() -> dict[str, Any]:
    """The `create_project` spec of the demo project."""
    return {
        "slug": SLUG,
        "name": "Support bot for an online shop",
        "description": f"The chat assistant of {SHOP}, an online shop for home goods and outdoor clothing.",
        "time_zone": "UTC",
        "cycle_weekday": "monday",
        # Raw transcripts no one labeled are deleted after a year (README "Personal data"); the demo's
        # history is younger, so nothing of it goes.
        "raw_retention_days": 365,
        # What the team expects of a shop's support chat: the meeting compares each cohort's week 1 with it.
        "retention_reference": RETENTION_REFERENCE,
        "retention_reference_source": RETENTION_REFERENCE_SOURCE,
        "rubric": {"questions": QUESTIONS, "guidelines": GUIDELINES},
        "queues": QUEUES,
        "members": [
            {"username": username, "role": role, "email": f"{username}@example.com"}
            for username, (role, _) in MEMBERS.items()
        ],
    }


DATASETS: list[dict[str, Any]] = [
    {
        "name": "Support answers",
        "description": "Every resolved answer of the weekly sample and the refunds queue: the main eval set.",
        "queues": ["weekly-sample", "refunds"],
        "splits": {"train": 80, "test": 20},
    },
    {
        "name": "Thumbs-down regressions",
        "description": "Answers customers rated down, with the experts' verdicts: a regression suite.",
        "queues": ["thumbs-down"],
        "splits": {"test": 100},
    },
]

LEAD_USERNAME = "lead"
ENGINEER_USERNAME = "engineer"

# What the meeting three weeks ago decided, and the lead did the next Monday morning by publishing rubric v2
# (seed._publish_rubric_v2).
RESCALE_DECISION = (
    "Ask `helpfulness` on 1-3 instead of 1-5: we rarely agree on a 4 against a 5. Publish rubric v2 and say so in "
    "the guidelines."
)

# What the last weekly meeting decided: (text, owner, due in days from the start of this week).
DECISIONS: list[tuple[str, str, int]] = [
    (
        "Refund answers quote the 14-day window; the policy is 30 days since March. Update the retrieval "
        "snippets and add the refunds queue's failures to the regression dataset.",
        "engineer",
        4,
    ),
    (
        "Guidelines: an answer that is correct but evasive about delivery dates fails `correct`. Publish "
        "rubric v3 with that example.",
        "lead",
        2,
    ),
    ("Review the thumbs-down queue twice a week until the rude-tone rate is back under 2%.", "expert1", 7),
]

# What a team sets up when it adopts expertloop (date_back_to_adoption): the audit log tells it at that moment.
SET_UP_ACTIONS = ("project.created", "redaction.rules_saved", "queue.backfilled", "dataset.created", "webhook.created")


def date_back_to_adoption(project: Project, adopted: datetime) -> None:
    """The team adopted expertloop at `adopted`, not when the demo was seeded: the project was made with its members,
    its rubric v1 published and the rest of its set-up done then (redaction rules, queues and their backfills,
    datasets, the Slack endpoint), as their rows and the audit log say (history sent before it keeps its own dates).
    Called once that set-up is done, before the first week closes: what the team did later keeps its own moment."""
    Project.objects.filter(pk=project.pk).update(created_at=adopted)
    Rubric.objects.filter(project=project, version=1).update(created_at=adopted)
    for model in (Membership, RedactionRuleSet, Queue, Dataset, WebhookEndpoint):
        model.objects.filter(project=project).update(created_at=adopted)
    set_up = AuditEvent.objects.filter(project=project)
    set_up.filter(action__in=SET_UP_ACTIONS).update(at=adopted)
    set_up.filter(action="rubric.published", details__version=1).update(at=adopted)


# How long after an answer its reader rated it (date_ratings_as_read).
RATED_AFTER = timedelta(minutes=2)


def date_ratings_as_read(project: Project, now: datetime) -> None:
    """The customers (the analysts) rated each answer as they read it, minutes after it, not when the demo sent its
    history, ratings and all, in one go: the older ones before the team adopted expertloop. Never after `now`."""
    rated = Output.objects.filter(project=project, feedback_at__isnull=False)
    rated.update(feedback_at=Least(F("occurred_at") + RATED_AFTER, Value(now)))
