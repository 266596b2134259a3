"""What the review said about one item, for a lead: its flags (open or resolved) and the experts' comments.

Leads are not blind (the adjudication page names who labeled what), so nothing here is hidden from the reader.
"""

from dataclasses import dataclass

from labeling.exceptions import NotFound
from labeling.models import Comment, Flag, Item, Project


@dataclass(frozen=True)
class ItemDiscussion:
    flags: list[Flag]  # oldest first, resolved ones too
    comments: list[Comment]  # oldest first

    @property
    def open_flags(self) -> list[Flag]:
        return [flag for flag in self.flags if not flag.is_resolved]


def item_discussion(item: Item) -> ItemDiscussion:
    """The item's flags with who raised and resolved them, and its comments with their authors (two queries)."""
    flags = list(item.flags.select_related("expert", "resolved_by").order_by("created_at", "pk"))
    comments = list(item.comments.select_related("author").order_by("created_at", "pk"))
    return ItemDiscussion(flags=flags, comments=comments)


def discussed_item(project: Project, item_id: int) -> Item:
    """The project's item, complete or not, with its output and queue: what a flag on it is about (NotFound else)."""
    item = Item.objects.select_related("output", "queue").filter(project=project, pk=item_id).first()
    if item is None:
        raise NotFound("No such item.")
    item.project = item.queue.project = project
    return item
