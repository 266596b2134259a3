from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models.functions import Cast

from .projects import Project


class FeedbackScore(models.IntegerChoices):
    DOWN = -1, "Thumbs down"
    NEUTRAL = 0, "Neutral"
    UP = 1, "Thumbs up"


class MetadataKey(models.Func):
    """`metadata -> 'key'` (or `->>` for text) on PostgreSQL, the key always a text key: Django's KeyTransform
    reads a digit-only key such as "0" as an array index, which a metadata object never matches. Routing
    rules and explore filters both compare metadata through it."""

    arg_joiner = " -> "
    template = "(%(expressions)s)"
    output_field = models.JSONField()

    def __init__(self, key: str, *, as_text: bool = False):
        super().__init__(models.F("metadata"), Cast(models.Value(key), models.TextField()))
        if as_text:
            self.arg_joiner, self.output_field = " ->> ", models.TextField()


# The metadata key the explore list's `sort=slowest` orders by: what the OTLP endpoint writes (end − start) and the
# demo's apps send. Not indexed (`selectors.explore.results._ORDERS` says why).
LATENCY_KEY = "latency_ms"


class MetadataNumber(models.Func):
    """A metadata key's value when it is a JSON number (as a numeric: any JSON number, however large), else NULL.

    `sort=slowest` orders by it. The key is written into the SQL (it is the code's own constant, never a user's
    string)."""

    output_field = models.DecimalField()

    def __init__(self, key: str):
        if not key.replace("_", "").isalnum() or not key.isascii():
            raise ValueError(f"{key!r} is not a plain metadata key")
        self.key = key
        super().__init__(models.F("metadata"))

    def as_postgresql(self, compiler, connection, **extra):
        value = f"%(expressions)s -> '{self.key}'"
        template = f"(CASE WHEN jsonb_typeof({value}) = 'number' THEN ({value})::numeric END)"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler, connection, **extra):
        path = f"'$.\"{self.key}\"'"
        number = f"json_extract(%(expressions)s, {path})"
        template = f"(CASE WHEN json_type(%(expressions)s, {path}) IN ('integer', 'real') THEN {number} END)"
        return self.as_sql(compiler, connection, template=template, **extra)


class OutputQuerySet(models.QuerySet):
    def unrouted(self):
        return self.filter(routed_at__isnull=True)

    def locked_for_rewrite(self):
        """These outputs, locked to change columns other than their keys, in id order (inside a transaction).

        Id order: every writer of many outputs locks them in the same order (the search index too), so two writers
        over overlapping outputs wait for each other instead of deadlocking; a plain UPDATE locks in scan order.
        NO KEY UPDATE: a placement of these outputs (`routing.kept_from_deletion`, FOR KEY SHARE) need not wait.
        """
        return self.select_for_update(no_key=True).order_by("pk")


class Output(models.Model):
    """One AI output sent by a product app, unique per project by `external_id`.

    `content_hash` is the SHA-256 of the record as first sent; a re-send with the same hash is a
    duplicate, a different hash a conflict. Feedback arriving later does not change it.
    """

    # No index of its own: the unique (project, external_id) index serves project lookups. No database
    # constraint either: its check ran once per ingested row at COMMIT (~5 ms of a 1,000-record batch).
    # Ingest locks the project row once per batch instead (`services/ingest.py`); deleting a project
    # still deletes its outputs (Django's cascade).
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="outputs", db_index=False, db_constraint=False
    )
    external_id = models.CharField(max_length=200)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    end_user_id = models.CharField(max_length=200, blank=True, default="")
    session_id = models.CharField(max_length=200, blank=True, default="")
    model = models.CharField(max_length=200, blank=True, default="")
    input = models.JSONField(null=True, blank=True)
    output = models.JSONField()
    context = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    feedback_score = models.SmallIntegerField(choices=FeedbackScore, null=True, blank=True)
    feedback_comment = models.TextField(blank=True, default="")
    feedback_at = models.DateTimeField(null=True, blank=True)
    content_hash = models.CharField(max_length=64)
    routed_at = models.DateTimeField(null=True, blank=True)
    # The project's redaction rule-set version applied at ingest; null when the project had no rules.
    redaction_version = models.PositiveIntegerField(null=True, blank=True)
    # Filled after ingest by the routing task (`services.search_index`), not in the ingest request: the
    # words of input, output, feedback comment and context (PostgreSQL only; NULL on SQLite), and the
    # output's length in characters (NULL until the output is indexed, on every database).
    search_vector = SearchVectorField(null=True, editable=False)
    output_chars = models.PositiveIntegerField(null=True, blank=True, editable=False)

    objects = OutputQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "external_id"], name="output_unique_external_id"),
            models.CheckConstraint(
                condition=models.Q(feedback_score__isnull=True) | models.Q(feedback_score__in=[-1, 0, 1]),
                name="output_feedback_score_range",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "occurred_at"], name="output_project_occurred"),
            models.Index(fields=["project", "end_user_id", "occurred_at"], name="output_project_user_time"),
            models.Index(fields=["project", "session_id", "occurred_at"], name="output_project_session"),
            models.Index(fields=["project", "id"], name="output_unrouted", condition=models.Q(routed_at__isnull=True)),
        ]
        # The GIN index on search_vector (`output_search`) is made by migration 0014 on PostgreSQL only.

    def __str__(self) -> str:
        return f"{self.project_id}:{self.external_id}"


class UsageEvent(models.Model):
    """End-user activity that is not an AI output (session start, message sent). Feeds retention."""

    # No index of its own: the (project, end_user_id, occurred_at) index serves project lookups. No database
    # constraint, as for Output.project: ingest locks the project once per batch.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="usage_events", db_index=False, db_constraint=False
    )
    # Optional: when given, re-sending the event is idempotent.
    external_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 — NULL means "no id"
    end_user_id = models.CharField(max_length=200)
    name = models.CharField(max_length=200)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    properties = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)
    # The redaction rule-set version `redact_stored_outputs` last applied to the properties, so a rerun reads only the
    # events not done yet. Ingest redacts with the rules in force without recording it (its insert stays as it was):
    # NULL is "not known", and a run reads those again, which changes nothing when the rules did not. A plain integer:
    # a positive one's CHECK would make adding the column scan this large table under a lock that holds ingest.
    redaction_version = models.IntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="usage_event_unique_external_id",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "end_user_id", "occurred_at"], name="event_project_user_time"),
            models.Index(fields=["project", "occurred_at"], name="event_project_occurred"),
            # The events whose properties the raw-retention purge has still to empty: a night reads only those, not
            # the emptied ones, which pile up for ever (retention keeps the rows).
            models.Index(
                fields=["project", "occurred_at"], condition=~models.Q(properties={}), name="event_project_unemptied"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.end_user_id} {self.name} @ {self.occurred_at:%Y-%m-%d %H:%M}"
