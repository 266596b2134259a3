"""How a query string says yes or no, on every page and endpoint (the explore bar, the API's filters, `?full=`):
`yes`, `true` or `1`, and `no`, `false` or `0`, in any case. One rule, so no parameter takes `true` while its
neighbour refuses it."""

QUERY_BOOLEANS = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}


def read_query_boolean(text: str) -> bool | None:
    """True or False for a yes/no word, None for anything else."""
    return QUERY_BOOLEANS.get(text.strip().lower())


def not_a_query_boolean(text: str) -> str:
    """The refusal of a value that is no yes/no word."""
    return f"{text[:40]!r} is not yes or no: use yes, true or 1, or no, false or 0."
