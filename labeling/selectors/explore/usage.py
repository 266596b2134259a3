"""What an output's end user did around it: their usage events before, during and after the turns on a page.

Bounded, so a busy end user costs a few index reads (`event_project_user_time`): EVENT_DAYS either side, the nearest
SHOWN_EVENTS of each span listed, each span counted up to COUNT_LIMIT. An erased end user has no events left to show
(`services.privacy.erase_end_user` deletes them with their outputs).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from labeling.models import Output, Project, UsageEvent

EVENT_DAYS = 7
SHOWN_EVENTS = 10
COUNT_LIMIT = 1000
MAX_END_USERS = 3  # a session is usually one end user's; a page names at most this many


@dataclass
class Span:
    events: list[UsageEvent]  # in time order: the nearest SHOWN_EVENTS of the span
    count: int  # up to COUNT_LIMIT
    capped: bool = False  # more than COUNT_LIMIT

    @property
    def more(self) -> int:
        """How many of the span are not listed (a lower bound when `capped`)."""
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
    def spans(self) -> list[tuple[str, str, Span]]:
        """(key, title, span) in time order, as the page lists them."""
        return [
            ("before", f"In the {EVENT_DAYS} days before", self.before),
            ("during", "During these turns", self.during),
            ("after", f"In the {EVENT_DAYS} days after", self.after),
        ]


def _span(events, *, newest: bool) -> Span:
    listed = list(events.order_by("-occurred_at" if newest else "occurred_at", "pk")[:SHOWN_EVENTS])
    counted = events.order_by()[: COUNT_LIMIT + 1].count()
    return Span(sorted(listed, key=lambda event: (event.occurred_at, event.pk)), min(counted, COUNT_LIMIT),
                capped=counted > COUNT_LIMIT)  # fmt: skip


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
        found.append(
            EndUserEvents(
                end_user_id,
                since,
                until,
                before=_span(theirs.filter(occurred_at__gte=since - window, occurred_at__lt=since), newest=True),
                during=_span(theirs.filter(occurred_at__gte=since, occurred_at__lte=until), newest=False),
                after=_span(theirs.filter(occurred_at__gt=until, occurred_at__lte=until + window), newest=False),
            )
        )
    return found
