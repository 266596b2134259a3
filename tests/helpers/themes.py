"""Synthetic failures for the theme tests: three planted kinds with their own words, and words every kind shares."""

import random

KINDS = {
    "refund": ["refund", "money", "returned", "credit card", "reimbursed", "days", "bank", "charge", "policy"],
    "tracking": ["parcel", "courier", "tracking", "delivered", "depot", "address", "shipment", "driver", "doorstep"],
    "account": ["password", "login", "account", "locked", "email", "verification", "reset", "code", "username"],
}
NOISE = ["customer", "order", "help", "please", "thanks", "team", "today", "question", "happy", "assist", "shop"]


def planted_corpus(
    seed: int, sizes: dict[str, int], *, first_id: int = 100
) -> tuple[list[tuple[int, str]], dict[int, str]]:
    """Documents of the planted kinds in shuffled id order: 4-7 words of their kind, 5-9 shared noise words."""
    rng = random.Random(seed)
    kinds = [kind for kind, size in sizes.items() for _ in range(size)]
    rng.shuffle(kinds)
    documents, truth = [], {}
    for doc_id, kind in enumerate(kinds, start=first_id):
        words = rng.sample(KINDS[kind], rng.randint(4, 7)) + rng.choices(NOISE, k=rng.randint(5, 9))
        rng.shuffle(words)
        documents.append((doc_id, " ".join(words) + f" order #{rng.randint(1000, 9999)}"))
        truth[doc_id] = kind
    return documents, truth
