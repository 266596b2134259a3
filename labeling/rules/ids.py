"""Ids as the database stores them: 64-bit signed integers (BigAutoField). A larger number from a URL or a form names
no row; asked for anyway, SQLite refuses it (OverflowError, a 500), so callers check with `fits_an_id` first."""

ID_MIN, ID_MAX = -(2**63), 2**63 - 1


def fits_an_id(value: int) -> bool:
    """Whether the number fits the database's id column (a 64-bit signed integer)."""
    return ID_MIN <= value <= ID_MAX
