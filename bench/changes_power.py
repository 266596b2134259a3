"""Power and false discoveries of "what changed", on synthetic weeks with and without planted changes.

    .venv/bin/python bench/changes_power.py                 # 200 seeded repetitions of each, ~1 min
    .venv/bin/python bench/changes_power.py --repetitions 100 --seed 7

Each repetition draws a cycle week and its 4 baseline weeks of outputs and usage events, output by output, and
aggregates them into the counts the service's SQL returns (`metrics.changes.WeekCounts`); the service's own pure
half (`week_comparisons`, then `significant_changes` with BH at q = 0.05 and the minimum effects) lists the changes.
No database: this measures the statistics, not the queries.

The stream: ~3,000 outputs a week (Poisson), two models, six topics (metadata), four tags, 30 % rated with 10 %
thumbs-down, 5 % commented, lognormal lengths and latencies, 80 gold verdicts (85 % pass), ~2,000 events of four
names. Planted in the cycle week (the "planted" data only):
  - a new model gpt-next answering 10 % of the outputs, thumbs-down 20 %;
  - topic=returns thumbs-down rate 10 % → 22 %;
  - 30 % more outputs;
  - outputs 20 % longer;
  - a new event return_started (5 % of events).
Printed: the share of the planted changes found (power, each and all), and on the "null" data (the same stream,
nothing planted) the false discoveries: per repetition, the share of repetitions with any (= the FDR when nothing
changed), both as listed (q ≤ 0.05 and the minimum effect) and on q alone (what BH itself controls).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from labeling.metrics import changes as tests  # noqa: E402
from labeling.metrics.changes import Tally, WeekCounts  # noqa: E402

WEEKS = 4
FDR = 0.05
OUTPUTS_A_WEEK = 3000
EVENTS_A_WEEK = 2000
MODELS = {"gpt": 0.6, "claude": 0.4}
TOPICS = {"shipping": 0.3, "returns": 0.25, "billing": 0.15, "account": 0.12, "product": 0.1, "other": 0.08}
TAGS = {"multi_turn": 0.3, "escalated": 0.2, "refund": 0.1, "vip": 0.05}
EVENT_NAMES = {"session_start": 0.4, "message_sent": 0.35, "product_viewed": 0.2, "checkout_completed": 0.05}
RATED, DOWN, COMMENTED, GOLD_A_WEEK, PASS = 0.3, 0.1, 0.05, 80, 0.85

PLANTED = [
    ("new_slice", "model", "", "gpt-next"),
    ("slice_thumbs_down", "metadata", "topic", "returns"),
    ("volume", "overall", "", ""),
    ("output_length", "overall", "", ""),
    ("new_slice", "event", "", "return_started"),
]


def week_counts(rng: np.random.Generator, *, planted: bool) -> WeekCounts:
    """One synthetic cycle week (slot 0) and its baseline weeks, as the service's SQL would count them."""
    counts = WeekCounts()
    models, tags, topics, event_names = {}, {}, {}, {}
    lengths: tuple[dict, dict] = ({}, {})
    latencies: tuple[dict, dict] = ({}, {})
    for slot in range(WEEKS + 1):
        plant = planted and slot == 0
        n = rng.poisson(OUTPUTS_A_WEEK * (1.3 if plant else 1.0))
        model_shares = {"gpt": 0.5, "claude": 0.4, "gpt-next": 0.1} if plant else MODELS
        model = rng.choice(list(model_shares), size=n, p=list(model_shares.values()))
        topic = rng.choice(list(TOPICS), size=n, p=list(TOPICS.values()))
        rated = rng.random(n) < RATED
        down_rate = np.full(n, DOWN)
        if plant:
            down_rate[topic == "returns"] = 0.22
            down_rate[model == "gpt-next"] = 0.2
        down = rated & (rng.random(n) < down_rate)
        commented = rng.random(n) < COMMENTED
        length = np.rint(rng.lognormal(6.0, 0.5, n) * (1.2 if plant else 1.0)).astype(int)
        latency = np.rint(rng.lognormal(7.2, 0.35, n)).astype(int)
        has_tag = {tag: rng.random(n) < share for tag, share in TAGS.items()}

        def tally(into: dict, value: str, mask: np.ndarray, slot=slot, rated=rated, down=down, commented=commented):
            figures = (mask.sum(), (rated & mask).sum(), (down & mask).sum(), (commented & mask).sum())
            into.setdefault(value, Tally()).add(slot, *map(int, figures))

        counts.outputs.add(slot, n, int(rated.sum()), int(down.sum()), int(commented.sum()))
        for value in model_shares:
            tally(models, value, model == value)
        for value in TOPICS:
            tally(topics, value, topic == value)
        for tag, mask in has_tag.items():
            tally(tags, tag, mask)
        side = 0 if slot == 0 else 1
        # Numeric metadata comes back from SQL rounded to 3 significant digits (lengths exactly).
        for values, into, rounded in ((length, lengths[side], int), (latency, latencies[side], tests.significant)):
            for value, count in zip(*np.unique(values, return_counts=True), strict=True):
                into[rounded(value)] = into.get(rounded(value), 0) + int(count)
        verdicts = counts.verdicts.setdefault(("overall", "", ""), Tally())
        verdicts.add(slot, GOLD_A_WEEK, passes=int(rng.binomial(GOLD_A_WEEK, PASS)))

        events = rng.poisson(EVENTS_A_WEEK)
        names = {**EVENT_NAMES, "return_started": 0.05} if plant else EVENT_NAMES
        shares = np.array(list(names.values()))
        drawn = rng.multinomial(events, shares / shares.sum())
        counts.events[slot] = events
        for name, count in zip(names, drawn, strict=True):
            event_names.setdefault(name, Tally()).add(slot, int(count))
    counts.output_volume_baseline = tests.baseline_of(counts.outputs.outputs)
    counts.event_volume_baseline = tests.baseline_of(counts.events)
    counts.lengths = (sorted(lengths[0].items()), sorted(lengths[1].items()))
    counts.numbers = {"latency_ms": (sorted(latencies[0].items()), sorted(latencies[1].items()))}
    counts.slices = [
        *(("model", "", value, tally) for value, tally in sorted(models.items())),
        *(("tag", "", value, tally) for value, tally in sorted(tags.items())),
        *(("metadata", "topic", value, tally) for value, tally in sorted(topics.items())),
    ]
    counts.event_names = sorted(event_names.items())
    return counts


