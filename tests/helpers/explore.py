"""A small shop whose outputs every explore filter can tell apart, made through the real services, and its twin.

`build_shop(slug)` returns `Shop(project, ids)`, `ids` mapping a name to an output's pk. Times are in November
2026 in New York (UTC-5), where "a" is the last minute of the 9th and "b" the first of the 10th.

name   model        tags               metadata                                    feedback  session user   queue
a      gpt-4o       billing, urgent    topic billing, latency_ms 120, vip, "0"     down+c.   s1      alice  triage
b      gpt-4o       billing            topic billing, latency_ms 80, vip false     up        s1      alice
c      gpt-4o-mini  shipping, urgent   topic shipping, latency_ms "120"            neutral+c s2      bob    triage
d      (none)       —                  —                                           —         —       —
e      gpt-4o-mini  Billing            topic Billing, "0": 0                       —         s2      carol
g1     gpt-4o-mini  shipping           topic shipping                              —         s3      dave   sample
over   (as g1)                                                                                             sample
g2     (as g1, a day later; flagged)                                                                       sample
tie    (as g1, two days later)                                                                             sample
fixed  (as tie)                                                                                            sample

Gold (rubric tests.helpers.rubrics.QUESTIONS): g1 correct, helpful 4, friendly; over the same but a lead
adjudicated correct=false; g2 incorrect, helpful 2; tie and fixed tie on correct (helpful 3), and a lead
decided fixed's as false.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth import get_user_model

from labeling.models import Item, Membership, OutboxMessage, Project
from labeling.services.labels import flag_item
from labeling.services.queues import QueueValues, create_queue
from labeling.services.resolution import adjudicate
from labeling.services.routing import route_outputs
from tests.factories import OutputFactory, ProjectFactory, UserFactory
from tests.helpers.labeling import TIE, label_outputs

TIME_ZONE = "America/New_York"


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


PLAIN = {
    "a": {
        "occurred_at": utc(10, 4, 59),
        "model": "gpt-4o",
        "tags": ["billing", "urgent"],
        "metadata": {"topic": "billing", "latency_ms": 120, "vip": True, "0": "zero"},
        "feedback_score": -1,
        "feedback_comment": "Wrong refund date",
        "session_id": "s1",
        "end_user_id": "alice",
        "output": "Your refund arrives on 14 March.",
    },
    "b": {
        "occurred_at": utc(10, 5, 0),
        "model": "gpt-4o",
        "tags": ["billing"],
        "metadata": {"topic": "billing", "latency_ms": 80, "vip": False},
        "feedback_score": 1,
        "session_id": "s1",
        "end_user_id": "alice",
        "output": [{"role": "assistant", "content": "Refunds take five working days."}],
    },
    "c": {
        "occurred_at": utc(11, 12),
        "model": "gpt-4o-mini",
        "tags": ["shipping", "urgent"],
        "metadata": {"topic": "shipping", "latency_ms": "120"},
        "feedback_score": 0,
        "feedback_comment": "fine",
        "session_id": "s2",
        "end_user_id": "bob",
        "output": {"answer": "Parcel ORD-48213 ships today.", "sources": [1, 2]},
    },
    "d": {"occurred_at": utc(12, 12), "model": "", "tags": [], "metadata": {}, "end_user_id": "", "output": "OK"},
    "e": {
        "occurred_at": utc(12, 18),
        "model": "gpt-4o-mini",
        "tags": ["Billing"],
        "metadata": {"0": 0, "topic": "Billing"},
        "session_id": "s2",
        "end_user_id": "carol",
        "output": "Your billing address in Zürich is updated.",
    },
}
LABELED = ("g1", "over", "g2", "tie", "fixed")
NAMES = (*PLAIN, *LABELED)
RIGHT = {"correct": True, "helpful": 4, "tone": "friendly"}
WRONG = {"correct": False, "helpful": 2}


@dataclass
class Shop:
    project: Project
    ids: dict[str, int]
    items: dict[str, Item]

    def names(self, output_ids) -> set[str]:
        """The names of these outputs; another project's output shows as `foreign:<pk>`."""
        by_pk = {pk: name for name, pk in self.ids.items()}
        return {by_pk.get(pk, f"foreign:{pk}") for pk in output_ids}


def build_shop(slug: str) -> Shop:
    """Make the shop (see the module's docstring) in a new project with this slug."""
    project = ProjectFactory(slug=slug, time_zone=TIME_ZONE)
    lead = UserFactory(username="explore-lead")
    Membership.objects.get_or_create(project=project, user=lead, defaults={"role": "lead"})
    create_queue(project=project, values=QueueValues(slug="triage", name="Triage", rule={"tags_any": ["urgent"]}))
    plain = {name: OutputFactory(project=project, external_id=name, **fields) for name, fields in PLAIN.items()}
    route_outputs(project_id=project.pk, output_ids=[output.pk for output in plain.values()])
    common = {"session_id": "s3", "end_user_id": "dave"}
    labeled = label_outputs(project, 2, answers=(RIGHT, RIGHT), start=100, occurred_at=utc(13, 12), **common)
    labeled += label_outputs(project, answers=(WRONG, WRONG), start=102, occurred_at=utc(14, 12), **common)
    labeled += label_outputs(project, 2, answers=TIE, start=103, occurred_at=utc(15, 12), **common)
    items = dict(zip(LABELED, labeled, strict=True))
    expert = get_user_model().objects.get(username="lab0")
    flag_item(expert=expert, item=items["g2"], note="Says the wrong day.")
    for name in ("over", "fixed"):
        adjudicate(lead=lead, item=items[name], answers={"correct": False})
    ids = {name: output.pk for name, output in plain.items()} | {name: item.output_id for name, item in items.items()}
    return Shop(project, ids, items)


def delete_shops(*shops: Shop) -> None:
    """Remove what build_shop made outside a test's transaction (a module's shared data)."""
    for shop in shops:
        shop.project.delete()
    get_user_model().objects.filter(username__in=["explore-lead", "lab0", "lab1"]).delete()
    OutboxMessage.objects.all().delete()
