"""The changes step as it was before issue 19's week tallies, for `w4_close.py --compare`: every close aggregates
the cycle week and all its baseline weeks from their rows (`services.change_counts.week_counts`), no kept tallies."""

from labeling.services import change_tallies


def _no_kept_tallies(*, project, window):
    return None


change_tallies.cached_week_counts = _no_kept_tallies
