"""How customers write and how each model answers: greetings, manners, failures, feedback comments."""

import random
import re

from .scenarios import EVASIVE, GENERIC_EVASIVE
from .shop import SHOP, Turn

GPT = "gpt-4o-mini-2024-07-18"
# GPT's next version, rolled out for the last weeks' GPT traffic: a little better, but in some refund and
# billing answers it promises a refund date it cannot know. Nothing tags it: it is found by searching.
GPT_NEXT = "gpt-4.1-mini-2025-04-14"
CLAUDE = "claude-3-5-haiku"

# Answer kinds. A failure is what sends a customer away; a flaw is worth a label but not a lost customer.
FAILURES = frozenset({"wrong_policy", "hallucinated_order_data", "evasive", "missing_escalation", "rude"})
FLAWS = frozenset({"too_long", "curt"})

# model → (openers, closers). The two models really do sound different, which experts notice.
_MANNER: dict[str, tuple[list[str], list[str]]] = {
    GPT: (
        ["", "", "I'd be happy to help! ", "Thanks for reaching out. ", "Sure! "],
        ["", "\n\nIs there anything else I can help you with?", "\n\nLet me know if you need anything else!"],
    ),
    CLAUDE: (
        ["", "", "", "Happy to help. "],
        ["", "", "\n\nAnything else I can help with?"],
    ),
}
_MANNER[GPT_NEXT] = _MANNER[GPT]
# Answers that open with empathy or thanks get no cheerful "Sure!" in front.
_NO_OPENER = ("I'm sorry", "I'm so sorry", "You're right", "That sounds", "I can see why", "You're welcome", "Glad")

_SOFT = re.compile(
    r"I'm sorry — |I'm sorry, |I'm sorry about that\. |I'm so sorry [^.]*\. |Yes — |Good timing: "
    r"|I can see why that's worrying\. |Good news: "
)
_GREETINGS = ["", "", "", "", "Hi, ", "Hello, ", "hey ", "Hi there! ", "Good morning, "]
_SIGN_OFFS = ["", "", "", "", " Thanks", " thx", " Thank you!"]
_FOLLOW_UPS = ["Also, ", "Another question: ", "One more thing. ", "and ", "Oh and ", ""]
THANKS = ["thanks!", "Thank you", "ok thanks", "great, thx", "Perfect, thank you!", "ok"]
_WELCOME = ["You're welcome! Have a lovely day.", "Glad I could help!", f"You're welcome — happy shopping at {SHOP}!"]

_FILLER = [
    "Please note that our policies are designed to give every customer a fair and consistent experience, and we "
    "review them regularly to make sure they reflect what our customers need.",
    "You can also find detailed information about orders, shipping, returns, payments and your account in our "
    "Help Centre, which is available 24/7 and covers the most common questions in depth.",
    f"We truly value you as a {SHOP} customer and appreciate your patience and understanding. Our goal is to make "
    "every interaction as smooth as possible, and your feedback helps us improve.",
    "If you have any further questions about this or anything else — your order, a product, delivery, returns or "
    "your account — please don't hesitate to reach out to us again at any time.",
]
_RUDE_BEFORE = ["As it says on our website: ", "This is explained in the FAQ. ", "Again: ", "Read carefully. "]
_RUDE_AFTER = [
    " Please read the help pages before contacting us next time.",
    " There's nothing more I can do.",
    " Please don't send the same question again.",
]

_COMMENTS: dict[str, list[str]] = {
    "wrong_policy": ["That's not what your website says.", "wrong, your FAQ says something else",
                     "Are you sure? That's not the policy I was told", "wrong info"],
    "hallucinated_order_data": ["That's not true, tracking says something different", "My order was NOT delivered!!",
                                "I haven't received any refund", "where did you get that from?", "This is made up"],
    "promised": ["You said my refund would arrive by now. It hasn't", "I haven't received any refund",
                 "The date you gave me has passed, still no refund", "where is my refund??"],
    "evasive": ["You didn't answer my question", "useless", "I want to talk to a human", "That doesn't help at all"],
    "missing_escalation": ["I need a real person to look at this", "waiting is not a solution",
                           "So nobody is going to help me?"],
    "rude": ["Rude.", "Very unfriendly answer", "no need to be rude", "wow. ok."],
    "down": ["I don't like this policy", "I wanted a refund, not an explanation", "too complicated"],
    "neutral": ["ok", "Still waiting though", "fine I guess", "a bit long"],
    "up": ["Thanks, that helped!", "quick and clear", "perfect", "Great, thank you", "so much faster than email"],
}  # fmt: skip


