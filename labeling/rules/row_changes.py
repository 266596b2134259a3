"""What changed in one dataset row between two versions: the rule a version diff gives each changed row with.

A row is its canonical line parsed (`services/datasets/rows.py` writes it). The answer names the row's fields whose
values differ, and for each question whose gold answer moved, the gold answer before and after (as the row's `label`
holds it: value and method; None where the row had none). Its size is bounded: a text longer than TEXT_LIMIT
characters is cut (ending with "…"), and the big fields (input, output, annotations, metadata) are only named.
"""

from typing import Any

TEXT_LIMIT = 200
ELLIPSIS = "…"


def row_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Return {"fields": the top-level fields that differ, sorted; "gold": question → {"before", "after"}}."""
    fields = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    old_gold, new_gold = before.get("label") or {}, after.get("label") or {}
    gold = {
        key: {"before": _bounded(old_gold.get(key)), "after": _bounded(new_gold.get(key))}
        for key in sorted(old_gold.keys() | new_gold.keys())
        if old_gold.get(key) != new_gold.get(key)
    }
    return {"fields": fields, "gold": gold}


def _bounded(value: Any) -> Any:
    """The value with every text cut to TEXT_LIMIT characters (a correction's or a text question's gold)."""
    if isinstance(value, str):
        return value if len(value) <= TEXT_LIMIT else value[: TEXT_LIMIT - 1] + ELLIPSIS
    if isinstance(value, list):
        return [_bounded(item) for item in value]
    if isinstance(value, dict):
        return {key: _bounded(item) for key, item in value.items()}
    return value
