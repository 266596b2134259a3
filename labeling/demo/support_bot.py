"""Simulate eight weeks of the support bot: ~300 shoppers, their chats, feedback and app usage.

Whether a shopper comes back depends on the answers they got: a failed answer in their first week
makes every later week much less likely (retention split by answer quality must find it). The bot
gets better over time too: Claude is rolled out gradually and prompt v13 fixes some policy errors.

Everything is computed in offsets from the start of the eight weeks, and the random draws never
depend on the clock, so a seed always gives the same shoppers, ids and answers.
"""

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from . import conversation as talk
from .conversation import CLAUDE, FAILURES, GPT, GPT_NEXT
from .scenarios import SCENARIOS, TOPIC_WEIGHTS, Scenario
from .shop import LOCALE_WEIGHTS, Facts, Turn

WEEKS = 8
SHOPPERS = 300
DAY = 86_400.0
WEEK = 7 * DAY
HORIZON = WEEKS * WEEK - 600  # nothing in the last ten minutes: "now" must stay in the future
# The running week always has this much of the simulation to show, however young it is (see _Clock).
RUNNING_WEEK_AT_LEAST = 2 * DAY

# Share of sessions answered by Claude, per week since the start: an A/B test that is going well.
CLAUDE_SHARE = [0.0, 0.0, 0.05, 0.15, 0.3, 0.45, 0.6, 0.75]
PROMPT_V13_FROM_WEEK = 5  # v13 fixed the return-window answers (fewer wrong_policy failures)
FAILURE_RATE = {GPT: 0.21, GPT_NEXT: 0.17, CLAUDE: 0.12}
FLAW_RATE = {GPT: (0.07, 0.02), GPT_NEXT: (0.05, 0.02), CLAUDE: (0.02, 0.05)}  # (too_long, curt)
# From the start of the last full week (see `_last_full_week_start`) GPT's sessions are answered by GPT_NEXT, which in
# most of its returns and billing answers that give no date adds "Your refund will arrive by <a date it cannot know>":
# a failure that no tag or metadata shows, for the explore page's search to find, and a new model in the last closed
# week whose answers get more thumbs-down, for "what changed" to find. The model answers ~30 rated outputs in that
# week, tested with ~60 other comparisons (Benjamini–Hochberg): its rate must sit far above the others' ~23 %, on
# whatever weekday the demo is seeded (conversation.feedback: the promised customers rate more often, and down).
PROMISE_TOPICS = ("returns", "billing")
PROMISE_RATE = 0.8
APP_VERSIONS = ["4.11.0", "4.11.0", "4.11.2", "4.11.2", "4.12.0", "4.12.0", "4.12.1", "4.12.1"]
BROWSING = ["product_viewed", "product_viewed", "order_viewed", "cart_updated", "search_performed"]


@dataclass
class DemoData:
    """The generated records, ready for the ingest services, and the truth behind each answer."""

    outputs: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    # external_id → "good", a flaw ("too_long", "curt") or a failure (see conversation.FAILURES).
    # Not stored: experts are meant to find it. Tests and simulated labels can use it.
    truth: dict[str, str] = field(default_factory=dict)


def generate(*, seed: int, now: datetime, shoppers: int = SHOPPERS) -> DemoData:
    """Generate the demo history ending at `now` (timezone-aware)."""
    rng = random.Random(seed)
    clock = _Clock(now)
    simulation = _Simulation(clock=clock, gpt_next_from=clock.offset_of(_last_full_week_start(now)))
    for _ in range(shoppers):
        # One generator per shopper: tuning one shopper's behaviour does not reshuffle all the others.
        simulation.shopper(random.Random(rng.getrandbits(64)))
    return simulation.data


@dataclass
class _Shopper:
    id: str
    locale: str
    channel: str
    loyalty: float  # chance of coming back in a given week


class _Clock:
    """The simulation's seconds since its start as moments, its last one `now`.

    Evenly spread, except when the running cycle week (Monday midnight UTC, as the demo project's) is younger than
    RUNNING_WEEK_AT_LEAST: then the simulation's last RUNNING_WEEK_AT_LEAST are drawn into the part of the week that
    has run, and the time before them stretched to meet it, keeping every order. Seeded on a Monday morning, the
    demo's week still has conversations, items waiting and a queue's item held, as the README promises."""

    def __init__(self, now: datetime):
        self.start = now - timedelta(weeks=WEEKS)
        running_for = (now - _week_start(now)).total_seconds()
        self.knot = WEEKS * WEEK - RUNNING_WEEK_AT_LEAST  # simulation seconds at the running week's start
        self.knot_at = WEEKS * WEEK - running_for if running_for < RUNNING_WEEK_AT_LEAST else self.knot
        self.after_knot = running_for / RUNNING_WEEK_AT_LEAST if running_for < RUNNING_WEEK_AT_LEAST else 1.0

    def moment(self, offset: float) -> datetime:
        if offset <= self.knot:
            return self.start + timedelta(seconds=offset * self.knot_at / self.knot)
        return self.start + timedelta(seconds=self.knot_at + (offset - self.knot) * self.after_knot)

    def offset_of(self, moment: datetime) -> float:
        """The simulation's seconds at `moment`, one before the running week's start (the inverse of `moment`)."""
        return (moment - self.start).total_seconds() * self.knot / self.knot_at


