"""A condition that lists values lists at least one: a queue rule's `tags_any`, `tags_all`, `models`,
`feedback_scores`, `text_any` and the values of a metadata key, and a dataset's `text_any` and metadata values. One
check, asked wherever a rule or a filter comes in (`services.routing.validate_rule`: the queue editor, the project
spec, a copied project; `rules.dataset_filters.filter_problems`: the dataset API and form).

A list of nothing has no reading a person would guess. A queue read it literally: any of no tag, model, feedback score
or metadata value took no output at all, all of no tag every output. And the queue editor shows an empty list as a
blank field, which it saves as no condition: every output. So it is refused, saying what to do, as no phrase
(`text_any: []`) was first (migration 0055 rewrote the rules stored before). A dataset's `tags_any: []` and
`models: []` are not refused: the dataset API has always documented them as "any tags", "any model", and clients
send them so.
"""

from collections.abc import Mapping
from typing import Any

# The list conditions of a queue's rule and of a dataset's filters, each with the noun of one of its values.
RULE_LISTS = {"tags_any": "tag", "tags_all": "tag", "models": "model", "feedback_scores": "feedback score",
              "text_any": "phrase"}  # fmt: skip
FILTER_LISTS = {"text_any": "phrase"}


def nothing_listed(noun: str) -> str:
    """What a list condition of no `noun` is told."""
    return f"give at least one {noun}, or leave the condition out."


def no_value_for(key: str) -> str:
    """What a metadata key listing no value is told."""
    return f"give {key!r} at least one value, or leave the key out."


def empty_lists(conditions: Mapping[str, Any], lists: Mapping[str, str]) -> list[tuple[str, str]]:
    """(condition, problem) for each condition of `lists` given as an empty list, and for each metadata key given
    one (a single metadata value, not in a list, is a value given)."""
    problems = [
        (name, nothing_listed(noun))
        for name, noun in lists.items()
        if isinstance(conditions.get(name), list | tuple) and not conditions[name]
    ]
    metadata = conditions.get("metadata")
    if isinstance(metadata, Mapping):
        problems.extend(
            ("metadata", no_value_for(key))
            for key, values in metadata.items()
            if isinstance(values, list | tuple) and not values
        )
    return problems
