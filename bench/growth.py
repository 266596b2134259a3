"""Growth benchmark (G): how the weekly close's cost grows with the project's age and with its size, as a fitted
exponent k of cost ∝ size^k per step, so every later change can see its growth (BENCHMARKS.md, issue 19).

    .venv/bin/python bench/growth.py                              # ages 4, 26, 104 weeks at a constant week
    .venv/bin/python bench/growth.py --ages 4,26,104,260 --runs 3
    .venv/bin/python bench/growth.py --mode size --sizes 100000,300000,1000000   # W4 at 3 sizes, 12 weeks

Each point is one `bench/w4_close.py` invocation (its own template database, `--runs` closes, each in a fresh
process on a fresh copy), so the data and the close are exactly W4's:
  - `--mode age` (default): the same week's work after N weeks of history — per week `--week-outputs` outputs,
    as many usage events, `--week-labels` labels and `--week-users` new end users (600 / 600 / 120 / 60, the
    issue's figures). A close whose cost does not grow with the project's age has k ≈ 0 here.
  - `--mode size`: W4 over 12 weeks with outputs + usage events = each of `--sizes` (half each), labels and end
    users scaled with it (W4's 1,000,000 rows carry 100,000 labels and 50,000 users).
k is the least-squares slope of log(median seconds) on log(size) over the points, per step and for the whole
close; a step under 5 ms at every point is reported but not fitted (its k is noise). Writes
bench/out/growth-<mode>-<timestamp>.json; the per-point W4 reports stay in bench/out/ too.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

from harness import OUT, ROOT
from harness.report import git_state, log, machine, new_stamp, save_and_print, workload_parser

W4 = ROOT / "bench" / "w4_close.py"
NOISE_FLOOR_S = 0.005


def fitted_k(sizes: list[float], seconds: list[float | None]) -> float | None:
    """The slope of log(seconds) on log(size); None when a point is missing or every point is below the floor."""
    if len(sizes) < 2 or any(s is None or s <= 0 for s in seconds) or max(seconds) < NOISE_FLOOR_S:
        return None
    xs, ys = [math.log(x) for x in sizes], [math.log(y) for y in seconds]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return round(sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread, 3)


def point_args(args, size: int) -> list[str]:
    """w4_close.py's options for one point of the curve."""
    if args.mode == "age":
        weeks = size
        counts = {
            "--weeks": weeks,
            "--outputs": args.week_outputs * weeks,
            "--events": args.week_outputs * weeks,
            "--labels": args.week_labels * weeks,
            "--users": args.week_users * weeks,
        }
    else:
        counts = {
            "--weeks": 12,
            "--outputs": size // 2,
            "--events": size - size // 2,
            "--labels": max(1_000, size // 10),
            "--users": max(500, size // 20),
        }
    options = [str(part) for option, value in counts.items() for part in (option, value)]
    options += ["--warm"] * args.warm + ["--reuse"] * args.reuse + (["--compare", args.compare] if args.compare else [])
    return [*options, "--runs", str(args.runs), "--database", f"{args.database}_{args.mode}_{size}", "--seed",
            str(args.seed)]  # fmt: skip


def run_point(args, size: int) -> dict:
    command = [sys.executable, str(W4), *point_args(args, size)]
    log(f"{args.mode} {size:,}: {' '.join(command[1:])}")
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    written = re.findall(r"Wrote (bench/out/w4-[\w-]+\.json)", done.stdout + done.stderr)
    if done.returncode != 0 or not written:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"w4_close.py failed for {args.mode} {size:,} (exit {done.returncode})")
    report = json.loads((ROOT / written[-1]).read_text())
    median = report["median"]
    log(f"  close {median['close_s']:.2f} s, steps {median['steps_s']} ({written[-1]})")
    return {
        "size": size,
        "report": written[-1],
        "ok": report["ok"],
        "close_s": median["close_s"],
        "steps_s": median["steps_s"],
        "peak_rss_mb": median["peak_rss_mb"],
        # The machine's speed around this point (bench/harness/yardstick.py): the points run minutes apart.
        "yardstick_s": (report["yardstick"]["before"]["total_s"] + report["yardstick"]["after"]["total_s"]) / 2,
        "rows": report["setup"].get("counts", {}),
        # With --compare: the patched closes, run in pairs with the ones above on fresh copies.
        "compare": report.get("compare"),
    }


def summarise(args, points: list[dict]) -> dict:
    sizes = [point["size"] for point in points]
    steps = list(dict.fromkeys(step for point in points for step in point["steps_s"]))
    return {
        "workload": f"G growth ({args.mode})",
        "git": git_state(),
        "machine": machine(),
        "args": vars(args),
        "unit": "weeks of history" if args.mode == "age" else "outputs + usage events",
        "points": points,
        "k": {
            "close": fitted_k(sizes, [point["close_s"] for point in points]),
            **{step: fitted_k(sizes, [point["steps_s"].get(step) for point in points]) for step in steps},
        },
        # The close in yardsticks: a machine that slowed or sped up between points does not bend the curve.
        "k_close_in_yardsticks": fitted_k(sizes, [point["close_s"] / point["yardstick_s"] for point in points]),
        "k_patched": _k_patched(sizes, points, steps),
    }


def _k_patched(sizes: list[int], points: list[dict], steps: list[str]) -> dict | None:
    """k of the --compare module's closes, when every point ran it."""
    if not all(point.get("compare") for point in points):
        return None
    medians = [point["compare"]["median"] for point in points]
    return {
        "close": fitted_k(sizes, [median["close_s"] for median in medians]),
        **{step: fitted_k(sizes, [median["steps_s"].get(step) for median in medians]) for step in steps},
    }


def print_report(report: dict) -> None:
    points, unit = report["points"], report["unit"]
    print()
    print(f"{report['workload']}: median seconds per step, by {unit}; k = fitted exponent of cost ∝ size^k")
    header = ["step", *(f"{point['size']:,}" for point in points), "k"]
    rows = [["close", *(f"{point['close_s']:.2f}" for point in points), _k(report["k"]["close"])]]
    for step in report["k"]:
        if step != "close":
            rows.append([step, *(f"{point['steps_s'].get(step) or 0:.3f}" for point in points), _k(report["k"][step])])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  " + "  ".join(cell.rjust(width) if i else cell.ljust(width) for i, (cell, width) in
                               enumerate(zip(row, widths, strict=True))))  # fmt: skip
    print(f"  peak RSS (MB): {' / '.join(f'{point["peak_rss_mb"]:.0f}' for point in points)}")
    sticks = " / ".join(f"{point['yardstick_s']:.2f}" for point in points)
    print(f"  yardstick (s): {sticks}; close in yardsticks k {_k(report['k_close_in_yardsticks'])}")
    if report.get("k_patched"):
        patched = [point["compare"]["median"] for point in points]
        print(f"  patched ({report['args']['compare']}), paired with the above:")
        print("  " + "  ".join(["close", *(f"{median['close_s']:.2f}" for median in patched),
                                _k(report["k_patched"]["close"])]))  # fmt: skip
        for step in report["k_patched"]:
            if step != "close":
                print("  " + "  ".join([step, *(f"{median['steps_s'].get(step) or 0:.3f}" for median in patched),
                                        _k(report["k_patched"][step])]))  # fmt: skip


