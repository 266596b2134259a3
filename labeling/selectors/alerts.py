"""Reads of alerts: a project's (its page), and the open ones of many projects at once (the platform page)."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from labeling.models import Alert, AlertState, Project

# Resolved alerts stay on the project's page, muted, this long.
RESOLVED_SHOWN_DAYS = 7
_STATE_ORDER = {AlertState.OPEN: 0, AlertState.ACKNOWLEDGED: 1, AlertState.RESOLVED: 2}


def _ordered(alerts: Iterable[Alert]) -> list[Alert]:
    """Open first, then acknowledged, then resolved; the newest first within each."""
    return sorted(alerts, key=lambda alert: (_STATE_ORDER[alert.state], -alert.opened_at.timestamp(), -alert.pk))


def project_alerts(project: Project, now: datetime | None = None) -> list[Alert]:
    """The project's unresolved alerts and those resolved in the last RESOLVED_SHOWN_DAYS days (one query)."""
    since = (now or timezone.now()) - timedelta(days=RESOLVED_SHOWN_DAYS)
    return _ordered(
        Alert.objects.filter(project=project)
        .filter(~Q(state=AlertState.RESOLVED) | Q(resolved_at__gte=since))
        .select_related("project", "acknowledged_by")
    )


def open_alerts_by_project(project_ids: Iterable[int]) -> dict[int, list[Alert]]:
    """Each project's unresolved alerts (open or acknowledged), open first, in one query; a project with none is
    absent. For the platform page: `labeling/alerts/_list.html` renders each list."""
    by_project: dict[int, list[Alert]] = defaultdict(list)
    alerts = (
        Alert.objects.unresolved().filter(project_id__in=list(project_ids)).select_related("project", "acknowledged_by")
    )
    for alert in _ordered(alerts):
        by_project[alert.project_id].append(alert)
    return dict(by_project)


def alert_of_project(project: Project, alert_id: int) -> Alert | None:
    """The project's alert with this id, or None (another project's alert is not this one)."""
    return Alert.objects.filter(pk=alert_id, project=project).select_related("project").first()
