"""Email addresses have one compared form (labeling/rules/emails.py), used by invitations, single sign-on and
the accounts they create, so an address that matches in one place matches in all of them."""

import re
from pathlib import Path

import pytest

from labeling.exceptions import InvalidInput
from labeling.rules.emails import normalize_email, valid_email

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    "given, compared",
    [(" Nora@Example.COM\n", "nora@example.com"), ("nora@example.com", "nora@example.com"), (None, ""), ("", "")],
)
def test_an_address_is_compared_trimmed_and_lowercased(given, compared):
    assert normalize_email(given) == compared


def test_a_valid_address_is_normalised_and_anything_else_refused():
    assert valid_email("  Nora@Example.com ") == "nora@example.com"
    for bad in ("not an address", "nora@example.com\x00", "a" * 250 + "@example.com", None):
        with pytest.raises(InvalidInput, match="Enter a valid email address."):
            valid_email(bad)


def test_no_module_normalises_an_email_by_hand():
    """Trimming and lowercasing an address anywhere but rules/emails.py would let the copies drift apart."""
    by_hand = re.compile(r"email.*(\.strip\(\)\.lower\(\)|\.lower\(\)\.strip\(\)|email\.strip\(\))")
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "labeling").rglob("*.py"))
        if path != ROOT / "labeling" / "rules" / "emails.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if by_hand.search(line)
    ]
    assert found == []