def ask(rng: random.Random, text: str, *, position: int, thanks: bool = False) -> str:
    """The customer's message as typed: greetings, lower case, sign-offs."""
    if thanks:
        return text
    greeting = rng.choice(_GREETINGS) if position == 0 else rng.choice(_FOLLOW_UPS)
    if rng.random() < 0.15:
        text = text.lower()
    elif greeting and not greeting.endswith(("! ", ": ", ". ")):
        text = text[0].lower() + text[1:]
    return f"{greeting}{text}{rng.choice(_SIGN_OFFS)}".strip()


def answer(rng: random.Random, turn: Turn, *, model: str, kind: str) -> str:
    """The bot's message for an answer kind: "good", a flaw, or a failure."""
    openers, closers = _MANNER[model]
    if kind in turn.wrong:
        # Wrong answers come in the model's usual manner: they look as confident as right ones.
        return f"{rng.choice(openers)}{turn.wrong[kind]}{rng.choice(closers)}"
    if kind == "evasive":
        return EVASIVE[turn.topic] if rng.random() < 0.6 else rng.choice(GENERIC_EVASIVE)
    if kind == "rude":
        before, after = rng.choice(_RUDE_BEFORE + [""]), rng.choice(_RUDE_AFTER)
        return f"{before}{_blunt(turn.core)}{after}"
    if kind == "curt":
        # Two bare sentences: right as far as it goes, but the customer gets less than they need.
        sentences = re.split(r"(?<=[.!?])\s+", turn.core.split("\n\n")[0])
        return _blunt(" ".join(sentences[:2]))
    opener = "" if turn.core.startswith(_NO_OPENER) else rng.choice(openers)
    if kind == "too_long":
        filler = "\n\n".join(rng.sample(_FILLER, rng.randint(2, 3)))
        return f"{opener or 'Thank you so much for your message! '}{turn.core}\n\n{filler}{closers[1]}"
    return f"{opener}{turn.core}{rng.choice(closers)}"


def _blunt(text: str) -> str:
    """The same facts without the kindness: no apology, no warm-up."""
    text = _SOFT.sub("", text)
    return text[0].upper() + text[1:]


def thanks_turn(rng: random.Random, topic: str) -> Turn:
    """The customer says thanks; the bot says you're welcome (there is nothing to get wrong)."""
    return Turn(topic, rng.choice(THANKS), rng.choice(_WELCOME))


def feedback(rng: random.Random, kind: str, *, promised: bool = False) -> dict | None:
    """End-user feedback, or None: failures get rated more often, and mostly down.

    A `promised` answer (a refund date the bot could not know) is rated when the date passes without the refund:
    more often than other failures, and nearly always down.
    """
    if rng.random() >= (0.75 if promised else 0.45 if kind in FAILURES else 0.22):
        return None
    if promised:
        score = rng.choices([-1, 0, 1], [90, 7, 3])[0]
    elif kind in FAILURES:
        score = rng.choices([-1, 0, 1], [72, 18, 10])[0]
    elif kind in FLAWS:
        score = rng.choices([-1, 0, 1], [20, 35, 45])[0]
    else:
        score = rng.choices([-1, 0, 1], [6, 14, 80])[0]
    if rng.random() >= 0.55:
        return {"score": score, "comment": ""}
    pool = {1: "up", 0: "neutral", -1: "promised" if promised else kind if kind in FAILURES else "down"}[score]
    return {"score": score, "comment": rng.choice(_COMMENTS[pool])}
