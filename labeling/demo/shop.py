"""The demo shop: its policy, catalogue, carriers, and the facts one conversation draws on.

Money and dates are formatted for the customer's locale so answers read like real ones. Random
draws never branch on the clock: a seed gives the same conversations whatever day it runs.
"""

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

SHOP = "Kettle & Pine"
HELP_URL = "https://help.kettleandpine.example"


@dataclass(frozen=True)
class Policy:
    """The shop's real policy: right answers follow it, wrong ones break it (see the guidelines)."""

    return_days: int = 30
    return_fee: str = "5.95"
    refund_days: str = "5–7"
    refund_days_max: int = 7
    standard_days: str = "3–5"
    standard_fee: str = "4.95"
    free_shipping_from: str = "50"
    express_days: str = "1–2"
    express_fee: str = "12.95"
    hold_days: str = "3–5"
    price_match_days: int = 14
    reset_minutes: int = 30
    lockout_attempts: int = 5
    lockout_minutes: int = 15
    deletion_days: int = 30
    lost_parcel_days: int = 7


POLICY = Policy()


@dataclass(frozen=True)
class Product:
    name: str
    price: float
    kind: str  # apparel, home, outdoor, final_sale
    final_sale_reason: str = ""


PRODUCTS = [
    Product("Merino crew sweater", 89.00, "apparel"),
    Product("Packable rain jacket", 129.00, "apparel"),
    Product("Trail running shoes", 119.00, "apparel"),
    Product("Organic cotton tee", 29.00, "apparel"),
    Product("Quilted overshirt", 98.00, "apparel"),
    Product("Fleece-lined beanie", 24.00, "apparel"),
    Product("Cast-iron skillet, 26 cm", 54.00, "home"),
    Product("Linen duvet cover (queen)", 149.00, "home"),
    Product("Ceramic pour-over set", 42.00, "home"),
    Product("Wool throw blanket", 98.00, "home"),
    Product("Stoneware dinner plates, set of 4", 64.00, "home"),
    Product("Brass desk lamp", 110.00, "home"),
    Product("Bamboo cutting board", 36.00, "home"),
    Product("Insulated bottle, 750 ml", 32.00, "outdoor"),
    Product("Two-person dome tent", 239.00, "outdoor"),
    Product("Down sleeping bag", 189.00, "outdoor"),
    Product("Camp stove", 74.00, "outdoor"),
]
FINAL_SALE = [
    Product("Personalised oak cutting board", 58.00, "final_sale", "it was engraved to order"),
    Product("gift card", 50.00, "final_sale", "gift cards can't be returned"),
    Product("Merino hiking socks (3-pack)", 27.00, "final_sale", "opened socks can't be returned, for hygiene reasons"),
]

# locale → (currency symbol, carriers that deliver there)
LOCALES: dict[str, tuple[str, list[str]]] = {
    "en-US": ("$", ["UPS", "USPS"]),
    "en-CA": ("CA$", ["Canada Post", "UPS"]),
    "en-GB": ("£", ["Royal Mail", "DPD"]),
    "en-IE": ("€", ["An Post", "DPD"]),
}
LOCALE_WEIGHTS = {"en-US": 55, "en-GB": 22, "en-CA": 13, "en-IE": 10}

SCANS = ["Arrived at sorting facility", "In transit to destination hub", "Departed regional depot", "Label created"]


@dataclass
class Order:
    number: str
    product: Product
    carrier: str
    tracking: str


@dataclass
class Turn:
    """One customer message, the essential right answer, and the ways this answer goes wrong."""

    topic: str
    user: str
    core: str
    wrong: dict[str, str] = field(default_factory=dict)  # issue → the wrong answer
    context: Any = None
    tags: list[str] = field(default_factory=list)


class Facts:
    """What one conversation is about: its moment, the customer's locale, the order they mean."""

    def __init__(self, rng: random.Random, at: datetime, locale: str):
        self.rng = rng
        self.at = at
        self.locale = locale
        self.symbol, self.carriers = LOCALES[locale]
        self._order: Order | None = None

    def next_question(self, *, at: datetime) -> None:
        """Move on to the customer's next question, which is about another order."""
        self.at = at
        self._order = None

    def pick(self, options: list[str]) -> str:
        return self.rng.choice(options)

    def money(self, amount: float) -> str:
        return f"{self.symbol}{amount:,.2f}"

    def fee(self, amount: str) -> str:
        return f"{self.symbol}{amount}"

    def day(self, days: float) -> date:
        """The date `days` from the conversation (negative: in the past)."""
        return (self.at + timedelta(days=days)).date()

    def text(self, when: date, weekday: bool = False) -> str:
        """A date as this customer writes it: "March 3" in North America, "3 March" elsewhere."""
        core = f"{when:%B} {when.day}" if self.locale in ("en-US", "en-CA") else f"{when.day} {when:%B}"
        return f"{when:%A}, {core}" if weekday else core

    def order(self, *, kinds: tuple[str, ...] = ()) -> Order:
        """The order this conversation is about; a follow-up question usually means the same one."""
        if self._order is None or (kinds and self._order.product.kind not in kinds):
            pool = FINAL_SALE if kinds == ("final_sale",) else [p for p in PRODUCTS if not kinds or p.kind in kinds]
            carrier = self.rng.choice(self.carriers)
            self._order = Order(
                number=f"KP-{self.rng.randint(1_000_000, 9_999_999)}",
                product=self.rng.choice(pool),
                carrier=carrier,
                tracking=self.tracking(carrier),
            )
        return self._order

    def tracking(self, carrier: str) -> str:
        digits = lambda n: "".join(self.rng.choice("0123456789") for _ in range(n))  # noqa: E731
        letters = lambda n: "".join(self.rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(n))  # noqa: E731
        if carrier == "UPS":
            return f"1Z{letters(3)}{digits(13)}"
        if carrier == "USPS":
            return f"9400{digits(18)}"
        if carrier == "Royal Mail":
            return f"{letters(2)}{digits(9)}GB"
        if carrier == "An Post":
            return f"{letters(2)}{digits(9)}IE"
        return digits(14 if carrier == "DPD" else 16)


def add_business_days(start: date, days: int) -> date:
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current
