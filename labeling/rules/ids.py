"""Ids as the database stores them: 64-bit signed integers (BigAutoField). A larger number from a URL or a form names
no row; asked for anyway, SQLite refuses it (OverflowError, a 500), so callers check with `fits_an_id` first."""

ID_MIN, ID_MAX = -(2**63), 2**63 - 1


def fits_an_id(value: int) -> bool:
    """Whether the number fits the database's id column (a 64-bit signed integer)."""
    return ID_MIN <= value <= ID_MAX


def is_whole_number(value: str) -> bool:
    """Text written as a whole number: ASCII digits only. Not `1.0`, ` 3`, `+3`, "²" nor fullwidth or Arabic-Indic
    digits, which `str.isdigit`, Python's int() or DRF's IntegerField take while a schema or a form says integer."""
    return value.isascii() and value.isdigit()


def id_from_text(text: object) -> int | None:
    """The id a posted value names: ASCII digits (an optional minus) that fit `fits_an_id`, else None. `str.isdigit`
    alone also takes "²" or Arabic-Indic digits, which `int()` or a URL's <int:> converter then refuse (a 500)."""
    text = str(text)
    digits = text.removeprefix("-")
    if not is_whole_number(digits):
        return None
    value = whole_number_up_to(digits, ID_MAX + 2)  # past both ends: -(2**63 + 1) fits no more than 2**63 + 1
    value = -value if text.startswith("-") else value
    return value if fits_an_id(value) else None


def whole_number_up_to(digits: str, ceiling: int) -> int:
    """The number a run of ASCII digits writes, or `ceiling` when it is larger: read without int() on thousands of
    digits, which Python refuses past 4,300 (a ValueError, so a 500) and is slow on before."""
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(ceiling)):
        return ceiling
    return min(int(significant), ceiling)
