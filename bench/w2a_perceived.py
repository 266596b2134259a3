"""W2a perceived next item: one expert in chromium labels with the keyboard while others label at a human pace.

    .venv/bin/python bench/w2a_perceived.py                            # the BENCHMARKS.md workload (~10 min)
    .venv/bin/python bench/w2a_perceived.py --before d296fe8~1         # and another commit, in the same run
    .venv/bin/python bench/w2a_perceived.py --outputs 20000 --labels 30 --runs 1

What one invocation does (see bench/README.md, "W2a"):
  1. the set-up of W2 (bench/w2_labeling.py `set_up_data`): a fresh database, a project whose queue holds
     `--outputs` items (overlap 1), `--background` + 1 experts;
  2. gunicorn for this checkout and, with `--before <commit>`, one for that commit (a git worktree under
     bench/out/, served with `--chdir`: same database, its own code and static files), each as W2 runs it;
  3. runs interleaved (run 1 of each tree, then run 2 …), each after W2's reset of labels and leases:
     `--background` W2 experts label over HTTP at a human pace (think time 2.75–8.25 s per item: W2's
     `--think-ms` 5,500 ± 50 %), and meanwhile one expert in Debian's chromium (Playwright) takes an item
     from the queue's page and labels `--labels` items with the keyboard alone: y, 4, 1, then Enter;
  4. the figure: from the Enter keydown to the animation frame in which the next item's screen is in the
     document (a page load's first frame, or the frame after label.js swapped the screen in), both stamped
     in the page (`performance.timeOrigin + performance.now()`, kept in sessionStorage across a page load);
  5. prints p50/p95/p99 per tree and writes bench/out/w2a-<timestamp>.json.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time

from harness import OUT, ROOT
from harness.database import add_database_options, django_setup, fresh_database, server_env
from harness.report import git_state, log, machine, new_stamp, percentiles, save_and_print, workload_parser
from harness.server import Gunicorn, add_server_options
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright
from w2_labeling import PASSWORD, PROJECT_SLUG, QUEUE_SLUG, Browser, Expert, Labeling, set_up_data, sign_in

TARGET_P95_MS = 100
THINK_MS = 5_500  # W2's --think-ms: each background expert spends 2.75–8.25 s on an item
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
NEXT_PATH = f"/p/{PROJECT_SLUG}/q/{QUEUE_SLUG}/next"

# Stamps, in every document of the measured tab: the Enter keydown, and the first animation frame in which
# an item's screen is in the document (after a page load, or after a script put a new screen in place).
STAMPS = """
(() => {
  const now = () => performance.timeOrigin + performance.now();
  window.addEventListener("keydown", (event) => {
    if (event.key === "Enter") sessionStorage.setItem("w2a-enter", String(now()));
  }, true);
  // The first frame with the item's screen after the latest Enter: later changes to the page (the status said, a
  // lease renewed) leave the stamp as it is.
  const stamp = () => requestAnimationFrame(() => {
    const screen = document.querySelector(".labeling");
    if (!screen) return;
    const key = "w2a-painted-" + screen.dataset.itemId;
    if (Number(sessionStorage.getItem(key)) < Number(sessionStorage.getItem("w2a-enter"))) {
      sessionStorage.setItem(key, String(now()));
    }
  });
  // The whole tree: label.js swaps a screen into <body> and <main>, which stay (the status region a screen reader
  // watches is kept); watching the document element's own children saw only page loads.
  document.addEventListener("DOMContentLoaded", () => {
    stamp();
    new MutationObserver(stamp).observe(document.documentElement, { childList: true, subtree: true });
  });
})();
"""
READ_STAMPS = """(old) => {
  const screen = document.querySelector(".labeling");
  if (!screen || screen.dataset.itemId === old) return null;
  const painted = sessionStorage.getItem("w2a-painted-" + screen.dataset.itemId);
  const entered = Number(sessionStorage.getItem("w2a-enter"));
  // A stamp from before this Enter is an earlier run's (W2's reset hands the same items out again): not yet.
  if (!painted || Number(painted) < entered) return null;
  // The request's share: a swap's fetch, or a page load's POST, redirect and GET until the response ended.
  const fetched = performance.getEntriesByType("resource").filter((entry) => entry.initiatorType === "fetch").pop();
  const [page] = performance.getEntriesByType("navigation");
  const request = fetched ? fetched.duration : page.responseEnd + performance.timeOrigin - entered;
  performance.clearResourceTimings();
  return [screen.dataset.itemId, entered, Number(painted), request];
}"""


class Tree:
    """One checkout under test: its gunicorn, its background experts' sessions, its chromium context."""

    def __init__(self, name: str, path, env: dict, args, stamp: str, usernames: list[str]):
        self.name, self.path = name, path
        options = ["--chdir", str(path)] if path != ROOT else []
        self.server = Gunicorn(
            env=env, workers=args.workers, worker_class=args.worker_class, threads=args.threads,
            log_path=OUT / f"w2a-{stamp}-{name}-gunicorn.log", options=options, ready_path="/login/",
        )  # fmt: skip
        self.usernames = usernames
        self.browsers: list[Browser] = []
        self.context = None
        self.page = None
        self.latencies_ms: list[float] = []
        self.runs: list[dict] = []

    def start(self, chromium) -> None:
        self.server.start()
        self.browsers = [Browser(self.server.port) for _ in self.usernames[1:]]
        for browser, username in zip(self.browsers, self.usernames[1:], strict=True):
            sign_in(browser, username)
        self.context = chromium.new_context(viewport={"width": 1280, "height": 900})
        self.context.add_init_script(STAMPS)
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.page.goto(f"{self.server.url}/login/")
        self.page.fill("input[name=username]", self.usernames[0])
        self.page.fill("input[name=password]", PASSWORD)
        with self.page.expect_navigation():
            self.page.keyboard.press("Enter")

    def stop(self) -> None:
        if self.context is not None:
            self.context.close()
        for browser in self.browsers:
            browser.close()
        self.server.stop()


