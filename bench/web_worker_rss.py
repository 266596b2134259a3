"""Web worker RSS: gunicorn as docker runs it serves the pages and a dataset version in every download format; the
RSS of each worker is read after start, after the pages, and after each format (issue 13: ≤ 120 MB throughout).

    .venv/bin/python bench/web_worker_rss.py
    .venv/bin/python bench/web_worker_rss.py --server-python /path/to/venv/bin/python   # the image's packages only

What one run does:
  1. creates a fresh database, migrates it, and (in a child process, through the services) labels 200 outputs, builds a
     dataset version and renders its Parquet and hf files as the Celery worker does (into a temporary MEDIA_ROOT);
     leases an expert an item; makes a `read` API key;
  2. starts gunicorn with the Dockerfile's options (gthread, 4 threads, --timeout 300, --worker-tmp-dir /dev/shm),
     `--workers` workers (default 2), DEBUG off, the server's Python from --server-python (default this one);
  3. signs an expert, a lead and an operator in through /login/ (each page must answer 200); reads every worker's RSS
     (/proc VmRSS) after one /healthz, after the pages (each `--repeat` times, a new connection each, so that every
     worker serves them), then after each download format in turn; prints the table, writes bench/out/rss-<stamp>.json.

The dev venv has packages the image has not (opentelemetry-sdk, which redis imports when present, pandas, datasets):
give --server-python a venv made from requirements.txt only to measure what the image runs.
"""

from __future__ import annotations

import http.client
import os
import sys
import tempfile
import urllib.parse

from harness import ROOT
from harness.database import add_database_options, fresh_database, run_setup, server_env
from harness.report import git_state, log, machine, new_stamp, save_and_print, workload_parser
from harness.sampling import children, rss_kb
from harness.server import Gunicorn
from w2_labeling import Browser, hidden_fields

SETUP = """
import django; django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from labeling.models import Queue
from labeling.services.api_keys import create_api_key
from labeling.services.assignment import next_item
from labeling.services.datasets import build_version, create_dataset
from labeling.services.routing import route_outputs
from labeling.services.version_files import render_version_files
from tests.factories import MembershipFactory, OutputFactory, ProjectFactory, UserFactory
from tests.helpers.labeling import label_outputs
project = ProjectFactory(slug="support-bot", name="Support bot")
lead = UserFactory(username="lena")
MembershipFactory(project=project, user=lead, role="lead")
UserFactory(username="otto", is_superuser=True)  # an operator: the platform page
label_outputs(project, {rows})
dataset = create_dataset(project=project, spec={{"name": "Support eval"}})
version = build_version(dataset_id=dataset.pk)
render_version_files(version_id=version.pk)
# Outputs left to label, and one leased to the expert lab0: the labeling page they see.
waiting = [OutputFactory(project=project, external_id=f"wait-{{n}}", input="Where is my parcel?") for n in range(10)]
route_outputs(project_id=project.pk, output_ids=[output.pk for output in waiting])
item = next_item(expert=lead.__class__.objects.get(username="lab0"), queue=Queue.objects.get(project=project))
key = create_api_key(project=project, name="reader", scopes=["read"]).secret
print("BENCH", key, dataset.slug, version.number, item.pk)
"""
# (who, path): every page a web worker serves often, each answered 200 to a user signed in through /login/.
PAGES = [("lab0", "/p/support-bot/items/{item}/"), ("lab0", "/p/support-bot/"),
         ("lena", "/"), ("lena", "/p/support-bot/"), ("lena", "/p/support-bot/manage/queues/"),
         ("lena", "/p/support-bot/manage/experts/"), ("lena", "/p/support-bot/manage/rubric/"),
         ("lena", "/p/support-bot/meeting/"), ("lena", "/p/support-bot/explore/"),
         ("lena", "/p/support-bot/datasets/"), ("lena", "/p/support-bot/datasets/support-eval/"),
         ("otto", "/platform/")]  # fmt: skip
PASSWORD = "correct horse battery"  # tests.factories.PASSWORD, every factory user's
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


def sign_in(port: int, username: str) -> dict[str, str]:
    """Sign in through /login/ as a browser does (csrf token and cookie, then the form); the headers of its pages."""
    browser = Browser(port)
    try:
        status, _, page, _ = browser.request("GET", "/login/")
        token = hidden_fields(page).get("csrfmiddlewaretoken", "")
        form = [("csrfmiddlewaretoken", token), ("username", username), ("password", PASSWORD), ("next", "")]
        status, _, page, _ = browser.request("POST", "/login/", form=form, referer="/login/")
        if status != 302 or "sessionid" not in browser.cookies:
            raise SystemExit(f"POST /login/ for {username}: HTTP {status} {page[:300]!r}")
        cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
        return {"Cookie": cookie, "Host": f"127.0.0.1:{port}", "Accept": "text/html"}
    finally:
        browser.close()


def final_path(port: int, path: str, headers: dict[str, str]) -> str:
    """The page a path lands on (the meeting page redirects to the week it discusses); it must answer 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status in (301, 302):
            return final_path(port, urllib.parse.urlsplit(response.headers["Location"]).path, headers)
        if response.status != 200:
            raise SystemExit(f"GET {path}: HTTP {response.status}, not 200")
        return path
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
        key, dataset, number, item = run_setup(SETUP.format(rows=args.rows), env)
        server = Gunicorn(
            env=env, workers=args.workers, threads=4, timeout=300,
            options=["--worker-tmp-dir", "/dev/shm"], ready_path="/healthz",
        )  # fmt: skip
        server.args[0] = args.server_python
        with server:
            steps.append({"after": "start (/healthz)", "rss_mb": worker_rss(server), "statuses": []})
            sessions = {who: sign_in(server.port, who) for who in sorted({who for who, _ in PAGES})}
            pages = [(who, final_path(server.port, path.format(item=item), sessions[who])) for who, path in PAGES]
            statuses = [get(server.port, path, sessions[who])[0] for who, path in pages for _ in range(args.repeat)]
            if set(statuses) != {200}:
                raise SystemExit(f"pages answered {sorted(set(statuses))}, not only 200")
            steps.append({"after": "pages", "rss_mb": worker_rss(server), "statuses": sorted(set(statuses)),
                          "pages": [path for _, path in pages]})  # fmt: skip
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