def _k(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def main() -> None:
    parser = workload_parser(__doc__)
    parser.add_argument("--mode", choices=("age", "size"), default="age")
    parser.add_argument("--ages", default="4,26,104", help="weeks of history (age mode; default 4,26,104)")
    parser.add_argument("--sizes", default="100000,300000,1000000", help="outputs + events (size mode)")
    parser.add_argument("--week-outputs", type=int, default=600, help="outputs a week, as many events (age mode)")
    parser.add_argument("--week-labels", type=int, default=120, help="labels a week (age mode)")
    parser.add_argument("--week-users", type=int, default=60, help="new end users a week (age mode)")
    parser.add_argument("--runs", type=int, default=3, help="closes per point (default 3)")
    parser.add_argument("--seed", type=int, default=20261116)
    parser.add_argument("--database", default="expertloop_bench_g", help="prefix of each point's databases")
    parser.add_argument("--warm", action="store_true", help="w4_close.py --warm: libraries imported before the clock")
    parser.add_argument("--reuse", action="store_true", help="w4_close.py --reuse: keep each point's template")
    parser.add_argument("--compare", help="w4_close.py --compare MODULE: each close paired with a patched one")
    args = parser.parse_args()
    sizes = [int(part) for part in (args.ages if args.mode == "age" else args.sizes).split(",")]
    if len(sizes) < 2 or sorted(sizes) != sizes or sizes[0] < 2:
        parser.error("give at least two increasing sizes (ages of at least 2 weeks)")
    points = [run_point(args, size) for size in sizes]
    save_and_print(f"growth-{args.mode}-{new_stamp()}.json", summarise(args, points), print_report)
    OUT.mkdir(exist_ok=True)


if __name__ == "__main__":
    main()
