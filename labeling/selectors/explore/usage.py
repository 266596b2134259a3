"""What an output's end user did around it: their usage events before, during and after the turns on a page.

Bounded, so a busy end user costs two index reads (`event_project_user_time`): EVENT_DAYS either side of their
turns, counted, the nearest SHOWN_EVENTS of each span listed. An erased end user has no events left to show
(`services.privacy.erase_end_user` deletes them with their outputs).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import CharField, Count, Q, Value

from labeling.models import Output, Project, UsageEvent
from labeling.rules.explore import ExploreFilter, filter_query, value_fits

EVENT_DAYS = 7
SHOWN_EVENTS = 10
MAX_END_USERS = 3  # a session is usually one end user's; a page names at most this many


@dataclass
class Span:
    events: list[UsageEvent]  # in time order: the nearest SHOWN_EVENTS of the span
    count: int

    @property
    def more(self) -> int:
        """How many of the span are not listed."""
        return self.count - len(self.events)


@dataclass
class EndUserEvents:
    end_user_id: str
    since: datetime  # the first and last turn of theirs on the page
    until: datetime
    before: Span = field(default_factory=lambda: Span([], 0))
    during: Span = field(default_factory=lambda: Span([], 0))
    after: Span = field(default_factory=lambda: Span([], 0))

    @property
    def explore_query(self) -> str:
        """The explore page's query for this end user's outputs, written as every filter link is (`filter_query`:
        an id with spaces at its ends in quotes, else the page would open the trimmed id's); empty when the id so
        written is longer than the filter takes."""
        return filter_query(ExploreFilter(end_user=self.end_user_id)) if value_fits(self.end_user_id) else ""

    @property
    def spans(self) -> list[tuple[str, str, Span]]:
        """(key, title, span) in time order, as the page lists them."""
        return [
            ("before", f"In the {EVENT_DAYS} days before", self.before),
            ("during", "During these turns", self.during),
            ("after", f"In the {EVENT_DAYS} days after", self.after),
        ]


def events_around(project: Project, outputs: list[Output]) -> list[EndUserEvents]:
    """For each end user of these outputs (the first MAX_END_USERS met): their usage events in the EVENT_DAYS before
    their first output here, between their first and last, and in the EVENT_DAYS after their last."""
    spans: dict[str, list[datetime]] = {}
    for output in outputs:
        if output.end_user_id and (output.end_user_id in spans or len(spans) < MAX_END_USERS):
            moments = spans.setdefault(output.end_user_id, [output.occurred_at, output.occurred_at])
            moments[0], moments[1] = min(moments[0], output.occurred_at), max(moments[1], output.occurred_at)
    found = []
    window = timedelta(days=EVENT_DAYS)
    for end_user_id, (since, until) in spans.items():
        theirs = UsageEvent.objects.filter(project=project, end_user_id=end_user_id)
        parts = {
            "before": Q(occurred_at__gte=since - window, occurred_at__lt=since),
            "during": Q(occurred_at__gte=since, occurred_at__lte=until),
            "after": Q(occurred_at__gt=until, occurred_at__lte=until + window),
        }
        # Two queries an end user: the three counts, and the three lists (the last of those before, the first of the
        # others) as one UNION.
        counts = theirs.filter(occurred_at__gte=since - window, occurred_at__lte=until + window).aggregate(
            **{name: Count("pk", filter=condition) for name, condition in parts.items()}
        )
        lists = [
            theirs.filter(condition).order_by("-occurred_at" if name == "before" else "occurred_at", "pk")
            .annotate(part=Value(name, output_field=CharField()))[:SHOWN_EVENTS]
            for name, condition in parts.items()
        ]  # fmt: skip
        listed: dict[str, list[UsageEvent]] = {name: [] for name in parts}
        # SQLite (the demo) cannot order and slice the parts of a UNION: one query each there.
        together = connection.features.supports_slicing_ordering_in_compound
        for event in lists[0].union(*lists[1:], all=True) if together else [e for part in lists for e in part]:
            listed[event.part].append(event)
        made = {name: Span(sorted(listed[name], key=lambda e: (e.occurred_at, e.pk)), counts[name]) for name in parts}
        found.append(EndUserEvents(end_user_id, since, until, **made))
    return found