def _key(change) -> tuple:
    return (change.kind, *(change.slice.get(name, "") for name in ("dimension", "key", "value")))


def run(repetitions: int, seed: int = 0) -> dict:
    """The figures over `repetitions` seeded repetitions of planted and of null weeks."""
    found = dict.fromkeys(PLANTED, 0)
    all_found = 0
    null_listed, null_any, null_q_only, null_q_any, tried = 0, 0, 0, 0, 0
    for repetition in range(repetitions):
        planted = week_counts(np.random.default_rng([seed, repetition, 1]), planted=True)
        listed = {_key(change) for change in tests.significant_changes(tests.week_comparisons(planted), fdr=FDR)}
        for key in PLANTED:
            found[key] += key in listed
        all_found += all(key in listed for key in PLANTED)

        null = tests.week_comparisons(week_counts(np.random.default_rng([seed, repetition, 0]), planted=False))
        tried += len(null)
        false = tests.significant_changes(null, fdr=FDR)
        q_only = [c for c in tests.adjust(null) if c.q_value <= FDR]
        null_listed += len(false)
        null_any += bool(false)
        null_q_only += len(q_only)
        null_q_any += bool(q_only)
    return {
        "repetitions": repetitions,
        "power": {" ".join(filter(None, key)): count / repetitions for key, count in found.items()},
        "all_planted_found": all_found / repetitions,
        "null_comparisons_per_week": tried / repetitions,
        "null_false_discoveries_per_week": null_listed / repetitions,
        "null_fdr": null_any / repetitions,  # with nothing changed, any discovery is a false one: FDR = P(any)
        "null_fdr_q_only": null_q_any / repetitions,
        "null_false_discoveries_q_only_per_week": null_q_only / repetitions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repetitions", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    figures = run(args.repetitions, args.seed)
    print(f"{figures['repetitions']} repetitions, BH q = {FDR}")
    for name, share in figures["power"].items():
        print(f"  power  {name:<45} {share:6.1%}")
    print(f"  all planted changes found in              {figures['all_planted_found']:6.1%} of repetitions")
    print(f"  null: comparisons tried per week          {figures['null_comparisons_per_week']:6.1f}")
    print(f"  null: false discoveries listed per week   {figures['null_false_discoveries_per_week']:6.3f}")
    print(f"  null: FDR as listed (P(any))              {figures['null_fdr']:6.1%}")
    print(f"  null: FDR on q alone, no minimum effect   {figures['null_fdr_q_only']:6.1%}")
    print(f"  null: q-alone discoveries per week        {figures['null_false_discoveries_q_only_per_week']:6.3f}")


if __name__ == "__main__":
    main()