def take_first_item(page, url: str) -> None:
    """GET the queue's next page (leases nothing) and press its button: the item's page loads."""
    page.goto(url + NEXT_PATH)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").first.click()
    page.wait_for_selector(".labeling")


def label_one(page, think_s: float) -> tuple[int, float, float]:
    """Answer with keys, submit with Enter; (the next item's id, ms from the Enter keydown to its frame, ms of
    that spent waiting for the server's answer)."""
    old = page.locator(".labeling").get_attribute("data-item-id")
    time.sleep(think_s)
    for key in ("y", "4", "1"):
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            found = page.evaluate(READ_STAMPS, old)
        except PlaywrightError:  # the page is being replaced by the next one: ask again
            found = None
        if found:
            item_id, entered, painted, request = found
            return int(item_id), painted - entered, request
        time.sleep(0.005)
    raise SystemExit(f"no next item on screen 30 s after submitting item {old}: {page.url}")


def measure(tree: Tree, bench: Labeling, args, run: int) -> dict:
    bench.reset()
    bench.tickets = 10**9  # the background labels until told to stop
    pairs = enumerate(zip(tree.browsers, tree.usernames[1:], strict=True))
    experts = [Expert(bench, n, browser, name) for n, (browser, name) in pairs]
    bench.barrier = threading.Barrier(len(experts) + 1)
    for expert in experts:
        expert.start()
    bench.barrier.wait()
    load = os.getloadavg()[0]
    take_first_item(tree.page, tree.server.url)
    latencies, requests = [], []
    for _ in range(args.labels):
        _, ms, request_ms = label_one(tree.page, args.browser_think_ms / 1000)
        latencies.append(ms)
        requests.append(request_ms)
    with bench.lock:
        bench.tickets = 0
    for expert in experts:
        expert.join()
    background = sum(len(expert.submitted) for expert in experts)
    errors = [error for expert in experts for error in expert.errors]
    tree.latencies_ms += latencies
    result = {
        "run": run, "tree": tree.name, "perceived_ms": percentiles(latencies), "latencies_ms": latencies,
        "request_ms": percentiles(requests),
        "background_labels": background, "background_errors": errors[:5], "load_average_1min_before": load,
    }  # fmt: skip
    tree.runs.append(result)
    p = result["perceived_ms"]
    log(
        f"run {run} · {tree.name}: perceived p50 {p['p50_ms']:.0f} / p95 {p['p95_ms']:.0f} / p99 {p['p99_ms']:.0f} ms "
        f"over {len(latencies)} labels, of which the request p50 {result['request_ms']['p50_ms']:.0f} ms; "
        f"background experts labeled {background}" + (f", errors {errors[:2]}" if errors else "")
    )
    return result