class _Simulation:
    def __init__(self, *, clock: _Clock, gpt_next_from: float):
        self.clock = clock
        self.gpt_next_from = gpt_next_from
        self.data = DemoData()
        self.ids: set[str] = set()

    def shopper(self, rng: random.Random) -> None:
        """Simulate one shopper from their first visit to the end of the eight weeks."""
        shopper = _Shopper(
            id=self._id(rng, "u_", 10),
            locale=rng.choices(list(LOCALE_WEIGHTS), list(LOCALE_WEIGHTS.values()))[0],
            channel="app" if rng.random() < 0.45 else "web",
            loyalty=rng.uniform(0.3, 0.75),
        )
        joined = rng.uniform(0, HORIZON - 3 * DAY)
        # First week: they came with a question (that is how they met the bot), maybe a few more visits.
        first_week = self.session(rng, shopper, joined, chat=True)
        for _ in range(rng.choice([0, 1, 2, 2, 3])):
            first_week += self.session(rng, shopper, joined + rng.uniform(0.1, 7) * DAY, chat=rng.random() < 0.7)
        if any(kind in FAILURES for kind in first_week):
            shopper.loyalty *= 0.3  # the effect the retention metrics must find
        week = 1
        while joined + week * WEEK < HORIZON:
            if rng.random() < shopper.loyalty:
                kinds: list[str] = []
                for _ in range(rng.choice([1, 2, 2, 3, 4])):
                    at = joined + (week + rng.uniform(0, 1)) * WEEK
                    kinds += self.session(rng, shopper, at, chat=rng.random() < 0.8)
                shopper.loyalty *= 0.8 ** sum(kind in FAILURES for kind in kinds)
            shopper.loyalty *= 0.92  # interest fades anyway
            week += 1

    def session(self, rng: random.Random, shopper: _Shopper, at: float, *, chat: bool) -> list[str]:
        """One app or web visit: browsing, and maybe a chat with the bot. Returns the answer kinds."""
        session_id = self._id(rng, "s_", 12)
        channel = shopper.channel if rng.random() < 0.85 else ("web" if shopper.channel == "app" else "app")
        base = {"session_id": session_id, "channel": channel}
        self._event(rng, shopper, "session_start", at, base)
        at += rng.uniform(5, 60)
        for _ in range(rng.randint(0, 4)):
            self._event(rng, shopper, rng.choice(BROWSING), at, base)
            at += rng.uniform(10, 180)
        if rng.random() < 0.1:
            self._event(rng, shopper, "checkout_completed", at, base)
            at += rng.uniform(10, 60)
        if not chat:
            return []
        self._event(rng, shopper, "support_chat_opened", at, base)
        return self.chat(rng, shopper, at + rng.uniform(5, 40), base)

    def chat(self, rng: random.Random, shopper: _Shopper, at: float, base: dict[str, str]) -> list[str]:
        """A conversation of one to four messages from the customer; each answer is one output."""
        week = min(int(at // WEEK), WEEKS - 1)
        model = CLAUDE if rng.random() < CLAUDE_SHARE[week] else GPT_NEXT if at >= self.gpt_next_from else GPT
        prompt = "v13" if week >= PROMPT_V13_FROM_WEEK else "v12"
        facts = Facts(rng, self.clock.moment(at), shopper.locale)
        topic = opening_topic = _weighted(rng, TOPIC_WEIGHTS)
        history: list[dict[str, str]] = []
        kinds: list[str] = []
        asked: set[Scenario] = set()
        for position in range(rng.choices([1, 2, 3, 4], [36, 36, 20, 8])[0]):
            roll = rng.random()
            thanks = position > 0 and roll < 0.3
            if thanks:
                turn, kind = talk.thanks_turn(rng, topic), "good"
            else:
                if position and roll > 0.8:
                    topic = _weighted(rng, TOPIC_WEIGHTS)
                # A follow-up is another question about another order: the same order twice would
                # need the two answers to agree on its state, which separate templates cannot promise.
                candidates = [(scenario, weight) for scenario, weight in SCENARIOS[topic] if scenario not in asked]
                scenario = rng.choices(*zip(*candidates, strict=True))[0]
                asked.add(scenario)
                facts.next_question(at=self.clock.moment(at))
                turn = scenario(facts)
                kind = self._kind(rng, turn, model, prompt)
            history.append({"role": "user", "content": talk.ask(rng, turn.user, position=position, thanks=thanks)})
            self._event(rng, shopper, "message_sent", at, {**base, "chars": len(history[-1]["content"])})
            latency = rng.lognormvariate(7.1 if model == CLAUDE else 7.4, 0.35)  # ms
            at += latency / 1000
            text = turn.core if thanks else talk.answer(rng, turn, model=model, kind=kind)
            promised = not thanks and self._promises_a_date(rng, model, turn, kind, text)
            if promised:
                text += f"\n\nYour refund will arrive by {self._date_text(at + rng.randint(2, 5) * DAY)}."
                kind = "hallucinated_order_data"
            self._output(rng, shopper, at, turn, kind, history, text, base, model, prompt, int(latency), promised)
            history.append({"role": "assistant", "content": text})
            kinds.append(kind)
            if thanks:  # a thank-you ends the chat
                break
            at += rng.uniform(20, 150)
        if opening_topic == "returns" and kinds[0] == "good" and rng.random() < 0.5:
            self._event(rng, shopper, "return_started", at + rng.uniform(30, 300), base)
        return kinds

    def _kind(self, rng: random.Random, turn: Turn, model: str, prompt: str) -> str:
        roll = rng.random()
        failure_rate = FAILURE_RATE[model] * (0.85 if prompt == "v13" else 1.0)
        if roll < failure_rate:
            kinds = [*turn.wrong, "evasive", "rude"]
            weights = [1.2 if kind == "wrong_policy" and prompt == "v13" else 3.0 for kind in turn.wrong] + [1.2, 0.5]
            return rng.choices(kinds, weights)[0]
        too_long, curt = FLAW_RATE[model]
        if roll < failure_rate + too_long:
            return "too_long"
        if roll < failure_rate + too_long + curt:
            return "curt"
        return "good"

    def _promises_a_date(self, rng: random.Random, model: str, turn: Turn, kind: str, text: str) -> bool:
        # An answer that gives the refund's real date (a return that arrived) is left alone.
        if model != GPT_NEXT or turn.topic not in PROMISE_TOPICS or kind in FAILURES or "at the latest" in text:
            return False
        return rng.random() < PROMISE_RATE

    def _date_text(self, offset: float) -> str:
        day = (self.clock.moment(offset)).date()
        return f"{day.day} {day:%B}"

    def _output(
        self, rng: random.Random, shopper: _Shopper, at: float, turn: Turn, kind: str,
        history: list[dict[str, str]], text: str, base: dict[str, str], model: str, prompt: str, latency: int,
        promised: bool,
    ) -> None:  # fmt: skip
        external_id = self._id(rng, "msg_", 16)
        metadata = {"topic": turn.topic, "channel": base["channel"], "locale": shopper.locale,
                    "prompt_version": prompt, "latency_ms": latency, "tokens": _tokens(history, text)}  # fmt: skip
        if base["channel"] == "app":
            metadata["app_version"] = APP_VERSIONS[min(int(at // WEEK), WEEKS - 1)]
        # The app tags a hand-over only when the bot really handed over.
        tags = [tag for tag in turn.tags if tag != "escalated" or kind not in FAILURES]
        if len(history) > 1:
            tags.append("multi_turn")
        record: dict[str, Any] = {
            "external_id": external_id,
            "occurred_at": self._time(at),
            "end_user_id": shopper.id,
            "session_id": base["session_id"],
            "model": model,
            "input": list(history),
            "output": text,
            "metadata": metadata,
            "tags": tags,
        }
        if turn.context is not None:
            record["context"] = turn.context
        opinion = talk.feedback(rng, kind, promised=promised)
        if opinion is not None:
            record["feedback"] = opinion
        if at < HORIZON:
            self.data.outputs.append(record)
            self.data.truth[external_id] = kind

    def _event(self, rng: random.Random, shopper: _Shopper, name: str, at: float, properties: dict) -> None:
        external_id = self._id(rng, "ev_", 16)
        if at < HORIZON:
            self.data.events.append({"external_id": external_id, "end_user_id": shopper.id, "name": name,
                                     "occurred_at": self._time(at), "properties": properties})  # fmt: skip

    def _time(self, offset: float) -> str:
        return (self.clock.moment(offset)).isoformat()

    def _id(self, rng: random.Random, prefix: str, length: int) -> str:
        while True:
            candidate = prefix + "".join(rng.choice("0123456789abcdef") for _ in range(length))
            if candidate not in self.ids:
                self.ids.add(candidate)
                return candidate


def _week_start(now: datetime) -> datetime:
    """The start of the cycle week holding `now`: the demo project's weeks start on Monday at midnight UTC
    (project.py)."""
    day = now.astimezone(UTC).date()
    return datetime.combine(day - timedelta(days=day.weekday()), time.min, tzinfo=UTC)


def _last_full_week_start(now: datetime) -> datetime:
    """The start of the last full cycle week before `now`: the week the meeting discusses is the first with GPT_NEXT,
    whatever the weekday the demo is seeded on."""
    return _week_start(now) - timedelta(weeks=1)


def _tokens(history: list[dict[str, str]], text: str) -> int:
    """Tokens billed for one answer: the conversation so far and the answer, at about four characters a token."""
    return round((sum(len(message["content"]) for message in history) + len(text)) / 4)


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]
