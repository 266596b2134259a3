"""The team around the demo: a second project the lead runs, and an invitation waiting to be accepted.

So the lead's screens have something to show: two projects on the home page, a pending invitation on the
members page (its email printed to the console, as the demo sends mail), another project's keys and settings.
Written through the same services the pages use.
"""

import random
from datetime import datetime, timedelta
from typing import Any

import msgspec
from django.contrib.auth import get_user_model
from django.utils import timezone

from labeling.models import Project, Queue
from labeling.rules.calendar import cycle_week, week_start
from labeling.services.ingest import ingest_outputs
from labeling.services.invitations import invite_member
from labeling.services.projects import create_project
from labeling.services.routing import backfill_queue
from labeling.services.rubric_templates import BY_KEY
from labeling.services.search_index import index_outputs

from .project import LEAD_USERNAME

SQL_SLUG = "sql-assistant"
INVITED_EMAIL = "dana@example.com"  # a new support agent, invited to `support-bot` as an expert

# (question, a right query, a wrong one: what the assistant answers when it gets it wrong)
QUESTIONS = [
    (
        "How many orders were placed last week?",
        "SELECT count(*) FROM orders WHERE placed_at >= date_trunc('week', now()) - interval '1 week'\n"
        "  AND placed_at < date_trunc('week', now());",
        "SELECT count(*) FROM orders WHERE placed_at > now() - interval '7 days';",
    ),
    (
        "Top 5 customers by revenue this year",
        "SELECT customer_id, sum(total) AS revenue FROM orders\n"
        "WHERE placed_at >= date_trunc('year', now()) GROUP BY customer_id ORDER BY revenue DESC LIMIT 5;",
        "SELECT customer_id, total FROM orders ORDER BY total DESC LIMIT 5;",
    ),
    (
        "Which products were never ordered?",
        "SELECT p.id, p.name FROM products p\n"
        "WHERE NOT EXISTS (SELECT 1 FROM order_lines l WHERE l.product_id = p.id);",
        "SELECT p.id, p.name FROM products p JOIN order_lines l ON l.product_id = p.id WHERE l.quantity = 0;",
    ),
    (
        "Average delivery time per carrier in October",
        "SELECT carrier, avg(delivered_at - shipped_at) FROM shipments\n"
        "WHERE shipped_at >= '2026-10-01' AND shipped_at < '2026-11-01' GROUP BY carrier;",
        "SELECT carrier, avg(delivered_at - shipped_at) FROM shipments GROUP BY carrier;",
    ),
    (
        "Share of orders returned, by category",
        "SELECT p.category, avg((r.id IS NOT NULL)::int) FROM order_lines l JOIN products p ON p.id = l.product_id\n"
        "LEFT JOIN returns r ON r.order_line_id = l.id GROUP BY p.category;",
        "SELECT category, count(*) FROM returns GROUP BY category;",
    ),
]
ANALYSTS = 12
OUTPUTS = 60
WRONG_SHARE = 0.3


def sql_project_spec() -> dict[str, Any]:
    template = BY_KEY["sql-correctness"]
    return {
        "slug": SQL_SLUG,
        "name": "SQL assistant for analysts",
        "description": "Turns analysts' questions about the shop's orders into SQL. Young: a few weeks of use.",
        "time_zone": "Europe/Berlin",
        "cycle_weekday": "monday",
        "rubric": {"questions": template.questions, "guidelines": template.guidelines},
        "queues": [{"slug": "all-queries", "name": "All queries", "sample_rate": 1.0, "overlap": 1}],
        "members": [
            {"username": "engineer", "role": "engineer"},
            {"username": "expert2", "role": "expert"},
        ],
    }


def seed_team(*, support_bot: Project, now: datetime, seed: int) -> Project:
    """Create the second project with a few weeks of queries in its queue, and invite a new expert to the first.

    Runs inside the demo's seeding transaction (the invitation's email goes out when it commits)."""
    lead = get_user_model().objects.get(username=LEAD_USERNAME)
    project = create_project(spec=sql_project_spec(), created_by=lead)  # the lead who creates it leads it
    _ingest_queries(project, now=now, seed=seed)
    # As for the support bot: the history counts as routed and searchable now; only the last weeks are queued.
    project.outputs.update(routed_at=timezone.now())
    index_outputs(project_id=project.pk, output_ids=list(project.outputs.values_list("pk", flat=True)))
    since = week_start(project, cycle_week(project, now) - timedelta(weeks=2))
    backfill_queue(queue=Queue.objects.get(project=project, slug="all-queries"), since=since)
    invite_member(project=support_bot, email=INVITED_EMAIL, role="expert", invited_by=lead)
    return project


def _ingest_queries(project: Project, *, now: datetime, seed: int) -> None:
    draw = random.Random(seed)
    records = []
    for index in range(OUTPUTS):
        question, right, wrong = draw.choice(QUESTIONS)
        wrong_answer = draw.random() < WRONG_SHARE
        records.append(
            {
                "external_id": f"sql-{index:04d}",
                "input": question,
                "output": f"```sql\n{wrong if wrong_answer else right}\n```",
                "model": "gpt-4.1-2025-04-14",
                "end_user_id": f"analyst-{draw.randrange(ANALYSTS):02d}",
                "occurred_at": (now - timedelta(days=21) * (1 - index / OUTPUTS)).isoformat(),
                "metadata": {"feature": "sql-gen", "warehouse": "shop"},
                # Analysts rate one answer in five, and mostly the wrong ones.
                **({"feedback": {"score": -1}} if wrong_answer and draw.random() < 0.6 else {}),
            }
        )
    ingest_outputs(project=project, body=msgspec.json.encode({"outputs": records}))
