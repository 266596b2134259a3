"""Dataset files on disk over a project's life (issue 19): what one version's Parquet and hf files cost at W4's size,
what the hourly sweep keeps, and how long an engineer waits for a swept file made again.

    .venv/bin/python bench/version_files_disk.py --template expertloop_bench_w4_tpl   # ~1 min

On a copy of W4's template (`w4_close.py --keep-template` makes it: version 1 of 62,494 rows), in this process with the
production settings, no broker (on-commit tasks run here, as eager Celery does) and a MEDIA_ROOT of its own:
1. render version 1's files, as a worker does after a build;
2. close week 12 (`close_week`: version 2, whose files are rendered on commit);
3. the hourly sweep as it runs 15 days later, keeping each dataset's newest version (DATASET_FILES_KEEP_LATEST=1);
4. a download of version 1's Parquet file after the sweep: asked for (`prepare_file`), then rendered; its SHA-256
   must be the first render's.
Prints and writes to bench/out/files-<stamp>.json the bytes on disk after each step and the seconds of each.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from harness.database import copy_database, django_setup, drop_database, server_env
from harness.report import git_state, log, machine, new_stamp, save_and_print, workload_parser


def on_disk(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def measure(media: Path) -> dict:
    from django.conf import settings
    from django.core.management import call_command
    from django.utils import timezone

    from labeling.models import CycleStatus, DatasetVersion, ReviewCycle, VersionFile, VersionStatus
    from labeling.services.cycles import close_week
    from labeling.services.version_files import prepare_file, render_version_files, sweep_superseded_files

    call_command("migrate", verbosity=0)  # a template made by an older tree
    figures: dict = {"keep_latest": settings.DATASET_FILES_KEEP_LATEST, "keep_days": settings.DATASET_FILES_KEEP_DAYS}
    first = DatasetVersion.objects.filter(status=VersionStatus.READY).order_by("number").first()
    began = time.perf_counter()
    render_version_files(version_id=first.pk)
    figures["render_v1_s"] = round(time.perf_counter() - began, 2)
    sha = dict(VersionFile.objects.filter(version=first).values_list("format", "sha256"))
    figures["version_files_mb"] = {
        fmt: round(size / 1e6, 1)
        for fmt, size in VersionFile.objects.filter(version=first).values_list("format", "size")
    }
    figures["disk_after_v1_mb"] = round(on_disk(media) / 1e6, 1)
    log(f"version 1's files: {figures['version_files_mb']} MB, rendered in {figures['render_v1_s']} s")

    cycle = ReviewCycle.objects.filter(status=CycleStatus.OPEN).order_by("week").first()
    began = time.perf_counter()
    close_week(project_id=cycle.project_id, week=cycle.week)
    figures["close_with_render_s"] = round(time.perf_counter() - began, 2)
    figures["disk_after_v2_mb"] = round(on_disk(media) / 1e6, 1)
    log(f"closed week {cycle.week} (version 2, rendered on commit): {figures['disk_after_v2_mb']} MB on disk")

    began = time.perf_counter()
    swept = sweep_superseded_files(now=timezone.now() + timedelta(days=settings.DATASET_FILES_KEEP_DAYS + 1))
    figures["sweep_s"] = round(time.perf_counter() - began, 3)
    figures["swept"] = sorted(f"v{row.version.number} {row.format}" for row in swept)
    figures["disk_after_sweep_mb"] = round(on_disk(media) / 1e6, 1)
    log(f"sweep ({figures['sweep_s']} s): {figures['swept']}; {figures['disk_after_sweep_mb']} MB on disk")

    began = time.perf_counter()
    assert prepare_file(version=first, fmt="parquet") is None
    render_version_files(version_id=first.pk)
    figures["made_again_on_request_s"] = round(time.perf_counter() - began, 2)
    again = VersionFile.objects.get(version=first, format="parquet")
    figures["same_bytes"] = again.sha256 == sha["parquet"]
    figures["disk_after_request_mb"] = round(on_disk(media) / 1e6, 1)
    waited, same = figures["made_again_on_request_s"], figures["same_bytes"]
    log(f"v1 Parquet made again on request in {waited} s; same bytes: {same}")
    return figures


def print_report(report: dict) -> None:
    f = report["figures"]
    print("\nDataset files on disk (W4's version 1 and the version of its close):")
    print(f"  one version's files: {f['version_files_mb']} MB")
    print(f"  on disk: after v1 {f['disk_after_v1_mb']} MB, after v2 {f['disk_after_v2_mb']} MB,")
    print(
        f"    after the sweep {f['disk_after_sweep_mb']} MB, after v1's Parquet again {f['disk_after_request_mb']} MB"
    )
    print(f"  sweep {f['sweep_s']} s ({', '.join(f['swept'])})")
    print(f"  made again on request {f['made_again_on_request_s']} s, same bytes: {f['same_bytes']}")


def main() -> int:
    parser = workload_parser(__doc__)
    parser.add_argument("--template", default="expertloop_bench_w4_tpl", help="W4's template database")
    parser.add_argument("--database", default="expertloop_bench_files", help="the copy to measure on (dropped)")
    args = parser.parse_args()
    stamp = new_stamp()
    copy_database(args.template, args.database)
    try:
        with tempfile.TemporaryDirectory(prefix="expertloop-files-") as media:
            django_setup(server_env(args.database, MEDIA_ROOT=media, DATASET_FILES_KEEP_LATEST="1"))
            figures = measure(Path(media))
            from django.db import connections

            connections.close_all()
    finally:
        drop_database(args.database)
    report = {"workload": "version_files_disk", "git": git_state(), "machine": machine(), "figures": figures}
    save_and_print(f"files-{stamp}.json", report, print_report)
    return 0 if figures["same_bytes"] and figures["disk_after_sweep_mb"] < figures["disk_after_v2_mb"] else 1


if __name__ == "__main__":
    sys.exit(main())
