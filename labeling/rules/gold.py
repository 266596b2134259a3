"""The gold rule every reader shares: per question, a lead's adjudicated answer wins over the automatic one,
and an automatic tie is no answer at all (it waits for a lead).

Metrics, retention, datasets, the adjudication screens and the report all read gold answers through here.
A resolution's two fields hold entries `{"value": …, "method": …}` per question key (see `Resolution`).
"""

from typing import Any

TIE = "tie"


def gold_entries(automatic: dict | None, adjudicated: dict | None) -> dict[str, dict]:
    """The entry that is gold for each decided question: adjudicated over automatic, ties left out."""
    entries = {key: entry for key, entry in (automatic or {}).items() if entry["method"] != TIE}
    entries.update(adjudicated or {})
    return entries


def gold_answers(automatic: dict | None, adjudicated: dict | None) -> dict[str, Any]:
    """The gold value of each decided question (see `gold_entries`)."""
    return {key: entry["value"] for key, entry in gold_entries(automatic, adjudicated).items()}


def gold_answer(automatic_entry: dict | None, adjudicated_entry: dict | None) -> Any:
    """One question's gold value from its two entries, or None when it is undecided (a tie, or no answer)."""
    if adjudicated_entry is not None:
        return adjudicated_entry["value"]
    if automatic_entry is not None and automatic_entry["method"] != TIE:
        return automatic_entry["value"]
    return None


def open_ties(automatic: dict | None, adjudicated: dict | None) -> list[str]:
    """The questions whose experts tie and that no lead has decided yet, in the resolution's order."""
    return [
        key for key, entry in (automatic or {}).items() if entry["method"] == TIE and key not in (adjudicated or {})
    ]
