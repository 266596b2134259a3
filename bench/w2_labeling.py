"""W2 labeling benchmark: 16 experts label 2,000 items through the real web UI, against a 100,000-item queue.

    .venv/bin/python bench/w2_labeling.py                     # the BENCHMARKS.md workload (~5 min)
    .venv/bin/python bench/w2_labeling.py --overlap 3 --runs 1  # 3 distinct experts per item
    .venv/bin/python bench/w2_labeling.py --sweep sync:2,sync:4,gthread:2x4   # compare server set-ups
    .venv/bin/python bench/w2_labeling.py --direct            # the same loop through the services, in-process

What one invocation does (see bench/README.md, "W2 labeling"):
  1. a fresh PostgreSQL database, migrated, with (Django in this process) a project, a rubric (binary
     `correct`, rating 1-5 `helpful`, choice `tone`), N outputs (bench/records.py) stored through
     `labeling.services.ingest.ingest_outputs` in batches of 1,000 while the project has no queue, then
     one queue (overlap, no quota, sample rate 1) filled by `routing.backfill_queue`, and E expert users;
  2. gunicorn `expertloop.wsgi` (DEBUG=false, Redis db 14 flushed before and after, an access log with
     each request's server-side time), every expert signed in through /login/ (csrf token + cookie),
     and a warm-up (then reset) so every worker has rendered every page;
  3. for each run: labels, leases and skips reset (the items stay), VACUUM ANALYZE, then E threads, each
     its own cookie-keeping http.client session: POST next once (its 302 names the item), then loop: GET
     the item page (timed: "page"; rubric_id, csrf and `handed` taken from the form) → POST the label
     (timed: "submit"), which saves it, leases the next item and answers 302 to that item's page (or to
     the next-item URL when none is left), until L labels in total. "next-item" is the request that
     hands an expert an item: the first POST next, then every label's POST (so next ≈ submit). The
     server's RSS (master + workers) is sampled every 50 ms;
  4. checks: every item handed to at most `overlap` experts (from the ids each thread was handed) and,
     in the database, every item has at most `overlap` labels from distinct experts, every label fills a
     done slot of its expert, no slot of an item is held twice by one expert, and the only leases left
     are each expert's last hand-out (leased by their last POST, never labeled as the run ended);
  5. prints medians (latencies pooled over the runs, as W1), writes bench/out/w2-<timestamp>.json and,
     when next-item p99 misses the target, profiles the request path in-process (queries per request,
     EXPLAIN ANALYZE of the claim query on the full queue, cProfile).

The client uses only the standard library (http.client, http.cookies), psycopg and redis; Django runs
in this process only for the set-up, --direct and the profile.
"""

from __future__ import annotations

import cProfile
import html
import http.client
import http.cookies
import os
import random
import re
import statistics
import sys
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from pathlib import Path

import psycopg
import records
from harness import OUT, ROOT
from harness.database import add_database_options, django_setup, flush_redis, fresh_database, server_env
from harness.profiling import StageTimer, cprofile_text, stage_medians
from harness.report import git_state, log, machine, new_stamp, percentiles, save_and_print, workload_parser
from harness.sampling import CpuMeter, RssSampler
from harness.server import Gunicorn, add_server_options, free_port

PROJECT_SLUG = "bench-w2"
QUEUE_SLUG = "all"
PASSWORD = "w2-bench-expert-password"
RUBRIC = [
    {"key": "correct", "kind": "binary", "prompt": "Is the answer correct?"},
    {"key": "helpful", "kind": "rating", "prompt": "How helpful is it?", "scale": [1, 5]},
    {"key": "tone", "kind": "choice", "prompt": "Tone", "options": ["neutral", "friendly", "curt"]},
]
LABEL_STUDIO = {"labels_per_s": 7.3, "next_p50_ms": 1100, "next_p99_ms": 1800, "duplicates": 0}
TARGET_NEXT_P99_MS = 25
PHASES = ("next", "page", "submit")
ACCESS_FORMAT = "%(m)s %(U)s %(s)s %(D)s"  # method, path, status, request time in µs (server side)


def answers_for(item_id: int) -> dict:
    """Deterministic answers, as typed values (for --direct) and as the form sends them."""
    return {
        "correct": item_id % 2 == 0,
        "helpful": 1 + item_id % 5,
        "tone": RUBRIC[2]["options"][item_id % 3],
    }


def form_answers(item_id: int) -> list[tuple[str, str]]:
    typed = answers_for(item_id)
    correct = "yes" if typed["correct"] else "no"
    return [("q-correct", correct), ("q-helpful", str(typed["helpful"])), ("q-tone", typed["tone"])]


def parse_sweep(text: str, app: str) -> list[tuple[str, int, int, str]]:
    """'sync:2,gthread:2x4,sync:2@mod:application' → [('sync', 2, 1, app), ('gthread', 2, 4, app), ('sync', 2, 1,
    'mod:application')]: worker class, workers, threads, WSGI app."""
    configs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        part, _, other_app = part.partition("@")
        kind, _, size = part.partition(":")
        workers, _, threads = size.partition("x")
        configs.append((kind, int(workers), int(threads or 1), other_app or app))
    return configs


# ----------------------------------------------------------------------------------------------
# The set-up (Django in this process)


