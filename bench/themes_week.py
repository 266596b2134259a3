"""The close's "themes" step on a large week: N thumbs-down outputs (bench/records.py texts, ~1 KB each) in one cycle
week, `refresh_week_themes` timed three times (median). Past MAX_DOCUMENTS failures the step themes an evenly spread
choice, so its time levels off.

    .venv/bin/python bench/themes_week.py [failures ...]      (default: 1000 5000 20000)
"""

import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.database import django_setup, fresh_database, server_env  # noqa: E402
from records import record  # noqa: E402


def main(sizes: list[int]) -> None:
    with fresh_database("bench_themes") as database:
        django_setup(server_env(database.name))
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from labeling.models import Output, Project
        from labeling.rules import calendar
        from labeling.services.themes import refresh_week_themes

        for size in sizes:
            project = Project.objects.create(slug=f"themes-{size}", name=f"Themes {size}", time_zone="UTC")
            week = calendar.current_week(project) - timedelta(days=7)
            start = calendar.week_start(project, week)
            rows = []
            for index in range(size):
                given = record(index)
                moment = start + timedelta(seconds=index)
                rows.append(Output(project=project, external_id=str(index), occurred_at=moment, received_at=moment,
                                   input=given["input"], output=given["output"], feedback_score=-1,
                                   content_hash=f"{index:064x}"))  # fmt: skip
            Output.objects.bulk_create(rows, batch_size=2_000)
            seconds = []
            for _ in range(3):
                began = time.perf_counter()
                themes = refresh_week_themes(project=project, week=week)
                seconds.append(time.perf_counter() - began)
            print(f"{size:>7,} failures: themes step {statistics.median(seconds):.2f} s (median of 3: "
                  f"{', '.join(f'{s:.2f}' for s in seconds)}), {themes} themes")  # fmt: skip


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [1_000, 5_000, 20_000])
