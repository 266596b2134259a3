"""Forked children of a product process log through the client their parent made, for
tests/integration/test_python_client.py:

    python client_forks.py URL KEY

multiprocessing children leave with os._exit, past atexit: one output from a `fork` Process, four from a Pool's
workers (closed and joined, as a pool is meant to end), nothing from the parent itself. A second client, closed
before the fork, logs one output in a child and flushes: a closed client stays closed there. Exits 0 once every
child exited 0.
"""

import multiprocessing
import sys

from expertloop_client import Client

client: Client
closed: Client


def log_one(external_id: str) -> None:
    client.log_output(external_id, "Logged in a child process.")


def log_after_close() -> None:
    closed.log_output("fork-closed", "Logged in a child, through a client closed before the fork.")
    closed.flush(timeout=10)
    if closed.stats.dropped != 1:
        sys.exit(f"a closed client took a record in the child: {closed.stats}")


def main() -> None:
    global client, closed
    url, key = sys.argv[1:3]
    fork = multiprocessing.get_context("fork")
    client = Client(url, key, flush_interval=3600)  # only an exit flush sends what the children logged
    closed = Client(url, key)
    closed.close()

    children = [fork.Process(target=log_one, args=("fork-process",)), fork.Process(target=log_after_close)]
    for child in children:
        child.start()
        child.join()
    pool = fork.Pool(2)
    pool.map(log_one, [f"fork-pool-{n}" for n in range(4)], chunksize=1)
    pool.close()
    pool.join()
    sys.exit(max(child.exitcode for child in children))


if __name__ == "__main__":
    main()
