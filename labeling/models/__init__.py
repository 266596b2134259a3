from .outputs import FeedbackScore, Output, UsageEvent
from .projects import ApiKey, AuditEvent, Membership, Project, Role, Scope, Weekday
from .queues import Queue
from .rubrics import QuestionKind, Rubric

__all__ = [
    "ApiKey",
    "AuditEvent",
    "FeedbackScore",
    "Membership",
    "Output",
    "Project",
    "QuestionKind",
    "Queue",
    "Role",
    "Rubric",
    "Scope",
    "UsageEvent",
    "Weekday",
]
