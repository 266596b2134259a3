"""A product process for tests/integration/test_python_client.py: threads log outputs at a steady pace through the
Python client and time every log_output call; what the client sent is left to its exit flush (atexit).

    python client_product.py URL KEY --threads 4 --per-thread 2000 --rate 100

Prints `READY` once the client is made, then, after the client's own exit flush, one JSON line: every call as
(when it began, time.monotonic, comparable with the test's clock; how long it took, ns), the interpreter's garbage
collections as (start, stop, generation) on the same clock, and the client's stats.
"""

import argparse
import atexit
import dataclasses
import gc
import json
import threading
import time

from expertloop_client import Client


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("key")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--per-thread", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0, help="calls per second per thread")
    parser.add_argument("--prefix", default="p")
    args = parser.parse_args()

    calls: list[list[tuple[float, int]]] = [[] for _ in range(args.threads)]
    collections: list[tuple[float, float, int]] = []
    collecting: dict[str, float] = {}

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            collecting["at"] = time.monotonic()
        elif "at" in collecting:
            collections.append((collecting.pop("at"), time.monotonic(), info["generation"]))

    gc.callbacks.append(on_gc)
    # Registered before the client's own handler, so it runs after it (atexit runs last-in, first-out).
    atexit.register(lambda: report(client, calls, collections))
    client = Client(args.url, args.key, exit_timeout=90, max_retry_seconds=120)
    print("READY", flush=True)
    start = threading.Barrier(args.threads)

    def produce(thread: int) -> None:
        mine = calls[thread]
        start.wait()
        began = time.monotonic()
        for index in range(args.per_thread):
            pause = began + index / args.rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            external_id = f"{args.prefix}{thread}-{index}"
            metadata = {"thread": thread, "index": index}
            at = time.monotonic()
            t0 = time.perf_counter_ns()
            client.log_output(external_id, f"Answer {index}", input=f"Question {index}", model="m", metadata=metadata)
            mine.append((at, time.perf_counter_ns() - t0))

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def report(client: Client, calls: list[list[tuple[float, int]]], collections: list) -> None:
    print(
        json.dumps(
            {"calls": [call for mine in calls for call in mine], "collections": collections,
             "stats": dataclasses.asdict(client.stats)}
        ),
        flush=True,
    )  # fmt: skip


if __name__ == "__main__":
    main()