def worktree(commit: str):
    path = OUT / f"w2a-tree-{commit.replace('/', '_').replace('~', '-')}"
    if not path.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), commit], cwd=ROOT, check=True)
    return path


def print_report(report: dict) -> None:
    config = report["config"]
    print(
        f"\nW2a perceived next item: {config['labels']} labels by keyboard in chromium per run, "
        f"{config['background']} experts at a human pace, {config['outputs']:,} items, {config['runs']} run(s), "
        f"gunicorn {config['workers']} {config['worker_class']} worker(s)"
    )
    print(f"{'tree':<28}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}   runs p95")
    for tree in report["trees"]:
        p = tree["perceived_ms"]
        runs = ", ".join(f"{run['perceived_ms']['p95_ms']:.0f}" for run in tree["runs"])
        print(
            f"{tree['name']:<28}{p['p50_ms']:>9.0f}{p['p95_ms']:>9.0f}{p['p99_ms']:>9.0f}{p['max_ms']:>9.0f}   {runs}"
        )
    print(f"target: p95 ≤ {TARGET_P95_MS} ms (latencies pooled over the runs)")


def main() -> None:
    parser = workload_parser(__doc__)
    parser.add_argument("--outputs", type=int, default=100_000, help="items in the queue (default 100,000)")
    parser.add_argument("--labels", type=int, default=100, help="labels by the chromium expert per run (default 100)")
    parser.add_argument("--background", type=int, default=16, help="experts labeling over HTTP (default 16)")
    parser.add_argument("--browser-think-ms", type=float, default=300, help="pause before answering (default 300)")
    parser.add_argument("--runs", type=int, default=3, help="runs per tree (default 3)")
    parser.add_argument("--before", default="", help="a commit to measure too, runs interleaved")
    add_server_options(parser, workers=2)
    add_database_options(parser, database="expertloop_bench_w2a")
    args = parser.parse_args()
    args.overlap, args.experts, args.think_ms = 1, args.background + 1, THINK_MS
    env = server_env(args.database, args.redis_url, SECURE_COOKIES="false")
    stamp = new_stamp()
    with fresh_database(args.database, redis_url=args.redis_url, keep=args.keep_db) as database:
        log(f"Fresh database {args.database}: W2's set-up with {args.outputs:,} items and {args.experts} experts …")
        django_setup(env)
        setup = set_up_data(args)
        bench = Labeling(args)
        bench.db = database
        paths = [("this checkout", ROOT)] + (
            [(f"before ({args.before})", worktree(args.before))] if args.before else []
        )
        trees = [Tree(name, path, env, args, stamp, setup["usernames"]) for name, path in paths]
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM)
            try:
                for tree in trees:
                    log(f"Starting {tree.name} ({tree.path}) …")
                    tree.start(chromium)
                    measure(tree, bench, args, 0)  # warm-up: every worker renders every page
                    tree.latencies_ms, tree.runs = [], []
                for run in range(1, args.runs + 1):
                    for tree in trees:
                        measure(tree, bench, args, run)
            finally:
                for tree in trees:
                    tree.stop()
                chromium.close()
    report = {
        "workload": "W2a perceived next item",
        "timestamp": stamp,
        "config": {
            "outputs": args.outputs,
            "labels": args.labels,
            "background": args.background,
            "runs": args.runs,
            "think_ms": THINK_MS,
            "browser_think_ms": args.browser_think_ms,
            "workers": args.workers,
            "worker_class": args.worker_class,
            "threads": args.threads,
            "before": args.before,
        },  # fmt: skip
        "git": git_state(),
        "machine": machine(),
        "target_p95_ms": TARGET_P95_MS,
        "trees": [
            {"name": tree.name, "perceived_ms": percentiles(tree.latencies_ms), "runs": tree.runs} for tree in trees
        ],
    }
    save_and_print(f"w2a-{stamp}.json", report, print_report)


if __name__ == "__main__":
    main()
