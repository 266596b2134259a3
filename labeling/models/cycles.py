"""The weekly review cycle: one per project and cycle week, its frozen report and the meeting's decisions."""

from datetime import date

from django.conf import settings
from django.db import models

from .projects import Project
from .review import Item


class CycleStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


def week_label(week: date) -> str:
    """The ISO week of a cycle's first day, e.g. "2026-W48": how cycles are named in URLs and reports."""
    year, number, _ = week.isocalendar()
    return f"{year}-W{number:02d}"


class ReviewCycleQuerySet(models.QuerySet):
    def locked_newest_first(self):
        """These cycles locked for an update, newest week first (PostgreSQL locks in the sorted order): the one order
        in which every writer of several of a project's cycles locks them (a close, a redaction and an erasure
        rewriting frozen reports), so that none waits on another holding a row it wants in turn."""
        return self.select_for_update(of=("self",), no_key=True).order_by("-week")


class ReviewCycle(models.Model):
    """A project's cycle week (`week` is its first day, in the project's time zone and weekday).

    Closing it resolves gold answers, rebuilds datasets, computes the week's metrics and freezes
    `report`, the figures the weekly meeting looks at; a closed cycle's figures never change, but for its comparison
    with the week before, restated once that week closed after it (`compared_again`), its pass-rate trend's points for
    other weeks that closed after it (`trend_restated`), its "what changed" and retention by verdict once weeks they
    read closed after it (`gold_restated`), and what redaction and erasure take out.
    Labels on the week's items can be edited only while it is open.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="cycles")
    week = models.DateField()
    status = models.CharField(max_length=16, choices=CycleStatus, default=CycleStatus.OPEN)
    report = models.JSONField(default=dict, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # The zone whose calendar drew the week when it closed: the project may change zones later, and a closed week
    # keeps its dates (frozen in its report) and says the zone they are in ("" for weeks closed before it was kept).
    closed_in_time_zone = models.CharField(max_length=64, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    digests_sent_at = models.DateTimeField(null=True, blank=True)
    # Closed while catching up (a newer ended week still open): its digest goes with a newer week's, which lists it,
    # instead of on its own (services.cycles.send_digests).
    digest_deferred = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # When a refresh last recomputed the week's figures (its start): the dashboard's "as of" for a running week, kept
    # here because the refresh's outbox row is swept after OUTBOX_KEEP_DAYS.
    figures_refreshed_at = models.DateTimeField(null=True, blank=True)
    # The last failed close or metrics refresh of the week, kept until one succeeds: shown to the project's
    # leads on the meeting page and on /readyz; the sweeps try again from `next_attempt_at` (backoff; a refresh only
    # while its week runs: `rules.weekly_close.failure_retry`).
    failure_kind = models.CharField(max_length=16, choices=[("close", "Close"), ("refresh", "Refresh")], blank=True)
    last_error = models.TextField(blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)  # failures in a row
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    objects = ReviewCycleQuerySet.as_manager()

    class Meta:
        ordering = ["project", "-week"]
        constraints = [models.UniqueConstraint(fields=["project", "week"], name="cycle_one_per_project_week")]

    def __str__(self) -> str:
        return f"{self.project} {self.label} ({self.status})"

    @property
    def label(self) -> str:
        return week_label(self.week)

    @property
    def is_closed(self) -> bool:
        return self.status == CycleStatus.CLOSED

    @property
    def is_failing(self) -> bool:
        return self.failed_at is not None


class Decision(models.Model):
    """Something the weekly meeting decided: what, who owns it, by when; optionally about one item."""

    cycle = models.ForeignKey(ReviewCycle, on_delete=models.CASCADE, related_name="decisions")
    text = models.TextField(max_length=2000)
    owner = models.CharField(max_length=200, blank=True)
    due_date = models.DateField(null=True, blank=True)
    item = models.ForeignKey(Item, null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Open until a lead marks it done: an open decision is shown at every later meeting (cycles.mark_decision_done).
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["cycle", "created_at", "id"]

    def __str__(self) -> str:
        return f"decision in {self.cycle}: {self.text[:40]}"

    @property
    def is_done(self) -> bool:
        return self.done_at is not None
