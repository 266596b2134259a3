"""The rule for query parameters a view does not take: refused by name, so a typo (`?fulll=true`) never passes as
the default."""

from collections.abc import Iterable

from rest_framework import serializers

# DRF's own `?format=`, which every endpoint takes (api.negotiation refuses a format it does not answer in).
FORMAT_PARAMETER = "format"


def refuse_unknown_parameters(params: Iterable[str], known: Iterable[str]) -> None:
    """Raise a ValidationError naming each parameter outside `known` (and `format`), listing the known ones."""
    known = list(known)
    unknown = [name for name in params if name not in known and name != FORMAT_PARAMETER]
    if unknown:
        named = ", ".join(f"`{name}`" for name in known)
        message = f"Unknown parameter: use {named}." if known else "Unknown parameter: this endpoint takes none."
        raise serializers.ValidationError({name: message for name in unknown})
