"""What the benchmarks in bench/ share, so that each workload file holds only its workload and its figures.

    report.py     progress lines, percentiles, the commit and machine measured, result files in bench/out/
    database.py   fresh PostgreSQL databases, the Redis db to flush, the server's environment, Django in-process
    server.py     gunicorn as the Dockerfile runs it, started and stopped by PID (tests/integration use it too)
    sampling.py   RSS and CPU of a server's process tree and of PostgreSQL, read from /proc
    profiling.py  stage timers, cProfile listings, requests through Django's WSGI handler in-process

Scripts run as `python bench/<script>.py` have bench/ on sys.path, so they `import harness` as they
`import records`; the test run puts bench/ on sys.path too (`pythonpath` in pyproject.toml).
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out"  # git-ignored
