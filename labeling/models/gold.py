"""Gold answers: what an item's labels add up to, per question, and how it was decided."""

from django.conf import settings
from django.db import models

from .review import Item


class ResolutionStatus(models.TextChoices):
    RESOLVED = "resolved", "Resolved"
    NEEDS_ADJUDICATION = "needs_adjudication", "Needs a lead's decision"


class Resolution(models.Model):
    """The gold answer of a complete item.

    `automatic` is recomputed from the labels every time (idempotent); `adjudicated` holds a lead's
    decisions per question, each entry with the rubric version the lead decided under
    ({"value": …, "method": "adjudicated", "rubric_version": 2}); a recompute keeps every one. A decision counts while
    the item's newest labels ask its question so that it still answers it (`labeling.rules.gold.still_answers`: alike,
    or a multi-choice decision ticking only options still offered): when labels are edited under
    a version that asks it on another scale, options or kind, the recompute moves it to `set_aside` (it no longer
    answers the question asked), and back should a later version ask it alike again.
    `labeling.rules.gold` merges the two into the gold answer: adjudicated answers win, a tie is no
    answer. Each entry of `automatic` reads
    {"value": …, "method": "unanimous" | "majority" | "median" | "tie" | "list" | "single",
    "votes": …} ("single": the correction of an item with one label, see `labeling.rules.gold`); a question only one of
    several experts answered has no entry (one answer is no agreement).
    """

    item = models.OneToOneField(Item, on_delete=models.CASCADE, related_name="resolution")
    status = models.CharField(max_length=32, choices=ResolutionStatus)
    automatic = models.JSONField(default=dict)
    adjudicated = models.JSONField(default=dict, blank=True)
    set_aside = models.JSONField(default=dict, blank=True)
    marked_for_adjudication = models.BooleanField(default=False)
    adjudicated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    adjudicated_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["status"], name="resolution_status")]

    def __str__(self) -> str:
        return f"resolution of item {self.item_id} ({self.status})"
