"""The getting-started checklist of a project's overview, for its leads: each step ticks itself from the data."""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef

from labeling.models import (
    CycleStatus,
    Invitation,
    Label,
    Membership,
    Output,
    Project,
    Queue,
    ReviewCycle,
    Role,
    Rubric,
)


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    done: bool


@dataclass(frozen=True)
class Checklist:
    steps: list[Step]

    @property
    def complete(self) -> bool:
        return all(step.done for step in self.steps)

    @property
    def done_count(self) -> int:
        return sum(step.done for step in self.steps)

    def is_done(self, key: str) -> bool:
        return next(step.done for step in self.steps if step.key == key)


def getting_started(project: Project) -> Checklist:
    """The project's first steps, in the order a team takes them, each done or not (one query)."""
    project_ref = OuterRef("pk")
    facts = {
        "output": ("First output received", Exists(Output.objects.filter(project=project_ref))),
        "rubric": ("Rubric published", Exists(Rubric.objects.filter(project=project_ref))),
        "queue": ("First queue", Exists(Queue.objects.filter(project=project_ref))),
        # An invitation not revoked (pending or accepted), or an expert added without one (the admin, a spec).
        "expert": (
            "First expert invited",
            Exists(Invitation.objects.filter(project=project_ref, role=Role.EXPERT, revoked_at__isnull=True))
            | Exists(Membership.objects.filter(project=project_ref, role=Role.EXPERT)),
        ),
        "label": ("First label", Exists(Label.objects.filter(item__project=project_ref))),
        "closed": (
            "First week closed",
            Exists(ReviewCycle.objects.filter(project=project_ref, status=CycleStatus.CLOSED)),
        ),
    }
    row = (
        Project.objects.filter(pk=project.pk)
        .annotate(**{key: expression for key, (_, expression) in facts.items()})
        .values(*facts)
        .get()
    )
    return Checklist(steps=[Step(key=key, title=title, done=row[key]) for key, (title, _) in facts.items()])
