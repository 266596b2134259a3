"""A task's arguments as the logs and the operator's /readyz detail show them."""


def short_repr(args: list) -> str:
    """The args as logs show them, with long lists summarised (a routing batch carries 1,000 ids)."""
    return "(" + ", ".join(f"<{len(a)} items>" if isinstance(a, list) and len(a) > 10 else repr(a) for a in args) + ")"
