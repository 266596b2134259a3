"""The team around the demo: a second project the lead runs (its last weekly close failed), and an invitation
waiting to be accepted.

So the lead's screens have something to show: two projects on the home page, a pending invitation on the
members page (its email printed to the console, as the demo sends mail), another project's keys and settings.
Written through the same services the pages use.
"""

import random
from datetime import datetime, timedelta
from typing import Any

import msgspec
from django.contrib.auth import get_user_model
from django.db import connection

from labeling.models import OutboxMessage, Project, Queue
from labeling.rules.calendar import cycle_week, week_start
from labeling.services import cycles, otlp
from labeling.services.ingest import record_feedback
from labeling.services.invitations import invite_member
from labeling.services.projects import create_project
from labeling.services.routing import backfill_queue
from labeling.services.rubric_templates import BY_KEY
from labeling.services.search_index import index_outputs

from .closes import close_in_its_time, closed_at
from .project import LEAD_USERNAME, date_back_to_adoption, date_ratings_as_read

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
# How a close that ran out of time reads on each database, as the close sweep records it ("<exception>: <message>",
# services.cycles._record_and_log): the demo's failure reads as it would on the database it runs on.
FAILED_CLOSE_ERRORS = {
    "postgresql": "OperationalError: canceling statement due to statement timeout",
    "sqlite": "OperationalError: database is locked",
}
ANALYSTS = 12
OUTPUTS = 240  # over three weeks: the two weeks queued hold over 100 items waiting, so the week line says "100+"
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
    project.outputs.update(routed_at=now)
    index_outputs(project_id=project.pk, output_ids=list(project.outputs.values_list("pk", flat=True)))
    since = week_start(project, cycle_week(project, now) - timedelta(weeks=2))
    backfill_queue(queue=Queue.objects.get(project=project, slug="all-queries"), since=since)
    # Adopted then, as the support bot was its weeks before: the queries before it were sent with their dates.
    date_back_to_adoption(project, since)
    # Its first reviewed week closed; last week's close failed, recorded as the close sweep records a failure,
    # so the platform page and the meeting page have a failed close to show until a lead closes the week again.
    last_week = cycle_week(project, now) - timedelta(weeks=1)
    close_in_its_time(project=project, week=last_week - timedelta(weeks=1), closed_by=lead, now=now)
    tried_at = closed_at(project, last_week, now)  # when beat tried, as it closes every week
    cycles.record_failure(project=project, week=last_week, kind="close", error=failed_close_error(), now=tried_at)
    invite_member(project=support_bot, email=INVITED_EMAIL, role="expert", invited_by=lead)
    return project


def failed_close_error() -> str:
    """What the SQL assistant's failed close says went wrong, in the words of the database the demo runs on."""
    return FAILED_CLOSE_ERRORS.get(connection.vendor, FAILED_CLOSE_ERRORS["postgresql"])


def _ingest_queries(project: Project, *, now: datetime, seed: int) -> None:
    """The SQL assistant is instrumented with OpenTelemetry: its queries arrive as an OTLP export.

    Each question is an HTTP request span (ignored: not an LLM call) with a GenAI `chat` span inside it, which
    becomes an output through the same endpoint code a real exporter reaches; analysts' ratings come later, as
    late feedback on the `<trace id>:<span id>` external ids."""
    draw = random.Random(seed)
    spans, thumbs_down = [], []
    for index in range(OUTPUTS):
        question, right, wrong = draw.choice(QUESTIONS)
        wrong_answer = draw.random() < WRONG_SHARE
        trace_id, request_id, chat_id = draw.randbytes(16).hex(), draw.randbytes(8).hex(), draw.randbytes(8).hex()
        ended = now - timedelta(days=21) * (1 - index / OUTPUTS)
        took = timedelta(milliseconds=draw.randint(600, 2400))
        answer = f"```sql\n{wrong if wrong_answer else right}\n```"
        spans.append(_span(trace_id, request_id, "", "POST /ask", ended - took - timedelta(milliseconds=40), ended, {}))
        spans.append(
            _span(
                trace_id,
                chat_id,
                request_id,
                "chat gpt-4.1",
                ended - took,
                ended,
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4.1",
                    "gen_ai.response.model": "gpt-4.1-2025-04-14",
                    "gen_ai.input.messages": _messages("user", question),
                    "gen_ai.output.messages": _messages("assistant", answer),
                    "gen_ai.usage.input_tokens": 180 + len(question) // 4,
                    "gen_ai.usage.output_tokens": len(answer) // 4,
                    "user.id": f"analyst-{draw.randrange(ANALYSTS):02d}",
                    "feature": "sql-gen",
                    "warehouse": "shop",
                },
            )  # fmt: skip
        )
        # Analysts rate one answer in five, and mostly the wrong ones.
        if wrong_answer and draw.random() < 0.6:
            thumbs_down.append({"external_id": f"{trace_id}:{chat_id}", "score": -1})
    export = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": _attributes({"service.name": "sql-assistant", "deployment.environment": "prod"})
                },
                "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.openai"}, "spans": spans}],
            }
        ]
    }
    result = otlp.ingest_traces(project=project, body=msgspec.json.encode(export), encoding=otlp.JSON)
    if result.created != OUTPUTS or result.rejected:  # the demo's own spans must all be storable
        raise RuntimeError(f"The SQL assistant's demo spans were not all stored: {result}")
    record_feedback(project=project, body=msgspec.json.encode({"feedback": thumbs_down}))
    date_ratings_as_read(project, now)
    # The analysts rated each query as they read it, the older ones before the team adopted expertloop and made its
    # queue: that feedback was routed then, into no queue. Routed now, once the seed commits, it would pull those
    # queries into weeks that ended before the project (never closed, on no meeting); seed_team's backfill from the
    # adoption queues the rest, as for the support bot. The feedback's routing is the route_outputs messages that
    # re-evaluate this project's outputs (ingest._enqueue_routing's arguments: project id, output ids, reevaluate);
    # those of the ingest stay, and find the queries routed (seed_team).
    OutboxMessage.objects.pending().filter(task="labeling.route_outputs", args__0=project.pk, args__2=True).delete()


def _span(trace_id: str, span_id: str, parent_id: str, name: str, start: datetime, end: datetime, attributes):
    return {
        "traceId": trace_id, "spanId": span_id, "parentSpanId": parent_id, "name": name,
        "kind": 3 if attributes else 2,  # the model call is a CLIENT span inside the SERVER span of the request
        "startTimeUnixNano": str(int(start.timestamp() * 1e9)), "endTimeUnixNano": str(int(end.timestamp() * 1e9)),
        "attributes": _attributes(attributes), "status": {"code": 1},
    }  # fmt: skip


def _messages(role: str, text: str) -> str:
    return msgspec.json.encode([{"role": role, "parts": [{"type": "text", "content": text}]}]).decode()


def _attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    typed = {str: "stringValue", int: "intValue"}
    return [{"key": key, "value": {typed[type(value)]: value}} for key, value in values.items()]