def set_up_data(args) -> dict:
    """Migrate; project, rubric, outputs (no queue yet), then the queue, its backfill, and the experts."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from labeling.models import Item, Membership, Project, Queue, Role, Slot
    from labeling.services import ingest, routing
    from labeling.services.rubrics import publish_rubric

    timings = {}
    began = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    timings["migrate_s"] = time.perf_counter() - began

    project = Project.objects.create(slug=PROJECT_SLUG, name="Bench W2")
    rubric = publish_rubric(project=project, questions=RUBRIC, guidelines="Answer all three questions.")
    began = time.perf_counter()
    created = 0
    for start in range(0, args.outputs, 1_000):
        body = records.batch_body(start, min(start + 1_000, args.outputs))
        created += ingest.ingest_outputs(project=project, body=body).created
    timings["ingest_s"] = time.perf_counter() - began
    if created != args.outputs:
        raise SystemExit(f"ingest created {created} outputs, expected {args.outputs}")
    if Item.objects.exists():
        raise SystemExit("ingest placed items although the project has no queue")

    began = time.perf_counter()
    queue = Queue.objects.create(
        project=project, slug=QUEUE_SLUG, name="All outputs", overlap=args.overlap, sample_rate=1.0, weekly_quota=None
    )
    placed = routing.backfill_queue(queue=queue, chunk=5_000)
    timings["backfill_s"] = time.perf_counter() - began
    slots = Slot.objects.filter(queue=queue).count()
    if placed != args.outputs or slots != args.outputs * args.overlap:
        raise SystemExit(f"backfill placed {placed} items / {slots} slots, expected {args.outputs} / ×{args.overlap}")

    began = time.perf_counter()
    User = get_user_model()
    model = User(username="w2-expert-00")
    model.set_password(PASSWORD)  # one PBKDF2 hash, shared by every expert (same password)
    users = User.objects.bulk_create(
        [User(username=f"w2-expert-{n:02d}", password=model.password) for n in range(1, args.experts + 1)]
    )
    Membership.objects.bulk_create([Membership(user=user, project=project, role=Role.EXPERT) for user in users])
    timings["users_s"] = time.perf_counter() - began
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")
    connection.close()
    return {
        "project_id": project.pk,
        "queue_id": queue.pk,
        "rubric_id": rubric.pk,
        "usernames": [user.username for user in users],
        "timings": {name: round(value, 1) for name, value in timings.items()},
    }


# ----------------------------------------------------------------------------------------------
# The client: one browser-like session per expert


class Browser:
    """A cookie-keeping HTTP/1.1 client on one http.client connection (reopened when the server closes it)."""

    def __init__(self, port: int):
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookies: dict[str, str] = {}
        self.reconnects = 0

    def request(self, method: str, path: str, *, form=None, referer: str | None = None, extra: dict | None = None):
        """(status, headers, body, seconds): the time from sending the request to the last byte read."""
        headers = {"Host": f"127.0.0.1:{self.port}", "User-Agent": "w2-bench", "Accept": "text/html", **(extra or {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = self.origin
        if referer:
            headers["Referer"] = self.origin + referer
        for attempt in (1, 2):
            began = time.perf_counter()
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A kept-alive connection the server closed while idle: nothing was processed; once more.
                self.conn.close()
                self.reconnects += 1
                if attempt == 2:
                    raise
        seconds = time.perf_counter() - began
        for header in response.headers.get_all("Set-Cookie") or []:
            jar = http.cookies.SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or "1970" in (morsel["expires"] or ""):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.coded_value
        return response.status, response.headers, data, seconds

    def close(self) -> None:
        self.conn.close()


_INPUT = re.compile(rb"<input\b[^>]*>", re.I)
_ATTR = re.compile(rb'(\w[\w-]*)="([^"]*)"')
_LABEL_FORM = re.compile(rb'<form\b[^>]*id="label-form".*?</form>', re.S)
_ITEM_PATH = re.compile(r"/items/(\d+)/$")


def hidden_fields(page: bytes, form_pattern: re.Pattern | None = None) -> dict[str, str]:
    """The hidden inputs of a page (or of the form matching form_pattern), as a browser would send them."""
    if form_pattern is not None:
        match = form_pattern.search(page)
        page = match.group(0) if match else b""
    fields = {}
    for tag in _INPUT.findall(page):
        attrs = {k.decode().lower(): html.unescape(v.decode()) for k, v in _ATTR.findall(tag)}
        if attrs.get("type") == "hidden" and "name" in attrs:
            fields[attrs["name"]] = attrs.get("value", "")
    return fields


def sign_in(browser: Browser, username: str) -> None:
    status, _, page, _ = browser.request("GET", "/login/")
    token = hidden_fields(page).get("csrfmiddlewaretoken")
    if status != 200 or not token or "csrftoken" not in browser.cookies:
        raise SystemExit(f"GET /login/ for {username}: HTTP {status}, token {bool(token)}, cookies {browser.cookies}")
    form = [("csrfmiddlewaretoken", token), ("username", username), ("password", PASSWORD), ("next", "")]
    status, headers, page, _ = browser.request("POST", "/login/", form=form, referer="/login/")
    if status != 302 or "sessionid" not in browser.cookies:
        raise SystemExit(f"POST /login/ for {username}: HTTP {status} {page[:300]!r}")


class Expert(threading.Thread):
    """One expert: next → (page → submit, which hands the next item) …, while the shared ticket counter lasts."""

    def __init__(self, bench: Labeling, index: int, browser: Browser, username: str):
        super().__init__(name=f"expert-{index}", daemon=True)
        self.bench, self.index, self.browser, self.username = bench, index, browser, username
        self.latency: dict[str, list[float]] = {phase: [] for phase in PHASES}
        self.handed: list[int] = []  # item ids, in the order next (or a submit) redirected to them
        self.submitted: list[int] = []
        self.errors: list[str] = []
        self.empty = 0  # "all done" answers of next
        self.pace = random.Random(index)  # --think-ms: the time an expert spends on the page, ±50 %

    def fail(self, what: str, status: int, body: bytes) -> None:
        text = re.sub(rb"\s+", b" ", body[:2000]).decode(errors="replace")
        self.errors.append(f"{self.username} {what}: HTTP {status}: {text[:400]}")

    def run(self) -> None:
        bench, browser = self.bench, self.browser
        next_path = f"/p/{PROJECT_SLUG}/q/{QUEUE_SLUG}/next"
        location = None  # the item page the last hand-out redirected to
        swapped = None  # --swap: that page, as the label's POST answered it
        bench.barrier.wait()
        while bench.take_ticket():
            if location is None:
                # The first item (and after "all done"): POST next hands it out (a GET leases nothing).
                token = [("csrfmiddlewaretoken", browser.cookies.get("csrftoken", ""))]
                status, headers, body, seconds = browser.request("POST", next_path, form=token, referer=next_path)
                self.latency["next"].append(seconds * 1000)
                if status == 302 and urllib.parse.urlsplit(headers.get("Location", "")).path == next_path:
                    self.empty += 1  # none left: the GET it redirects to says so
                    status, headers, body, _ = browser.request("GET", next_path)
                    if status != 200 or b"All done" not in body:
                        self.fail("next", status, body)
                    break
                location = self.handed_item(status, headers, body, "next")
                if location is None:
                    break
            item_id = self.handed[-1]

            if swapped is None:
                status, _, page, seconds = browser.request("GET", location)
                self.latency["page"].append(seconds * 1000)
            else:
                status, page, swapped = 200, swapped, None  # --swap: the label's answer was this page
            fields = hidden_fields(page, _LABEL_FORM)
            if status != 200 or "rubric_id" not in fields or "csrfmiddlewaretoken" not in fields:
                self.fail(f"page {location}", status, page)
                break
            if b'name="q-helpful"' not in page:
                self.fail(f"page {location} has no q-helpful field", status, page)
                break
            form = list(fields.items()) + form_answers(item_id)
            if bench.args.think_ms:
                time.sleep(bench.args.think_ms / 1000 * self.pace.uniform(0.5, 1.5))
            # The label's POST answers with the next item: 302 to its page (leased in the same request),
            # or to next_path when the queue has none left for this expert.
            # --swap: as label.js sends it, answered 200 with the next item's page and its address in a header.
            extra = {"X-Swap-Screen": "1"} if getattr(bench.args, "swap", False) else None
            status, headers, body, seconds = browser.request("POST", location, form=form, referer=location, extra=extra)
            self.latency["submit"].append(seconds * 1000)
            if status != (200 if extra else 302):
                self.fail(f"submit {location}", status, body)
                break
            self.submitted.append(item_id)
            handed = headers.get("X-Screen-Location" if extra else "Location", "")
            if urllib.parse.urlsplit(handed).path == next_path:
                location = None
                continue
            self.latency["next"].append(seconds * 1000)  # this POST is what handed the next item
            location = self.handed_item(302, {"Location": handed}, body, f"submit {location}")
            if location is None:
                break
            swapped = body if extra else None

    def handed_item(self, status: int, headers, body: bytes, what: str) -> str | None:
        """The item page a 302 hands out (its id noted in self.handed); None after reporting a failure."""
        location = urllib.parse.urlsplit(headers.get("Location", "")).path
        match = _ITEM_PATH.search(location)
        if status != 302 or not match:
            self.fail(f"{what} (Location {location!r})", status, body)
            return None
        self.handed.append(int(match.group(1)))
        return location


class DirectExpert(threading.Thread):
    """--direct: the same loop through assignment.next_item and labels.submit_label, in this process."""

    def __init__(self, bench: Labeling, index: int, user, queue, rubric):
        super().__init__(name=f"direct-{index}", daemon=True)
        self.bench, self.index, self.user, self.queue, self.rubric = bench, index, user, queue, rubric
        self.username = user.username
        self.latency: dict[str, list[float]] = {"next": [], "submit": []}
        self.handed, self.submitted, self.errors = [], [], []
        self.empty = 0

    def run(self) -> None:
        from django.db import connection

        from labeling.services import assignment, labels

        try:
            self.bench.barrier.wait()
            while self.bench.take_ticket():
                began = time.perf_counter()
                item = assignment.next_item(expert=self.user, queue=self.queue)
                self.latency["next"].append((time.perf_counter() - began) * 1000)
                if item is None:
                    self.empty += 1
                    break
                self.handed.append(item.pk)
                began = time.perf_counter()
                labels.submit_label(expert=self.user, item=item, rubric=self.rubric, answers=answers_for(item.pk))
                self.latency["submit"].append((time.perf_counter() - began) * 1000)
                self.submitted.append(item.pk)
        except Exception as exc:  # noqa: BLE001 - reported as a failed check
            self.errors.append(f"{self.username}: {exc!r}")
        finally:
            connection.close()


# ----------------------------------------------------------------------------------------------
# The benchmark


class Labeling:
    def __init__(self, args):
        self.args = args
        self.db = None  # the harness's Database, while run() has it
        self.lock = threading.Lock()
        self.tickets = 0
        self.barrier: threading.Barrier | None = None

    def take_ticket(self) -> bool:
        with self.lock:
            if self.tickets <= 0:
                return False
            self.tickets -= 1
            return True

    # --- database state

    def reset(self) -> None:
        """Forget every label, lease and skip; the items and their slots stay."""
        conn = self.db.conn
        with conn.transaction():
            conn.execute("DELETE FROM labeling_labelrevision")
            conn.execute("DELETE FROM labeling_label")
            conn.execute("DELETE FROM labeling_skip")
            conn.execute(
                "UPDATE labeling_slot SET state = 'free', expert_id = NULL, leased_at = NULL, lease_expires_at = NULL "
                "WHERE state <> 'free' OR expert_id IS NOT NULL"
            )
            conn.execute("UPDATE labeling_item SET status = 'open', completed_at = NULL WHERE status <> 'open'")
        for table in ("labeling_slot", "labeling_item", "labeling_label", "django_session"):
            conn.execute(f"VACUUM ANALYZE {table}")
        conn.execute("CHECKPOINT")

    def check(self, experts: list, overlap: int, expected: int) -> dict:
        """Duplicates seen by the clients, and the invariants in the database."""
        conn = self.db.conn
        problems = []
        holders: dict[int, set[str]] = defaultdict(set)
        rehanded = 0
        for expert in experts:
            counts = Counter(expert.handed)
            rehanded += sum(n - 1 for n in counts.values())
            for item_id in counts:
                holders[item_id].add(expert.username)
        client_dups = sum(1 for names in holders.values() if len(names) > overlap)
        submitted = sum(len(expert.submitted) for expert in experts)

        def one(sql: str) -> int:
            return conn.execute(sql).fetchone()[0]

        db = {
            "labels": one("SELECT count(*) FROM labeling_label"),
            "items_labeled": one("SELECT count(DISTINCT item_id) FROM labeling_label"),
            "items_over_overlap": one(
                "SELECT count(*) FROM (SELECT item_id FROM labeling_label GROUP BY item_id "
                f"HAVING count(*) > {overlap} OR count(DISTINCT expert_id) < count(*)) t"
            ),
            "slots_held_twice_or_over": one(
                "SELECT count(*) FROM (SELECT item_id FROM labeling_slot WHERE state IN ('leased', 'done') "
                f"GROUP BY item_id HAVING count(DISTINCT expert_id) < count(*) OR count(*) > {overlap}) t"
            ),
            "labels_without_done_slot": one(
                "SELECT count(*) FROM labeling_label l WHERE NOT EXISTS (SELECT 1 FROM labeling_slot s "
                "WHERE s.item_id = l.item_id AND s.expert_id = l.expert_id AND s.state = 'done')"
            ),
            "done_slots": one("SELECT count(*) FROM labeling_slot WHERE state = 'done'"),
            "leased_slots": one("SELECT count(*) FROM labeling_slot WHERE state = 'leased'"),
            "items_complete": one("SELECT count(*) FROM labeling_item WHERE status = 'complete'"),
            "labels_per_item": {
                str(n): c
                for n, c in conn.execute(
                    "SELECT n, count(*) FROM (SELECT count(*) AS n FROM labeling_label GROUP BY item_id) t "
                    "GROUP BY n ORDER BY n"
                ).fetchall()
            },
            "distinct_experts_per_item": {
                str(n): c
                for n, c in conn.execute(
                    "SELECT n, count(*) FROM (SELECT count(DISTINCT expert_id) AS n FROM labeling_label "
                    "GROUP BY item_id) t GROUP BY n ORDER BY n"
                ).fetchall()
            },
        }
        # What each expert submitted is exactly what the database holds for them.
        stored = defaultdict(set)
        for username, item_id in conn.execute(
            "SELECT u.username, l.item_id FROM labeling_label l JOIN auth_user u ON u.id = l.expert_id"
        ).fetchall():
            stored[username].add(item_id)
        mismatched = [e.username for e in experts if set(e.submitted) != stored.get(e.username, set())]
        complete_expected = db["labels"] if overlap == 1 else db["labels_per_item"].get(str(overlap), 0)

        for expert in experts:
            problems.extend(expert.errors[:3])
        if client_dups:
            problems.append(f"{client_dups} items handed to more than {overlap} expert(s) (client side)")
        if submitted != expected or db["labels"] != expected:
            problems.append(f"{submitted} labels submitted, {db['labels']} stored; expected {expected}")
        for name in ("items_over_overlap", "slots_held_twice_or_over", "labels_without_done_slot"):
            if db[name]:
                problems.append(f"{name}: {db[name]}")
        # A submit leases the expert's next item in the same request: each expert's last hand-out (never
        # labeled, the run being over) is the only lease left, and it is held by that expert.
        outstanding = {(e.username, item) for e in experts for item in set(e.handed) - set(e.submitted)}
        leases = set(
            conn.execute(
                "SELECT u.username, s.item_id FROM labeling_slot s JOIN auth_user u ON u.id = s.expert_id "
                "WHERE s.state = 'leased'"
            ).fetchall()
        )
        if leases != outstanding:
            problems.append(f"{len(leases)} leases left, {len(outstanding)} expected (handed, not labeled)")
        if db["done_slots"] != db["labels"]:
            problems.append(f"{db['done_slots']} done slots for {db['labels']} labels")
        if db["items_complete"] != complete_expected:
            problems.append(f"{db['items_complete']} items complete, expected {complete_expected}")
        if mismatched:
            problems.append(f"labels stored differ from those submitted for {mismatched[:5]}")
        return {
            "ok": not problems,
            "problems": problems,
            "duplicates_client": client_dups,
            "duplicates_db": db["items_over_overlap"] + db["slots_held_twice_or_over"],
            "rehanded_same_expert": rehanded,
            "items_handed": len(holders),
            "submitted": submitted,
            "db": db,
        }

    # --- one run

    def run_once(self, experts: list, labels: int) -> dict:
        self.tickets = labels
        self.barrier = threading.Barrier(len(experts) + 1)
        for expert in experts:
            expert.start()
        self.barrier.wait()
        began = time.perf_counter()
        for expert in experts:
            expert.join()
        return {"seconds": time.perf_counter() - began}

    def http_run(self, browsers: list[Browser], usernames: list[str], labels: int) -> tuple[dict, list]:
        for browser in browsers:
            browser.close()  # a fresh connection per run (gthread's keep-alive would have expired)
        pairs = enumerate(zip(browsers, usernames, strict=True))
        experts = [Expert(self, n, browser, name) for n, (browser, name) in pairs]
        outcome = self.run_once(experts, labels)
        return outcome, experts

    # --- the access log: server-side time per request

    @staticmethod
    def access_times(path: Path, offset: int) -> tuple[dict[str, list[float]], int]:
        times = {phase: [] for phase in PHASES}
        with open(path, "rb") as log_file:
            log_file.seek(offset)
            data = log_file.read()
        for line in data.decode(errors="replace").splitlines():
            parts = line.split()
            if len(parts) != 4 or not parts[3].isdigit():
                continue
            method, url, _, micros = parts
            if method == "POST" and url.endswith("/next"):
                times["next"].append(int(micros) / 1000)
            elif "/items/" in url and url.endswith("/"):
                times["page" if method == "GET" else "submit"].append(int(micros) / 1000)
                if method == "POST":
                    times["next"].append(int(micros) / 1000)  # a label's POST hands out the next item
        return times, offset + len(data)

    # --- the whole thing

    def run(self) -> dict:
        args = self.args
        env = server_env(args.database, args.redis_url, SECURE_COOKIES="false")
        stamp = new_stamp()
        with fresh_database(args.database, redis_url=args.redis_url, keep=args.keep_db) as self.db:
            log(
                f"Fresh database {args.database}: migrate, project, rubric, {args.outputs:,} outputs through "
                f"ingest_outputs, a queue (overlap {args.overlap}) backfilled, {args.experts} experts …"
            )
            django_setup(env)
            began = time.perf_counter()
            setup = set_up_data(args)
            setup["seconds"] = round(time.perf_counter() - began, 1)
            log(f"  set up in {setup['seconds']} s: {setup['timings']}")
            report = {
                "workload": "W2 labeling"
                + (" (direct: service level, not HTTP)" if args.direct else "")
                + (" (one request per label: --swap)" if args.swap else ""),
                "timestamp": stamp,
                "config": {
                    "outputs": args.outputs,
                    "labels": args.labels,
                    "experts": args.experts,
                    "overlap": args.overlap,
                    "runs": args.runs,
                    "direct": args.direct,
                    "swap": args.swap,
                    "think_ms": args.think_ms,
                    "database": args.database,
                    "redis_url": args.redis_url,
                    "lease_seconds": 900,
                },
                "setup": setup,
                "git": git_state(),
                "machine": machine() | {"load_average_start": os.getloadavg()},
                "label_studio": LABEL_STUDIO,
                "target_next_p99_ms": TARGET_NEXT_P99_MS,
                "configs": [],
            }
            self.measure(report, env, setup, stamp)
        save_and_print(f"w2-{stamp}.json", report, print_report)
        return report

    def measure(self, report: dict, env: dict, setup: dict, stamp: str) -> None:
        """Every run of every server set-up (or of the services, --direct), then the profile if it is due."""
        args = self.args
        failures = []
        if args.direct:
            result = self.direct_config(setup)
            report["configs"].append(result)
            failures += result["failures"]
        else:
            configs = (
                parse_sweep(args.sweep, args.app)
                if args.sweep
                else [(args.worker_class, args.workers, args.threads, args.app)]
            )
            servers = [ServerUnderTest(self, env, setup, stamp, *config) for config in configs]
            try:
                for server in servers:
                    server.start()
                for run in range(1, args.runs + 1):
                    for server in servers:
                        server.measure(run)
            finally:
                for server in servers:
                    server.stop()
            for server in servers:
                result = server.report()
                report["configs"].append(result)
                failures += [f"{result['name']}: {failure}" for failure in result["failures"]]
        best = min(report["configs"], key=lambda c: c["summary"]["next"]["p99_ms"])
        report["ok"] = not failures
        report["failures"] = failures
        report["machine"]["load_average_end"] = os.getloadavg()
        missed = best["summary"]["next"]["p99_ms"] > TARGET_NEXT_P99_MS
        if args.profile == "always" or (args.profile == "auto" and missed):
            self.reset()
            report["profile"] = profile(self, setup, stamp)

    def direct_config(self, setup: dict) -> dict:
        from django.contrib.auth import get_user_model
        from django.db import connections

        from labeling.models import Queue, Rubric

        args = self.args
        users = list(get_user_model().objects.filter(username__in=setup["usernames"]).order_by("username"))
        rubric = Rubric.objects.get(pk=setup["rubric_id"])
        runs, failures = [], []
        name = f"services, {len(users)} threads (not HTTP)"
        log(f"--direct: {name}")

        def make():
            experts = []
            for n, user in enumerate(users):
                queue = Queue.objects.select_related("project").get(pk=setup["queue_id"])
                experts.append(DirectExpert(self, n, user, queue, rubric))
            return experts

        self.reset()
        self.run_once(make(), max(2 * len(users), 32))  # warm-up
        for run in range(1, args.runs + 1):
            self.reset()
            connections.close_all()
            cpu = CpuMeter()
            experts = make()
            outcome = self.run_once(experts, args.labels)
            used = cpu.used()
            result = self.run_result(run, outcome, experts, args.labels)
            labels = result["labels"] or 1
            result["cpu_ms_per_label"] = {
                "python_in_process": round(1000 * used["client"] / labels, 2),
                "postgres_all": round(1000 * used["postgres"] / labels, 2),
            }
            failures += [f"run {run}: {problem}" for problem in result["check"]["problems"]]
            runs.append(result)
            log_run(result, name)
        return {
            "name": name,
            "worker_class": "in-process",
            "workers": 1,
            "threads": len(users),
            "failures": failures,
            "summary": summarise(runs, ("next", "submit")),
            "runs": runs,
        }

    def run_result(self, run: int, outcome: dict, experts: list, expected: int) -> dict:
        check = self.check(experts, self.args.overlap, expected)
        labels = check["submitted"]
        latencies = {phase: [v for e in experts for v in e.latency[phase]] for phase in experts[0].latency}
        return {
            "run": run,
            "seconds": round(outcome["seconds"], 3),
            "labels": labels,
            "labels_per_s": round(labels / outcome["seconds"], 2),
            "ms": {phase: percentiles(values) for phase, values in latencies.items()},
            "duplicates": check["duplicates_client"] + check["duplicates_db"],
            "check": check,
            "ok": check["ok"],
            "per_expert_labels": [len(e.submitted) for e in experts],
            "latencies_ms": {phase: [round(v, 2) for v in values] for phase, values in latencies.items()},
        }


class ServerUnderTest:
    """One gunicorn set-up: started, its experts signed in and warmed up, then measured run by run.

    With --sweep every set-up is started first and the runs interleave (run 1 of each, then run 2 of
    each, …), so that a burst of load from other users of the machine hits every set-up alike.
    """

    def __init__(
        self, bench: Labeling, env: dict, setup: dict, stamp: str, kind: str, workers: int, threads: int, app: str
    ):
        args = bench.args
        self.bench, self.setup, self.kind, self.workers, self.threads = bench, setup, kind, workers, threads
        self.app = app
        self.name = f"{workers} {kind}" + (f" × {threads} threads" if kind == "gthread" else "") + " workers"
        if app != "expertloop.wsgi":
            self.name += f" ({app.partition(':')[0]})"
        self.port = args.port if args.port and not args.sweep else free_port()
        suffix = f"{kind}{workers}x{threads}" + ("" if app == "expertloop.wsgi" else "-" + app.partition(":")[0])
        self.access_path = OUT / f"w2-{stamp}-{suffix}-access.log"
        self.server = Gunicorn(
            env=env,
            app=app,
            port=self.port,
            workers=workers,
            worker_class=kind,
            threads=threads,
            log_path=OUT / f"w2-{stamp}-{suffix}-gunicorn.log",
            options=[
                "--access-logfile",
                str(self.access_path),
                "--access-logformat",
                ACCESS_FORMAT,
                "--backlog",
                "2048",
            ],  # fmt: skip
            ready_path="/login/",
        )
        self.sampler: RssSampler | None = None
        self.browsers: list[Browser] = []
        self.runs: list[dict] = []
        self.failures: list[str] = []
        self.idle_rss_mb = 0.0
        self.access_offset = 0

    def start(self) -> None:
        bench, args = self.bench, self.bench.args
        log(f"Starting gunicorn {self.app} on 127.0.0.1:{self.port}: {self.name} …")
        bench.reset()
        self.server.start()
        self.sampler = RssSampler(self.server.pid, args.rss_interval)
        self.sampler.start()
        self.browsers = [Browser(self.port) for _ in self.setup["usernames"]]
        began = time.perf_counter()
        for browser, username in zip(self.browsers, self.setup["usernames"], strict=True):
            sign_in(browser, username)
        log(f"  {len(self.browsers)} experts signed in ({time.perf_counter() - began:.1f} s: a PBKDF2 check each)")
        status, _, _, _ = self.browsers[0].request("GET", f"/p/{PROJECT_SLUG}/q/{QUEUE_SLUG}/next")
        if status == 404:
            raise SystemExit(
                "GET …/next answers 404: labeling/web/expert_views.py is still a stub. "
                "Measure the services with --direct meanwhile."
            )
        # Warm-up: every worker (and thread) renders each page before anything is timed.
        warm = max(4 * self.workers * self.threads, 2 * len(self.browsers))
        _, experts = bench.http_run(self.browsers, self.setup["usernames"], warm)
        errors = [error for expert in experts for error in expert.errors]
        if errors:
            raise SystemExit("Warm-up failed:\n" + "\n".join(errors[:5]))
        self.idle_rss_mb = self.sampler.sample() / 1024
        log(f"  warmed up with {warm} labels; server RSS {self.idle_rss_mb:.0f} MB")
        self.access_offset = self.access_path.stat().st_size if self.access_path.exists() else 0

    def measure(self, run: int) -> dict:
        bench, args = self.bench, self.bench.args
        bench.reset()
        flush_redis(args.redis_url)  # sessions live in PostgreSQL: this signs nobody out
        _, self.access_offset = bench.access_times(self.access_path, self.access_offset)
        cpu = CpuMeter(self.server.pid)
        self.sampler.reset()
        load = os.getloadavg()[0]
        outcome, experts = bench.http_run(self.browsers, self.setup["usernames"], args.labels)
        peak_mb = self.sampler.peak_mb()
        used = cpu.used()
        time.sleep(0.2)  # let gunicorn write its last access-log lines
        server_times, self.access_offset = bench.access_times(self.access_path, self.access_offset)
        result = bench.run_result(run, outcome, experts, args.labels)
        self.failures += [f"run {run}: {problem}" for problem in result["check"]["problems"]]
        labels = result["labels"] or 1
        result.update(
            peak_rss_mb=round(peak_mb, 1),
            server_ms={phase: percentiles(values) for phase, values in server_times.items()},
            server_latencies_ms={phase: [round(v, 2) for v in vs] for phase, vs in server_times.items()},
            cpu_ms_per_label={
                "server": round(1000 * used["server"] / labels, 2),
                "postgres_all": round(1000 * used["postgres"] / labels, 2),
                "client": round(1000 * used["client"] / labels, 2),
            },
            load_average_1min_before=load,
            reconnects=sum(b.reconnects for b in self.browsers),
        )
        self.runs.append(result)
        log_run(result, self.name)
        return result

    def stop(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
        for browser in self.browsers:
            browser.close()
        self.server.stop()

    def report(self) -> dict:
        summary = summarise(self.runs, PHASES) if self.runs else {}
        if self.runs:
            summary["idle_rss_mb"] = round(self.idle_rss_mb, 1)
            summary["server_ms"] = {
                phase: percentiles([v for r in self.runs for v in r["server_latencies_ms"][phase]]) for phase in PHASES
            }
        return {
            "name": self.name,
            "worker_class": self.kind,
            "workers": self.workers,
            "threads": self.threads,
            "app": self.app,
            "port": self.port,
            "access_log": str(self.access_path.relative_to(ROOT)),
            "failures": self.failures,
            "summary": summary,
            "runs": self.runs,
        }


def summarise(runs: list[dict], phases) -> dict:
    summary = {
        "labels_per_s_median": round(statistics.median(r["labels_per_s"] for r in runs), 2),
        "labels_per_s_runs": [r["labels_per_s"] for r in runs],
        "duplicates": sum(r["duplicates"] for r in runs),
        "ok": all(r["ok"] for r in runs),
    }
    for phase in phases:
        pooled = [v for r in runs for v in r["latencies_ms"][phase]]
        summary[phase] = percentiles(pooled) | {"p99_ms_runs": [r["ms"][phase]["p99_ms"] for r in runs]}
    if "peak_rss_mb" in runs[0]:
        summary["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
        summary["cpu_ms_per_label"] = {
            name: round(statistics.median(r["cpu_ms_per_label"][name] for r in runs), 2)
            for name in runs[0]["cpu_ms_per_label"]
        }
    return summary


def log_run(result: dict, name: str) -> None:
    ms = result["ms"]
    parts = " · ".join(f"{phase} p50 {v['p50_ms']:.1f} p99 {v['p99_ms']:.1f}" for phase, v in ms.items())
    extra = f", peak RSS {result['peak_rss_mb']:.0f} MB" if "peak_rss_mb" in result else ""
    log(
        f"run {result['run']} ({name}): {result['labels_per_s']:.1f} labels/s ({result['seconds']:.1f} s), "
        f"{parts} ms, duplicates {result['duplicates']}{extra}" + ("" if result["ok"] else "  ** FAILED **")
    )
    for problem in result["check"]["problems"][:5]:
        log(f"    {problem}")


def print_report(report: dict) -> None:
    config = report["config"]
    print()
    print(
        f"{report['workload']}: queue of {config['outputs']:,} items (overlap {config['overlap']}), "
        f"{config['experts']} experts, {config['labels']:,} labels per run, median of {config['runs']} run(s), "
        + (f"think time {config['think_ms']:.0f} ms ±50 %" if config["think_ms"] else "closed loop (no think time)")
    )
    header = (
        f"{'':38}{'labels/s':>9} {'next p50/p95/p99 ms':>22} {'page p50/p95/p99':>22} "
        f"{'submit p50/p95/p99':>22} {'RSS MB':>7} {'dups':>5}"
    )
    print(header)
    print("-" * len(header))

    def trio(v: dict | None) -> str:
        return "–" if not v else f"{v['p50_ms']:.1f}/{v['p95_ms']:.1f}/{v['p99_ms']:.1f}"

    for config_result in report["configs"]:
        s = config_result["summary"]
        rss = f"{s['peak_rss_mb']:.0f}" if "peak_rss_mb" in s else "–"
        print(
            f"{config_result['name'][:38]:38}{s['labels_per_s_median']:>9.1f} {trio(s['next']):>22} "
            f"{trio(s.get('page')):>22} {trio(s['submit']):>22} {rss:>7} {s['duplicates']:>5}"
        )
    ls = report["label_studio"]
    print(
        f"{'Label Studio 1.23.2 (BENCHMARKS.md)':38}{ls['labels_per_s']:>9.1f} "
        f"{f'{ls["next_p50_ms"]}/–/{ls["next_p99_ms"]}':>22} {'–':>22} {'–':>22} {'–':>7} {ls['duplicates']:>5}"
    )
    print(f"target: next-item p99 ≤ {report['target_next_p99_ms']} ms and 0 duplicates")
    for config_result in report["configs"]:
        s = config_result["summary"]
        runs_text = f"labels/s runs {s['labels_per_s_runs']}; next p99 runs {s['next']['p99_ms_runs']}"
        print(f"  {config_result['name']}: {runs_text}")
        if "server_ms" in s:
            print(
                "    server-side time (gunicorn access log, excludes waiting for a worker): "
                + " · ".join(f"{phase} {trio(s['server_ms'][phase])}" for phase in PHASES)
            )
            cpu = s["cpu_ms_per_label"]
            print(
                f"    CPU per label: server {cpu['server']} ms, postgres (all processes, approx.) "
                f"{cpu['postgres_all']} ms, client {cpu['client']} ms; idle RSS {s['idle_rss_mb']:.0f} MB"
            )
        else:
            cpu = config_result["runs"][0]["cpu_ms_per_label"]
            print(f"    CPU per label (run 1): {cpu}")
        first = config_result["runs"][0]["check"]["db"]
        print(
            f"    run 1 in the database: {first['labels']} labels on {first['items_labeled']} items, labels per item "
            f"{first['labels_per_item']}, distinct experts per item {first['distinct_experts_per_item']}, "
            f"{first['items_complete']} items complete"
        )
    print("verification:", "OK" if report["ok"] else "FAILED")
    for failure in report["failures"][:20]:
        print("  ", failure)
    if "profile" in report:
        print_profile(report["profile"])


# ----------------------------------------------------------------------------------------------
# Profile: where a next-item request goes, in-process against the same database


def profile(bench: Labeling, setup: dict, stamp: str) -> dict:
    """Where a request's time goes, in-process: stages, queries, EXPLAIN ANALYZE of the claim, cProfile.

    The requests run through django.test.Client (every middleware, the real views and templates) for one
    expert with no concurrency, so each figure is service time, without any waiting for a worker.
    """
    import django.contrib.auth.middleware as auth_middleware
    import django.contrib.messages as messages_module
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import close_old_connections, connection, transaction
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.postgresql.base import DatabaseWrapper
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    import labeling.templatetags.expertloop as template_tags
    from labeling.models import Queue, Rubric, Slot, SlotState
    from labeling.selectors import work
    from labeling.services import assignment, labels
    from labeling.web import expert_views

    args = bench.args
    iterations = args.profile_labels
    log(f"Profile: {iterations} labels in-process (one expert, no concurrency), then EXPLAIN ANALYZE of the claim")
    users = list(get_user_model().objects.filter(username__in=setup["usernames"]).order_by("username"))
    next_path = f"/p/{PROJECT_SLUG}/q/{QUEUE_SLUG}/next"
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(users[0])

    timer = StageTimer()
    wraps = [
        (SessionStore, "load", "session: load (SELECT django_session)"),
        (SessionStore, "save", "session: save"),
        (auth_middleware, "get_user", "auth: user (SELECT auth_user)"),
        (DatabaseWrapper, "is_usable", "connection health check (SELECT 1)"),
        (psycopg.Connection, "wait", "PostgreSQL round trip"),
        (BaseDatabaseWrapper, "commit", "COMMIT"),
        (work, "queue_for_labeler", "work.queue_for_labeler (queue + project + access)"),
        (expert_views, "_hand_next_item", "view: _hand_next_item (lease the next item, redirect)"),
        (assignment, "next_item_id", "assignment.next_item_id [excl: BEGIN, COMMIT]"),
        (assignment, "ensure_can_label", "ensure_can_label (a query only without the request's grant)"),
        (assignment, "_resume", "_resume (own lease? SELECT FOR UPDATE)"),
        (assignment, "_claim", "_claim (SELECT … SKIP LOCKED + UPDATE)"),
        (expert_views, "redirect", "redirect"),
        (expert_views, "_held_item", "view: _held_item"),
        (work, "item_for_labeler", "work.item_for_labeler (item + output + queue + project, access, own label)"),
        (expert_views, "_labeling_screen", "view: _labeling_screen"),
        (expert_views, "form_fields", "form_fields"),
        (expert_views, "handed_token", "handed_token (signing)"),
        (expert_views, "render", "render template"),
        (template_tags, "render_markdown", "render_markdown (markdown-it + nh3)"),
        (expert_views, "rubric_version", "view: rubric_version (SELECT rubric)"),
        (expert_views, "answers_from_post", "answers_from_post"),
        (labels, "submit_label", "labels.submit_label"),
        (labels, "ensure_can_label", "ensure_can_label (a query only without the request's grant)"),
        (labels, "validate_answers", "validate_answers"),
        (labels, "claim_slot_for_submit", "claim_slot_for_submit (conditional UPDATE of the lease)"),
        (messages_module, "success", "messages.success"),
    ]
    originals = [(owner, attribute, getattr(owner, attribute)) for owner, attribute, _ in wraps]
    for owner, attribute, name in wraps:
        timer.wrap(owner, attribute, name)

    samples = {phase: [] for phase in PHASES}  # per request: (wall, cpu, {path: (incl, excl)})
    root = {
        "next": "POST next (whole request)",
        "page": "GET item page (whole request)",
        "submit": "POST label (whole request: saves, then leases the next item)",
    }

    def timed(phase: str, call):
        # The test client keeps Django from running close_old_connections around a request; a real
        # server runs it at each request's start and end, which is what arms the health check.
        close_old_connections()
        response, wall, cpu, sample = timer.time_root(root[phase], call)
        samples[phase].append((wall, cpu, sample))
        return response

    def loop(count: int, wrap=None):
        def run(phase, call, *call_args, **call_kwargs):
            if wrap is None:
                return call(*call_args, **call_kwargs)
            return wrap(phase, lambda: call(*call_args, **call_kwargs))

        for _ in range(count):
            # The submit before leased this item; give it back (untimed) so that POST next takes the
            # claim path (SELECT … SKIP LOCKED + UPDATE), as it does for an expert's first item.
            Slot.objects.filter(expert=users[0], state=SlotState.LEASED).update(
                state=SlotState.FREE, expert=None, leased_at=None, lease_expires_at=None
            )
            response = run("next", client.post, next_path)
            item_path = response["Location"]
            response = run("page", client.get, item_path)
            fields = hidden_fields(response.content, _LABEL_FORM)
            item_id = int(_ITEM_PATH.search(item_path).group(1))
            data = fields | dict(form_answers(item_id))
            response = run("submit", client.post, item_path, data, HTTP_REFERER="http://127.0.0.1" + item_path)
            assert response.status_code == 302 and _ITEM_PATH.search(response["Location"]), response.status_code

    queries: dict[str, list] = {}

    def capture(phase: str, call):
        close_old_connections()
        with CaptureQueriesContext(connection) as ctx:
            response = call()
        queries[phase] = [query["sql"] for query in ctx.captured_queries]
        return response

    try:
        loop(5)  # warm-up
        loop(iterations, timed)
        loop(1, capture)
        profiler = cProfile.Profile()
        profiler.enable()
        loop(iterations)
        profiler.disable()
    finally:
        for owner, attribute, original in originals:
            setattr(owner, attribute, original)

    stages = {}
    for phase, rows in samples.items():
        tree = [
            {"path": list(stage["path"]), "inclusive_ms": round(stage["inclusive_ms"], 2),
             "exclusive_ms": round(stage["exclusive_ms"], 2), "present": stage["present"]}
            for stage in stage_medians([sample for _, _, sample in rows])
        ]  # fmt: skip
        waits = [
            sum(excl for path, (_, excl) in sample.items() if path[-1] == "PostgreSQL round trip")
            for _, _, sample in rows
        ]
        stages[phase] = {
            "wall_ms": round(statistics.median(w for w, _, _ in rows) * 1000, 2),
            "cpu_ms": round(statistics.median(c for _, c, _ in rows) * 1000, 2),
            "postgres_wait_ms": round(statistics.median(waits) * 1000, 2),
            "python_ms": round(statistics.median(w - d for (w, _, _), d in zip(rows, waits, strict=True)) * 1000, 2),
            "queries": len(queries.get(phase, [])),
            "tree": tree,
        }
    cprofile_top = "\n".join(cprofile_text(profiler, "tottime", 20).splitlines()[4:])
    profiler.dump_stats(OUT / f"w2-profile-{stamp}.prof")

    # EXPLAIN ANALYZE of every SELECT "next" runs, captured for one expert in a rolled-back transaction:
    # (a) on the fresh queue, (b) after a full run of labels consumed its front, with no VACUUM since.
    queue = Queue.objects.select_related("project").get(pk=setup["queue_id"])
    explains = {}

    def explain(state: str, expert) -> None:
        with CaptureQueriesContext(connection) as ctx:
            with transaction.atomic():
                assignment.next_item(expert=expert, queue=queue)
                transaction.set_rollback(True)
        plans = []
        for query in ctx.captured_queries:
            sql = query["sql"]
            # The SELECTs, and the claim (an UPDATE … FOR UPDATE SKIP LOCKED): run here and rolled back.
            if not sql.lstrip().upper().startswith("SELECT") and "SKIP LOCKED" not in sql:
                continue
            if sql.startswith("QUERY = ") or "$1" in sql:  # run on a server-binding cursor: its values are not here
                plans.append({"sql": sql[:500], "plan": "not run again (bench/claim_history.py explains the claim)"})
                continue
            with transaction.atomic():
                with connection.cursor() as cursor:
                    began = time.perf_counter()
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                    round_trip = time.perf_counter() - began
                    plan = "\n".join(row[0] for row in cursor.fetchall())
                transaction.set_rollback(True)
            plans.append({"sql": sql, "explain_round_trip_ms": round(round_trip * 1000, 2), "plan": plan})
        explains[state] = plans

    bench.reset()
    explain("fresh queue (after reset + VACUUM)", users[1])
    consumer = Labeling(args)
    rubric = Rubric.objects.get(pk=setup["rubric_id"])
    threads = [
        DirectExpert(consumer, n, user, Queue.objects.select_related("project").get(pk=queue.pk), rubric)
        for n, user in enumerate(users)
    ]
    consumer.run_once(threads, args.labels)
    errors = [error for thread in threads for error in thread.errors]
    explain(f"after {args.labels} more labels (16 threads, services), no VACUUM since", users[1])
    with connection.cursor() as cursor:
        cursor.execute("SELECT n_live_tup, n_dead_tup FROM pg_stat_user_tables WHERE relname = 'labeling_slot'")
        live, dead = cursor.fetchone()
    return {
        "iterations": iterations,
        "stages": stages,
        "queries": queries,
        "explain": explains,
        "slot_table_after_consume": {"live_tuples": live, "dead_tuples": dead, "consumer_errors": errors[:3]},
        "cprofile_top": cprofile_top,
        "prof_file": f"bench/out/w2-profile-{stamp}.prof",
    }


def print_profile(result: dict) -> None:
    print()
    print(
        f"Profile, in-process: django.test.Client through every middleware, one expert, no concurrency; "
        f"median of {result['iterations']} requests each (ms; exclusive = not inside a timed child)"
    )
    for phase, row in result["stages"].items():
        print(
            f"{phase}: wall {row['wall_ms']:.1f} ms (CPU {row['cpu_ms']:.1f}) = PostgreSQL round trips "
            f"{row['postgres_wait_ms']:.1f} + Python {row['python_ms']:.1f}; {row['queries']} queries"
        )
        print(f"  {'':70}{'inclusive':>10}{'exclusive':>10}")
        for stage in row["tree"]:
            if stage["path"][-1] == "PostgreSQL round trip" and stage["inclusive_ms"] < 0.05:
                continue
            label = "  " * (len(stage["path"]) - 1) + stage["path"][-1]
            print(f"  {label[:70]:70}{stage['inclusive_ms']:>10.2f}{stage['exclusive_ms']:>10.2f}")
    for phase, sqls in result["queries"].items():
        print(f"Queries of one {phase} request:")
        for sql in sqls:
            print("   ", re.sub(r"\s+", " ", sql)[:140])
    for state, plans in result["explain"].items():
        claim = [p for p in plans if "SKIP LOCKED" in p["sql"] and "labeling_skip" in p["sql"]]
        print(f"EXPLAIN ANALYZE of the claim query — {state}:")
        for plan in claim[:1]:
            print("\n".join("    " + line for line in plan["plan"].splitlines()))
    print(f"labeling_slot after the consuming run: {result['slot_table_after_consume']}")
    print(f"cProfile of {result['iterations']} more labels (next + page + submit), by own time:")
    print("\n".join(result["cprofile_top"].splitlines()[:28]))


def main() -> None:
    parser = workload_parser(__doc__)
    parser.add_argument("--outputs", type=int, default=100_000, help="outputs = items in the queue (default 100,000)")
    parser.add_argument("--labels", type=int, default=2_000, help="labels per run, all experts (default 2,000)")
    parser.add_argument("--experts", type=int, default=16, help="concurrent experts, one thread each (default 16)")
    parser.add_argument("--overlap", type=int, default=1, help="labels wanted per item (default 1)")
    parser.add_argument("--runs", type=int, default=3, help="runs per server configuration (default 3)")
    add_server_options(
        parser, workers=2, workers_help="gunicorn workers (default 2: one per core did best, bench/README.md)"
    )
    parser.add_argument(
        "--sweep",
        default="",
        help="several server set-ups, runs interleaved: class:workers[xthreads][@module:app],… e.g. sync:2,gthread:2x4",
    )
    parser.add_argument(
        "--think-ms", type=float, default=0, help="pause on each page before submitting, ±50%% (default 0: closed loop)"
    )
    parser.add_argument("--direct", action="store_true", help="no HTTP: the loop through the services, in-process")
    parser.add_argument(
        "--swap", action="store_true", help="one request per label, as label.js: the POST answers with the next page"
    )
    parser.add_argument(
        "--profile", choices=("auto", "always", "never"), default="auto",
        help="profile the request path in-process afterwards: auto = when next-item p99 misses the target",
    )  # fmt: skip
    parser.add_argument("--profile-labels", type=int, default=50, help="labels timed in the profile (default 50)")
    add_database_options(parser, database="expertloop_bench_w2")
    args = parser.parse_args()
    if args.labels > args.outputs * args.overlap:
        parser.error("--labels exceeds the slots in the queue")
    report = Labeling(args).run()
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
