"""Web worker RSS: gunicorn as docker runs it serves the pages and a dataset version in every download format; the
RSS of each worker is read after start, after the pages, and after each format (issue 13: ≤ 120 MB throughout).

    .venv/bin/python bench/web_worker_rss.py
    .venv/bin/python bench/web_worker_rss.py --server-python /path/to/venv/bin/python   # the image's packages only

What one run does:
  1. creates a fresh database, migrates it, and (in a child process, through the services) labels 200 outputs, builds a
     dataset version and renders its Parquet and hf files as the Celery worker does (into a temporary MEDIA_ROOT);
     makes a `read` API key and a signed-in lead's session;
  2. starts gunicorn with the Dockerfile's options (gthread, 4 threads, --timeout 300, --worker-tmp-dir /dev/shm),
     `--workers` workers (default 2), DEBUG off, the server's Python from --server-python (default this one);
  3. reads every worker's RSS (/proc VmRSS) after one /healthz, after the pages (each `--repeat` times, so that every
     worker serves them), then after each download format in turn; prints the table, writes bench/out/rss-<stamp>.json.

The dev venv has packages the image has not (opentelemetry-sdk, which redis imports when present, pandas, datasets):
give --server-python a venv made from requirements.txt only to measure what the image runs.
"""

from __future__ import annotations

import http.client
import os
import sys
import tempfile

from harness import ROOT
from harness.database import add_database_options, fresh_database, run_setup, server_env
from harness.report import git_state, log, machine, new_stamp, save_and_print, workload_parser
from harness.sampling import children, rss_kb
from harness.server import Gunicorn

SETUP = """
import django; django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.auth import SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY
from labeling.services.api_keys import create_api_key
from labeling.services.datasets import build_version, create_dataset
from labeling.services.version_files import render_version_files
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.helpers.labeling import label_outputs
project = ProjectFactory(slug="support-bot", name="Support bot")
lead = UserFactory(username="lena")
MembershipFactory(project=project, user=lead, role="lead")
label_outputs(project, {rows})
dataset = create_dataset(project=project, spec={{"name": "Support eval"}})
version = build_version(dataset_id=dataset.pk)
render_version_files(version_id=version.pk)
key = create_api_key(project=project, name="reader", scopes=["read"]).secret
session = SessionStore()
session[SESSION_KEY], session[BACKEND_SESSION_KEY] = str(lead.pk), "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = lead.get_session_auth_hash()
session.create()
print("BENCH", key, session.session_key, dataset.slug, version.number)
"""
PAGES = ["/", "/p/support-bot/", "/p/support-bot/datasets/", "/p/support-bot/datasets/support-eval/",
         "/p/support-bot/manage/queues/", "/p/support-bot/manage/experts/", "/p/support-bot/manage/rubric/",
         "/p/support-bot/explore/", "/p/support-bot/meeting/"]  # fmt: skip
FORMATS = ["jsonl", "csv", "parquet", "hf", "openai-chat", "langsmith"]


def get(port: int, path: str, headers: dict[str, str]) -> tuple[int, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        size = 0
        while chunk := response.read(65536):
            size += len(chunk)
        return response.status, size
    finally:
        conn.close()


def worker_rss(server: Gunicorn) -> list[float]:
    return sorted(round(rss_kb(pid) / 1024, 1) for pid in children(server.pid))


def main() -> None:
    parser = workload_parser(__doc__)
    add_database_options(parser, database="bench_web_rss", redis_url="redis://127.0.0.1:6379/14")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rows", type=int, default=200, help="labeled outputs in the dataset version")
    parser.add_argument("--repeat", type=int, default=6, help="requests of each page or format")
    parser.add_argument("--server-python", default=sys.executable, help="the Python gunicorn runs with")
    args = parser.parse_args()
    media = tempfile.mkdtemp(prefix="bench-media-")
    steps: list[dict] = []
    with fresh_database(args.database, redis_url=args.redis_url, keep=args.keep_db):
        env = server_env(args.database, args.redis_url, MEDIA_ROOT=media, PYTHONPATH=str(ROOT), SECURE_COOKIES="false")
        log(f"setting up {args.rows} labeled outputs and a version with its files…")
        key, session, dataset, number = run_setup(SETUP.format(rows=args.rows), env)
        server = Gunicorn(
            env=env, workers=args.workers, threads=4, timeout=300,
            options=["--worker-tmp-dir", "/dev/shm"], ready_path="/healthz",
        )  # fmt: skip
        server.args[0] = args.server_python
        with server:
            steps.append({"after": "start (/healthz)", "rss_mb": worker_rss(server), "statuses": []})
            browser = {"Cookie": f"sessionid={session}", "Host": "127.0.0.1", "X-Forwarded-Proto": "https"}
            statuses = [get(server.port, page, browser)[0] for page in PAGES for _ in range(args.repeat)]
            steps.append({"after": "pages", "rss_mb": worker_rss(server), "statuses": sorted(set(statuses))})
            api = {"Authorization": f"Bearer {key}", "Host": "127.0.0.1", "X-Forwarded-Proto": "https"}
            base = f"/api/v1/projects/support-bot/datasets/{dataset}/versions/{number}/download?format="
            for fmt in FORMATS:
                answers = [get(server.port, base + fmt, api) for _ in range(args.repeat)]
                steps.append(
                    {
                        "after": fmt,
                        "rss_mb": worker_rss(server),
                        "statuses": sorted({status for status, _ in answers}),
                        "bytes": answers[0][1],
                    }
                )
            server_log = server.output()
    report = {
        "workload": "web worker RSS",
        "git": git_state(),
        "machine": machine(),
        "load_average": os.getloadavg(),
        "server_python": args.server_python,
        "workers": args.workers,
        "steps": steps,
        "peak_mb": max(max(step["rss_mb"]) for step in steps),
    }
    if any(status >= 500 for step in steps for status in step["statuses"]):
        print(server_log[-3000:])

    def show(figures: dict) -> None:
        print(f"web worker RSS, {figures['workers']} gthread workers, load average {figures['load_average']}")
        for step in figures["steps"]:
            print(f"  after {step['after']:<18} {step['rss_mb']} MB   statuses {step['statuses']}")
        print(f"  peak {figures['peak_mb']} MB (target ≤ 120 MB)")

    save_and_print(f"rss-{new_stamp()}.json", report, show)


if __name__ == "__main__":
    main()
