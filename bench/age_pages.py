"""The pages that read a project's whole history, at its age: the retention API over every week (at most 104) and
the open week's meeting page, on a copy of a `w4_close.py` / `growth.py` template (issue 19).

    .venv/bin/python bench/w4_close.py --weeks 104 --outputs 62400 --events 62400 --labels 12480 --users 6240 \\
        --runs 1 --database expertloop_bench_g_age_104 --reuse        # makes (and keeps) the template
    .venv/bin/python bench/age_pages.py --template expertloop_bench_g_age_104_tpl

Each URL is requested `--requests` times (after one warm-up) by Django's test client in this process, signed in as
the project's lead, production settings with DEBUG off; it prints the median and the range of the server time, the
queries of one request and the body's size. Run it on two templates of different ages (4 and 104 weeks) to see
whether a page grows with the project's age.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.database import copy_database, django_setup, drop_database, server_env  # noqa: E402


def _record(queries: list[str], execute, sql, params, many, context):
    queries.append(sql)
    return execute(sql, params, many, context)


def main(template: str, database: str, requests: int) -> None:
    copy_database(template, database)
    try:
        django_setup(server_env(database))
        from django.db import connection
        from django.test import Client

        from labeling.models import Membership, Project, RetentionCell, ReviewCycle, week_label
        from labeling.selectors.metrics import MAX_WEEKS

        project = Project.objects.get()
        lead = Membership.objects.filter(project=project, role="lead").select_related("user").first().user
        # The week after the last closed one: the template leaves it open (its close is what w4_close.py times).
        open_week = ReviewCycle.objects.filter(project=project, status="closed").order_by("-week").first().week
        open_week = open_week.fromordinal(open_week.toordinal() + 7)
        first = RetentionCell.objects.filter(project=project).order_by("cohort_week").first().cohort_week
        weeks = min(MAX_WEEKS, (open_week - first).days // 7 + 1)
        first_label = week_label(open_week.fromordinal(open_week.toordinal() - 7 * (weeks - 1)))
        client = Client(HTTP_HOST="localhost")
        client.force_login(lead)
        urls = {
            f"retention API, {weeks} weeks": (
                f"/api/v1/metrics/retention?project={project.slug}&from={first_label}&to={week_label(open_week)}"
            ),
            "retention API, 12 weeks (default)": f"/api/v1/metrics/retention?project={project.slug}",
            f"meeting page, open week {week_label(open_week)}": f"/p/{project.slug}/meeting/{week_label(open_week)}/",
        }
        cells = RetentionCell.objects.filter(project=project).count()
        print(f"{template}: {weeks} weeks of cohorts up to the open week {week_label(open_week)}, {cells:,} cells")
        for name, url in urls.items():
            response = client.get(url, secure=True)
            assert response.status_code == 200, (url, response.status_code, response.content[:300])
            queries: list[str] = []
            with connection.execute_wrapper(partial(_record, queries)):
                client.get(url, secure=True)
            timings = []
            for _ in range(requests):
                started = time.perf_counter()
                client.get(url, secure=True)
                timings.append((time.perf_counter() - started) * 1000)
            print(
                f"  {name:<40} median {statistics.median(timings):7.1f} ms (min {min(timings):.1f}, max "
                f"{max(timings):.1f}; {len(queries)} queries, {len(response.content) / 1024:,.0f} KB)"
            )
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(database)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", required=True, help="a w4_close.py template database (<prefix>_tpl)")
    parser.add_argument("--database", default="expertloop_bench_age_pages", help="the copy's name (dropped after)")
    parser.add_argument("--requests", type=int, default=20)
    options = parser.parse_args()
    main(options.template, options.database, options.requests)
