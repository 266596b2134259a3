"""The shape of a rubric question: what publishing checks, and what readers of a stored question may rely on."""

from typing import Annotated, Literal

import msgspec

Key = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


class Question(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    key: Key
    kind: Literal["binary", "rating", "choice", "multi_choice", "text", "correction"]
    prompt: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    required: bool = True
    help: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    options: list[Annotated[str, msgspec.Meta(min_length=1, max_length=100)]] | None = None
    scale: Annotated[list[int], msgspec.Meta(min_length=2, max_length=2)] | None = None


def spelt_out(question: dict) -> dict:
    """A stored question (canonical form, defaults omitted) with every field written in."""
    return msgspec.structs.asdict(msgspec.convert(question, Question))
