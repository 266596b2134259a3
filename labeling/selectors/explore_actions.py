"""Which outputs an explore action acts on: the rows a lead ticked, or the newest of the filter's result."""

from collections.abc import Iterable

from labeling.models import Output, Project
from labeling.rules.explore import ExploreFilter

from .explore import filter_outputs, newest_first


def ids_of_external_ids(project: Project, external_ids: Iterable[str]) -> list[int]:
    """The ids of the project's outputs with these external ids (unknown ones, and other projects', are left out)."""
    wanted = list(dict.fromkeys(external_ids))
    return list(Output.objects.filter(project=project, external_id__in=wanted).values_list("pk", flat=True))


def newest_match_ids(project: Project, spec: ExploreFilter, *, limit: int) -> tuple[list[int], bool]:
    """The ids of the filter's newest `limit` outputs, and whether it matches more (one query)."""
    ids = list(newest_first(filter_outputs(project, spec)).values_list("pk", flat=True)[: limit + 1])
    return ids[:limit], len(ids) > limit
