"""Which outputs an explore action acts on: the rows a lead ticked, or the first of the filter's result in its order."""

from collections.abc import Iterable

from labeling.models import Output, Project
from labeling.rules.explore import ExploreFilter
from labeling.rules.text import text_problem

from .explore import filter_outputs, sorted_outputs


def ids_of_external_ids(project: Project, external_ids: Iterable[str]) -> list[int]:
    """The ids of the project's outputs with these external ids (unknown ones, and other projects', are left out)."""
    # A text that cannot be stored (a NUL) names no output; PostgreSQL would refuse it in the query.
    wanted = [external_id for external_id in dict.fromkeys(external_ids) if text_problem(external_id) is None]
    return list(Output.objects.filter(project=project, external_id__in=wanted).values_list("pk", flat=True))


def first_match_ids(project: Project, spec: ExploreFilter, *, limit: int) -> tuple[list[int], bool]:
    """The ids of the filter's first `limit` outputs in its order (`sort`: as the list shows them, newest first unless
    it says otherwise), and whether it matches more (one query)."""
    ids = list(sorted_outputs(filter_outputs(project, spec), spec.sort).values_list("pk", flat=True)[: limit + 1])
    return ids[:limit], len(ids) > limit
