"""Tags carried by the messages the expert's screens flash, and how a page reads them back.

A "Skipped item …" message carries `undo_skip_tag(item)`: the page shows an "Undo skip" button in it (base.html, the
`skip_to_undo` filter), which posts to undo_skip, as the skipped item's page reached by Back does. A "Label saved …"
message carries `labeled_tag(item)`: the page links back to the item to change that label (the `label_to_change`
filter), the second thought an expert has right after Enter."""

UNDO_SKIP_TAG = "undo-skip-"
LABELED_TAG = "labeled-item-"


def undo_skip_tag(item_id: int) -> str:
    return f"{UNDO_SKIP_TAG}{item_id}"


def labeled_tag(item_id: int) -> str:
    return f"{LABELED_TAG}{item_id}"


def skip_to_undo(message) -> int | None:
    """The item whose skip `message` offers to undo, else None."""
    return _item_tagged(message, UNDO_SKIP_TAG)


def label_to_change(message) -> int | None:
    """The item whose label `message` says was saved (a link back to change it), else None."""
    return _item_tagged(message, LABELED_TAG)


def _item_tagged(message, prefix: str) -> int | None:
    for tag in (getattr(message, "extra_tags", "") or "").split():
        if tag.startswith(prefix) and tag[len(prefix) :].isdigit():
            return int(tag[len(prefix) :])
    return None
