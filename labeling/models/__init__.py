from .alerts import Alert, AlertRule, AlertState
from .changes import ChangeDimension, ChangeKind, ChangeWeekTally, WeekChange
from .cycles import CycleStatus, Decision, ReviewCycle, week_label
from .datasets import Dataset, DatasetLine, DatasetRow, DatasetVersion, VersionFile, VersionFileState, VersionStatus
from .explore import SavedView
from .gold import Resolution, ResolutionStatus
from .health import RoutingState, WorkerHeartbeat
from .lookups import AnyOf
from .metrics import (
    AgreementMetric,
    ExpertWeek,
    QualityMetric,
    QueueWeek,
    RetentionCell,
    RetentionSegment,
    RetentionState,
    RetentionUser,
    gold_items_of,
)
from .outbox import OutboxMessage, work_key
from .outputs import FeedbackScore, Output, UsageEvent
from .platform import IngestErrorDay, OperatorToken, ProjectWeek
from .projects import ApiKey, AuditEvent, Invitation, Membership, Project, Role, Scope, Weekday
from .queues import Queue
from .redaction import RedactionRuleSet
from .review import Comment, Flag, Item, ItemStatus, Label, LabelRevision, Skip, Slot, SlotState
from .rubrics import QuestionKind, Rubric
from .signin import SignInThrottle, ThrottleKind
from .themes import FailureTheme, FailureThemeOutput
from .webhooks import (
    AUTO_DISABLED,
    SLACK_EVENTS,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookKind,
)

__all__ = [
    "Alert",
    "AlertRule",
    "AlertState",
    "AnyOf",
    "ChangeDimension",
    "ChangeKind",
    "ChangeWeekTally",
    "WeekChange",
    "AgreementMetric",
    "CycleStatus",
    "Decision",
    "ExpertWeek",
    "gold_items_of",
    "QualityMetric",
    "QueueWeek",
    "RetentionCell",
    "RetentionSegment",
    "RetentionState",
    "RetentionUser",
    "ReviewCycle",
    "week_label",
    "ApiKey",
    "Comment",
    "Dataset",
    "DatasetLine",
    "DatasetRow",
    "DatasetVersion",
    "VersionFile",
    "VersionFileState",
    "VersionStatus",
    "Flag",
    "Item",
    "ItemStatus",
    "Label",
    "LabelRevision",
    "Skip",
    "Slot",
    "SlotState",
    "AuditEvent",
    "FeedbackScore",
    "Invitation",
    "Membership",
    "OutboxMessage",
    "work_key",
    "Output",
    "IngestErrorDay",
    "OperatorToken",
    "ProjectWeek",
    "Project",
    "QuestionKind",
    "RedactionRuleSet",
    "Queue",
    "Resolution",
    "ResolutionStatus",
    "Role",
    "Rubric",
    "Scope",
    "SignInThrottle",
    "ThrottleKind",
    "UsageEvent",
    "Weekday",
    "SavedView",
    "RoutingState",
    "WorkerHeartbeat",
    "FailureTheme",
    "FailureThemeOutput",
    "AUTO_DISABLED",
    "SLACK_EVENTS",
    "DeliveryStatus",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "WebhookKind",
]
