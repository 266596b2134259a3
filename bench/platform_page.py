"""The platform page (/platform/) with many projects: 200 projects, each with --history-weeks (default 52: a year)
of usage rows, this and last week's queue weeks, quality and agreement of the verdict question, a closed cycle, a
ready dataset version, ingest errors, and alerts (unresolved on every 4th project, resolved ones over the history),
the page rendered by Django's test client in this process (an operator's session, DEBUG off): the median server time
of --requests requests per sort, and the queries each made (the same whatever the number of projects).

    .venv/bin/python bench/platform_page.py [--projects 200] [--history-weeks 52] [--requests 20] \
        [--database el_platform_bench]

Needs only PostgreSQL (no Redis). The database is made fresh and dropped afterwards.
"""

import argparse
import statistics
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.database import django_setup, fresh_database, server_env  # noqa: E402
from harness.profiling import cprofile_text  # noqa: E402

TARGET_MS = 300


def _record(queries: list[str], execute, sql, params, many, context):
    queries.append(sql)
    return execute(sql, params, many, context)


def main(projects: int, requests: int, database_name: str, history_weeks: int, profile: bool = False) -> None:
    with fresh_database(database_name) as database:
        django_setup(server_env(database.name))
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Permission
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client

        from labeling.models import Alert
        from tests.helpers.platform import plant_alerts, plant_projects

        call_command("migrate", verbosity=0)
        began = time.perf_counter()
        planted = plant_projects(projects, history_weeks=history_weeks)
        alerts = plant_alerts(planted, history_weeks=history_weeks)
        unresolved = Alert.objects.unresolved().count()
        print(
            f"{projects} projects × {history_weeks} weeks of usage rows, {alerts} alerts ({unresolved} unresolved) "
            f"planted in {time.perf_counter() - began:.1f} s"
        )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        operator = get_user_model().objects.create_user(username="operator", password="unused-bench-password")
        operator.user_permissions.add(Permission.objects.get(codename="operate_all_projects"))
        client = Client(HTTP_HOST="localhost")
        client.force_login(operator)

        for query in ("", "?sort=pass_rate&dir=desc", "?sort=close&dir=desc"):
            url = f"/platform/{query}"
            response = client.get(url, secure=True)
            assert response.status_code == 200, response.status_code
            assert response.content.count(b"<tr data-project=") == projects
            queries: list[str] = []
            # A wrapper, not CaptureQueriesContext: it counts whatever the request does to the connection.
            with connection.execute_wrapper(partial(_record, queries)):
                client.get(url, secure=True)
            timings = []
            for _ in range(requests):
                started = time.perf_counter()
                client.get(url, secure=True)
                timings.append((time.perf_counter() - started) * 1000)
            median = statistics.median(timings)
            print(
                f"{url:<32} median {median:6.1f} ms (min {min(timings):.1f}, max {max(timings):.1f}; "
                f"{len(queries)} queries, {len(response.content) / 1024:.0f} KB) — target ≤ {TARGET_MS} ms: "
                f"{'met' if median <= TARGET_MS else 'MISSED'}"
            )
        if profile:
            _profile(lambda: client.get("/platform/", secure=True))


def _profile(request, top: int = 30) -> None:
    """Where one request's time goes (cProfile over five requests, by own time)."""
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(5):
        request()
    profiler.disable()
    print(cprofile_text(profiler, count=top))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--history-weeks", type=int, default=52, help="Weeks of usage rows per project (at least 8).")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--database", default="el_platform_bench")
    parser.add_argument("--profile", action="store_true", help="Then print where /platform/'s time goes (cProfile).")
    options = parser.parse_args()
    if options.history_weeks < 8:
        parser.error("--history-weeks is at least 8 (the page's trend)")
    main(options.projects, options.requests, options.database, options.history_weeks, options.profile)
