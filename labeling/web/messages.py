"""Tags carried by the messages the expert's screens flash, and how a page reads them back.

A "Skipped item …" message carries `undo_skip_tag(item)`: the page shows an "Undo skip" button in it (base.html, the
`skip_to_undo` filter), which posts to undo_skip, as the skipped item's page reached by Back does."""

UNDO_SKIP_TAG = "undo-skip-"


def undo_skip_tag(item_id: int) -> str:
    return f"{UNDO_SKIP_TAG}{item_id}"


def skip_to_undo(message) -> int | None:
    """The item whose skip `message` offers to undo, else None."""
    for tag in (getattr(message, "extra_tags", "") or "").split():
        if tag.startswith(UNDO_SKIP_TAG) and tag[len(UNDO_SKIP_TAG) :].isdigit():
            return int(tag[len(UNDO_SKIP_TAG) :])
    return None
