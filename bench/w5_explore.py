"""W5 explore benchmark: search, facets and the first page over a project of 1,000,000 outputs, through the
real server; the search index's build rate and size; how soon a new output becomes searchable.

    .venv/bin/python bench/w5_explore.py                 # the BENCHMARKS.md workload (set-up ~30 min)
    .venv/bin/python bench/w5_explore.py --reuse         # keep and reuse the database (set-up skipped when there)
    .venv/bin/python bench/w5_explore.py --outputs 100000 --requests 30 --runs 1 --fresh 5
    .venv/bin/python bench/w5_explore.py --reuse --only inprocess,explain   # no server

What one invocation does (see bench/README.md, "W5 explore"):
  1. set-up (skipped with --reuse when the database exists): migrate; a project, a lead, API keys
     (`read`; `ingest` for the freshness part) through the services; then, with psycopg COPY, N outputs:
     bench/records.py's record `i` with ~12 words of a Zipf-distributed vocabulary of 50,000 pseudo-words
     mixed into its output (so a term matches 10 %, 1 % or 0.01 % of the outputs, as in real text), feedback
     on ~10 %, and, in 1 % of one model's outputs, a promise to "refund by <date>" with an order number
     `ORD-<6 digits>`; then the search index filled with the project's own SQL
     (`labeling.services.search_index.index_outputs`, --index-chunk ids a call, as the routing task does
     per ingest batch), timed; VACUUM ANALYZE; sizes of the table, its TOAST, each index;
  2. in-process (Django, this process): `labeling.selectors.explore`'s result_page, summary, and summary +
     daily (the facets fragment's reads) for the same filters as below, timed; EXPLAIN (ANALYZE, BUFFERS)
     of every statement of the slowest call of each kind, written to bench/out/w5-<timestamp>-plans.txt;
  3. through gunicorn (gthread, DEBUG=false, a kept-alive connection, one client, requests one after
     another): search (`q` = one term, `model`, `tag`) for common / medium / rare terms and an order
     number, facets for the same filters, the unfiltered first page, on the API (read key) and on the
     explore page (a lead's session). Classes interleaved; --requests per class per run, --runs runs.
     Server time per request from gunicorn's access log (%(D)s), client time beside it;
  4. freshness: a real Celery worker; batches of --fresh-batch records posted, one of them holding a new
     word; the API searched for it every 20 ms until found: delay from the POST's answer to the first
     search that finds it.
Prints medians and writes bench/out/w5-<timestamp>.json.
"""

from __future__ import annotations

import bisect
import hashlib
import http.client
import itertools
import json
import statistics
import subprocess
import sys
import time
from array import array
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

import msgspec
import psycopg
import records
from harness import OUT, ROOT
from harness.database import (
    PG,
    add_database_options,
    database_exists,
    django_setup,
    drop_database,
    explain_statements,
    flush_redis,
    recreate_database,
    server_env,
)
from harness.report import git_state, log, machine, new_stamp, percentiles, save_and_print, workload_parser
from harness.sampling import CpuMeter
from harness.server import Gunicorn

PROJECT_SLUG = "bench-w5"
LEAD = "w5-lead"
SETUP_TABLE = "bench_w5_setup"  # one jsonb row: what the set-up made (for --reuse)
TARGETS_MS = {"search": 150, "facets": 500, "first page": 100}  # p95, server time
_json = msgspec.json.Encoder().encode

# ----------------------------------------------------------------------------------------------
# The text: records.py's record, plus words of a long-tailed vocabulary and a rare pattern

VOCABULARY = 50_000
TOPIC_WORDS = (8, 16)  # words of the vocabulary mixed into each output
_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aiou"
_SYLLABLES = [c + v for c in _CONSONANTS for v in _VOWELS]  # 56
# Zipf (s = 1) over the ranks: the word of rank r is drawn with probability ∝ 1/r.
_CUMULATIVE = list(itertools.accumulate(1 / rank for rank in range(1, VOCABULARY + 1)))
REFUND_MODEL = records.MODELS[3]
REFUND_SHARE = 100  # 1 in 100 of that model's outputs
MONTHS = ("January", "February", "March", "April", "May", "June")
COMMENTS = ("wrong answer", "too long", "did not help", "great, thanks", "it never arrived", "rude tone")


def word(rank: int) -> str:
    """The pseudo-word of a rank (1 = most frequent): three syllables and a final k, p or m, unique per rank.
    Such words keep their form under the English stemmer, so each is one search term."""
    n = (rank * 100_003) % len(_SYLLABLES) ** 3  # a bijection (100,003 is prime to 56³)
    a, rest = divmod(n, len(_SYLLABLES) ** 2)
    b, c = divmod(rest, len(_SYLLABLES))
    return _SYLLABLES[a] + _SYLLABLES[b] + _SYLLABLES[c] + "kpm"[rank % 3]


def topic_ranks(index: int) -> list[int]:
    """The vocabulary ranks drawn for record `index` (deterministic; repeats possible)."""
    h = records._mix(7 * index + 5)
    h, count = divmod(h, TOPIC_WORDS[1] - TOPIC_WORDS[0] + 1)
    total = _CUMULATIVE[-1]
    ranks = []
    for n in range(TOPIC_WORDS[0] + count):
        u = records._mix(h + n) / 2**64 * total
        ranks.append(bisect.bisect_left(_CUMULATIVE, u) + 1)
    return ranks


def order_number(index: int) -> str:
    return f"ORD-{100_000 + records._mix(11 * index) % 900_000}"


def output_record(index: int) -> tuple[dict, list[int], bool]:
    """Record `index` as W5 stores it, the vocabulary ranks in it, and whether it promises a refund date."""
    record = records.record(index)
    ranks = topic_ranks(index)
    words = record["output"].split(" ")
    step = max(1, len(words) // (len(ranks) + 1))
    for n, rank in enumerate(ranks):
        words.insert((n + 1) * (step + 1), word(rank))
    promise = record["model"] == REFUND_MODEL and records._mix(13 * index) % REFUND_SHARE == 0
    if promise:
        h = records._mix(17 * index)
        day = f"{MONTHS[h % len(MONTHS)]} {1 + (h >> 8) % 28}"
        words.append(f"We will refund by {day}, order {order_number(index)}.")
    record["output"] = " ".join(words)
    h = records._mix(19 * index)
    score_pick = h % 100
    if (promise and score_pick < 30) or score_pick < 3:
        record["feedback_score"] = -1
    elif score_pick < 9:
        record["feedback_score"] = 1
    elif score_pick < 10:
        record["feedback_score"] = 0
    if "feedback_score" in record and (h >> 8) % 3 == 0:
        record["feedback_comment"] = COMMENTS[(h >> 16) % len(COMMENTS)]
    return record, ranks, promise


# ----------------------------------------------------------------------------------------------
# The set-up (Django in this process, bound to the bench database)


def create_people() -> dict:
    """Project, lead, keys (services); what the server-side parts need to know."""
    from labeling.services.api_keys import create_api_key
    from labeling.services.projects import create_project

    project = create_project(
        spec={"slug": PROJECT_SLUG, "name": "Bench W5", "members": [{"username": LEAD, "role": "lead"}]}
    )
    read = create_api_key(project=project, name="w5 read", scopes=["read"])
    ingest = create_api_key(project=project, name="w5 ingest", scopes=["ingest", "read"])
    return {"project_id": project.pk, "read_key": read.secret, "ingest_key": ingest.secret}


def lead_session() -> tuple[str, str]:
    """A signed-in session of the lead, made by Django (as the login form would): cookie name and value."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username=LEAD))
    return settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value


def copy_outputs(conn: psycopg.Connection, project_id: int, count: int) -> dict:
    """COPY `count` outputs in; count, per vocabulary rank, the outputs holding its word.

    records.py's 12 weeks are moved to end today, so that the explore page's default range (its last days)
    holds outputs."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    shift = today - timedelta(weeks=12) - records.START
    frequency = array("i", bytes(4 * (VOCABULARY + 1)))
    promises: list[int] = []

    def rows():
        for index in range(count):
            record, ranks, promise = output_record(index)
            for rank in set(ranks):
                frequency[rank] += 1
            if promise:
                promises.append(index)
            occurred = datetime.fromisoformat(record["occurred_at"]) + shift
            received = occurred + timedelta(seconds=1 + index % 30)
            score = record.get("feedback_score")
            yield (
                index + 1, project_id, record["external_id"], occurred, received, record["end_user_id"],
                record["session_id"], record["model"], _json(record["input"]).decode(),
                _json(record["output"]).decode(), _json(record["metadata"]).decode(), _json(record["tags"]).decode(),
                score, record.get("feedback_comment", ""), received + timedelta(hours=1) if score is not None else None,
                hashlib.sha256(_json(record)).hexdigest(), received + timedelta(seconds=2),
            )  # fmt: skip

    columns = (
        "id, project_id, external_id, occurred_at, received_at, end_user_id, session_id, model, input, output, "
        "metadata, tags, feedback_score, feedback_comment, feedback_at, content_hash, routed_at"
    )
    with conn.cursor() as cursor, cursor.copy(f"COPY labeling_output ({columns}) FROM STDIN") as copy:
        for row in rows():
            copy.write_row(row)
    conn.execute("SELECT setval(pg_get_serial_sequence('labeling_output', 'id'), %s)", [count])
    return {"frequency": frequency, "promises": promises}


def index_all(project_id: int, count: int, chunk: int) -> dict:
    """Fill the search vector of every output with the service the routing task calls, `chunk` ids a call."""
    from labeling.services.search_index import index_outputs

    began, indexed, slowest = time.perf_counter(), 0, 0.0
    for start in range(1, count + 1, chunk):
        call = time.perf_counter()
        indexed += index_outputs(project_id=project_id, output_ids=list(range(start, min(start + chunk, count + 1))))
        slowest = max(slowest, time.perf_counter() - call)
        if start // chunk % max(1, 100_000 // chunk) == 0 and start > 1:
            log(f"  indexed {indexed:,} ({indexed / (time.perf_counter() - began):,.0f} outputs/s)")
    seconds = time.perf_counter() - began
    return {"outputs": indexed, "seconds": round(seconds, 1), "outputs_per_s": round(indexed / seconds),
            "chunk": chunk, "slowest_chunk_ms": round(slowest * 1000, 1)}  # fmt: skip


def sizes(conn: psycopg.Connection) -> dict:
    """MB of the outputs table, its TOAST (with its index) and each index (pg_relation_size)."""
    mb = 1024 * 1024
    table, toast, toast_index = conn.execute(
        "SELECT pg_relation_size(c.oid), pg_relation_size(c.reltoastrelid), "
        "coalesce((SELECT sum(pg_relation_size(indexrelid)) FROM pg_index WHERE indrelid = c.reltoastrelid), 0) "
        "FROM pg_class c WHERE c.oid = 'labeling_output'::regclass"
    ).fetchone()
    indexes = conn.execute(
        "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index "
        "WHERE indrelid = 'labeling_output'::regclass ORDER BY 2 DESC"
    ).fetchall()
    return {
        "table_mb": round(table / mb, 1),
        "toast_mb": round(float(toast + toast_index) / mb, 1),
        "indexes_mb": {name: round(size / mb, 1) for name, size in indexes},
        "total_mb": round(conn.execute("SELECT pg_total_relation_size('labeling_output')").fetchone()[0] / mb, 1),
    }


def pick_terms(frequency: array, count: int, share: float, how_many: int) -> list[dict]:
    """The `how_many` vocabulary words whose share of outputs is nearest `share`."""
    ranks = sorted(range(1, VOCABULARY + 1), key=lambda rank: abs(frequency[rank] - share * count))[:how_many]
    return [{"term": word(rank), "rank": rank, "outputs": frequency[rank]} for rank in sorted(ranks)]


def set_up(args) -> dict:
    log(f"Set-up into {args.database}: migrate, project, lead, keys …")
    recreate_database(args.database)
    django_setup(server_env(args.database, SECURE_COOKIES="false"))
    from django.core.management import call_command

    timings = {}
    began = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    setup = create_people()
    timings["migrate, project, keys"] = round(time.perf_counter() - began, 1)
    conn = psycopg.connect(f"{PG} dbname={args.database}", autocommit=True)
    log(f"COPY {args.outputs:,} outputs …")
    began = time.perf_counter()
    made = copy_outputs(conn, setup["project_id"], args.outputs)
    timings["COPY outputs"] = round(time.perf_counter() - began, 1)
    conn.execute("ANALYZE labeling_output")
    setup["sizes_before_index"] = sizes(conn)
    log(f"  {timings['COPY outputs']} s; {setup['sizes_before_index']}")
    log(f"Search index: index_outputs over {args.outputs:,} outputs, {args.index_chunk:,} ids a call …")
    setup["indexing"] = index_all(setup["project_id"], args.outputs, args.index_chunk)
    log(f"  {setup['indexing']}")
    began = time.perf_counter()
    conn.execute("VACUUM ANALYZE labeling_output")
    conn.execute("CHECKPOINT")
    timings["VACUUM ANALYZE, CHECKPOINT"] = round(time.perf_counter() - began, 1)
    setup["sizes"] = sizes(conn)
    setup["search_vector_mb"] = round(
        conn.execute("SELECT sum(pg_column_size(search_vector)) FROM labeling_output").fetchone()[0] / 2**20, 1
    )
    n = args.outputs
    frequency = made["frequency"]
    promises = made["promises"]
    setup["terms"] = {
        "common": pick_terms(frequency, n, 0.10, 5),
        "medium": pick_terms(frequency, n, 0.01, 10),
        "rare": pick_terms(frequency, n, 0.0001, 20),
        "order": [{"term": order_number(i), "outputs": 1} for i in promises[:: max(1, len(promises) // 20)][:20]],
        # A word of records.py's base vocabulary: in about half of all outputs (a stress case, no target).
        "broad": [{"term": term, "outputs": None} for term in ("refund", "error", "email", "price")],
    }
    setup.update(outputs=n, refund_promises=len(promises), timings=timings, created_at=datetime.now(UTC).isoformat())
    conn.execute(f"CREATE TABLE {SETUP_TABLE} (doc jsonb)")
    conn.execute(f"INSERT INTO {SETUP_TABLE} VALUES (%s::jsonb)", [json.dumps(setup)])
    conn.close()
    return setup


def load_setup(database: str) -> dict | None:
    if not database_exists(database):
        return None
    with psycopg.connect(f"{PG} dbname={database}") as conn:
        try:
            return conn.execute(f"SELECT doc FROM {SETUP_TABLE}").fetchone()[0]
        except psycopg.errors.UndefinedTable:
            return None


# ----------------------------------------------------------------------------------------------
# The requests


def search_cases(setup: dict, per_class: int) -> dict[str, list[dict]]:
    """Filters per term class: `q` (varied terms), `model` and `tag` (varied), `per_class` of each."""
    cases = {}
    for kind, terms in setup["terms"].items():
        cases[kind] = [
            {
                "q": terms[n % len(terms)]["term"],
                # An order number is in one output of the refund model: ask for that model (the tag varies).
                "model": REFUND_MODEL if kind == "order" else records.MODELS[(n // len(terms)) % len(records.MODELS)],
                "tag": records.TAGS[(3 * n + 1) % len(records.TAGS)],
            }
            for n in range(per_class)
        ]
    return cases


def requests_to_time(setup: dict, per_class: int, kinds: list[str], surfaces: list[str]) -> list[tuple[str, str, str]]:
    """(class, surface, path) in round-robin order over the classes, so noise falls on all alike. On the web,
    "facets" is the fragment the page fetches after its result list (`explore/summary`)."""
    slug = setup.get("project_slug", PROJECT_SLUG)
    cases = search_cases(setup, per_class)
    cases["unfiltered"] = [{}] * per_class
    paths = {
        ("search", "api"): "/api/v1/outputs",
        ("facets", "api"): "/api/v1/outputs/facets",
        ("search", "web"): f"/p/{slug}/explore/",
        ("facets", "fragment"): f"/p/{slug}/explore/summary",
    }
    plan: dict[str, list[tuple[str, str]]] = {}
    for kind in [*kinds, "unfiltered"]:
        for params in cases[kind]:
            query = urlencode(params, quote_via=quote)
            for (what, surface), path in paths.items():
                if surface.replace("fragment", "web") not in surfaces:
                    continue
                name = f"{'first page' if kind == 'unfiltered' and what == 'search' else what} {kind} · "
                name += surface.replace("fragment", "web")
                plan.setdefault(name, []).append((surface, f"{path}?{query}" if query else path))
    rows = []
    for n in range(per_class):
        rows += [(name, *requests[n]) for name, requests in plan.items()]
    return rows


class Client:
    """One kept-alive connection; the API's key or the lead's session cookie per request."""

    def __init__(self, port: int, key: str, cookie: str):
        self.port, self.key, self.cookie = port, key, cookie
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.sent = 0

    def get(self, surface: str, path: str) -> tuple[int, bytes, float, str]:
        self.sent += 1
        mark = f"w5-{self.sent}"
        headers = {"X-Bench-Id": mark}
        if surface == "api":
            headers["Authorization"] = f"Bearer {self.key}"
        else:
            headers["Cookie"] = self.cookie
        if surface == "fragment":
            headers["X-Requested-With"] = "fetch"  # as explore.js asks for the summary
        for attempt in (1, 2):
            began = time.perf_counter()
            try:
                self.conn.request("GET", path, headers=headers)
                response = self.conn.getresponse()
                body = response.read()
                return response.status, body, time.perf_counter() - began, mark
            except (OSError, http.client.HTTPException):
                self.conn.close()  # the keep-alive ran out between two requests: once more, newly connected
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


ACCESS_FORMAT = "%({x-bench-id}i)s %(s)s %(D)s"  # our request id, status, request time in µs (server side)


def access_times(path, offset: int) -> tuple[dict[str, float], int]:
    """Server-side ms per request id, from gunicorn's access log after `offset`."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read()
    times = {}
    for line in data.decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].isdigit():
            times[parts[0]] = int(parts[2]) / 1000
    return times, offset + len(data)


def check_answer(name: str, status: int, body: bytes) -> str | None:
    """A problem with an answer, or None: 200, and for a search with a term found often, rows."""
    if status != 200:
        return f"{name}: HTTP {status} {body[:200]!r}"
    if "· api" in name and not name.startswith("facets"):  # the list: `results`
        try:
            rows = json.loads(body).get("results")
        except (ValueError, AttributeError):
            return f"{name}: not a JSON object: {body[:200]!r}"
        if rows is None:
            return f"{name}: no `results` in {body[:200]!r}"
        if not rows and ("common" in name or "unfiltered" in name or "broad" in name):
            return f"{name}: no rows"
    return None


def http_runs(args, setup: dict, stamp: str) -> dict:
    """Every class through gunicorn, --runs times; server and client percentiles per class and run."""
    env = server_env(args.database, args.redis_url, SECURE_COOKIES="false")
    access_path = OUT / f"w5-{stamp}-access.log"
    server = Gunicorn(
        env=env, port=args.port, workers=args.workers, worker_class="gthread", threads=args.threads,
        log_path=OUT / f"w5-{stamp}-gunicorn.log", ready_path="/login/",
        options=["--access-logfile", str(access_path), "--access-logformat", ACCESS_FORMAT, "--keep-alive", "30"],
    )  # fmt: skip
    kinds = [kind for kind in ("common", "medium", "rare", "order", "broad") if kind in setup["terms"]]
    if not args.broad:
        kinds.remove("broad")
    plan = requests_to_time(setup, args.requests, kinds, args.surfaces.split(","))
    result = {"runs": [], "problems": [], "workers": f"{args.workers} gthread × {args.threads} threads"}
    cookie = f"{setup['session_cookie'][0]}={setup['session_cookie'][1]}"
    log(f"gunicorn on 127.0.0.1:{server.port} ({result['workers']}); {len(plan):,} requests a run …")
    with server:
        client = Client(server.port, setup["read_key"], cookie)
        offset = 0
        # Warm-up: each worker thread's imports and connections, and the table's pages in the OS cache.
        for name, surface, path in plan[: 2 * len({row[0] for row in plan})]:
            status, body, _, _ = client.get(surface, path)
            problem = check_answer(name, status, body)
            if problem:
                result["problems"].append(f"warm-up: {problem}")
        if result["problems"]:
            log(f"  warm-up problems: {result['problems'][:4]}")
        _, offset = access_times(access_path, 0)
        for run in range(1, args.runs + 1):
            cpu = CpuMeter(server.pid)
            client_ms: dict[str, list[float]] = {}
            marks: dict[str, list[str]] = {}
            began = time.perf_counter()
            for name, surface, path in plan:
                status, body, seconds, mark = client.get(surface, path)
                problem = check_answer(name, status, body)
                if problem and len(result["problems"]) < 50:
                    result["problems"].append(f"run {run}: {problem}")
                client_ms.setdefault(name, []).append(seconds * 1000)
                marks.setdefault(name, []).append(mark)
            elapsed = time.perf_counter() - began
            time.sleep(0.3)  # gunicorn writes the last access-log lines
            server_times, offset = access_times(access_path, offset)
            classes = {}
            for name in client_ms:
                server_ms = [server_times[mark] for mark in marks[name] if mark in server_times]
                classes[name] = {"server": percentiles(server_ms), "client": percentiles(client_ms[name])}
            used = cpu.used()
            cpu_s = {"server_cpu_s": round(used["server"], 1), "postgres_cpu_s": round(used["postgres"], 1)}
            result["runs"].append({"run": run, "seconds": round(elapsed, 1), "classes": classes, **cpu_s})
            worst = max(classes.items(), key=lambda item: item[1]["server"]["p95_ms"])
            log(f"  run {run}: {len(plan):,} requests in {elapsed:.0f} s; slowest p95 {worst[0]} "
                f"{worst[1]['server']['p95_ms']:.0f} ms")  # fmt: skip
        client.close()
    result["median"] = {
        name: {
            side: {q: statistics.median(run["classes"][name][side][q] for run in result["runs"])
                   for q in ("p50_ms", "p95_ms", "p99_ms")}
            for side in ("server", "client")
        }
        for name in result["runs"][0]["classes"]
    }  # fmt: skip
    return result


# ----------------------------------------------------------------------------------------------
# In-process: the selectors alone, and the plans of their slowest statements


def inprocess(args, setup: dict, stamp: str) -> dict:
    """result_page, summary and the fragment (summary + daily) per class (Django in this process); EXPLAIN of the
    slowest calls."""
    from django.db import connection

    from labeling.models import Project
    from labeling.rules.explore import parse_filter
    from labeling.selectors import explore

    project = Project.objects.get(pk=setup["project_id"])
    cases = search_cases(setup, args.inprocess_requests)
    cases["first page"] = [{}] * args.inprocess_requests
    functions = {
        "result_page": lambda spec: explore.result_page(project, spec),
        "summary": lambda spec: explore.summary(project, spec),
        # The facets-and-charts fragment's reads, as the view makes them: daily is given summary's total.
        "fragment": lambda spec: explore.daily(project, spec, total=explore.summary(project, spec).total),
    }
    figures: dict[str, dict] = {}
    slowest: dict[tuple[str, str], tuple[float, dict]] = {}
    for kind, params_list in cases.items():
        if kind == "broad" and not args.broad:
            continue
        for function_name, call in functions.items():
            times = []
            for params in params_list:
                spec = parse_filter({key: [value] for key, value in params.items()})
                began = time.perf_counter()
                call(spec)
                seconds = time.perf_counter() - began
                times.append(seconds * 1000)
                if seconds > slowest.get((kind, function_name), (0, None))[0]:
                    slowest[kind, function_name] = (seconds, params)
            figures.setdefault(kind, {})[function_name] = percentiles(times)
        row = ", ".join(f"{fn} p50 {f['p50_ms']:.0f} / p95 {f['p95_ms']:.0f}" for fn, f in figures[kind].items())
        log(f"  {kind}: {row} ms")
    plans = []
    if args.explain:
        for (kind, function_name), (seconds, params) in slowest.items():
            statements = []

            def record(execute, sql, params_, many, context, statements=statements):
                began = time.perf_counter()
                try:
                    return execute(sql, params_, many, context)
                finally:
                    statements.append({"sql": sql, "params": params_, "many": many,
                                       "seconds": time.perf_counter() - began})  # fmt: skip

            spec = parse_filter({key: [value] for key, value in params.items()})
            with connection.execute_wrapper(record):
                functions[function_name](spec)
            statements.sort(key=lambda s: -s["seconds"])
            for entry in explain_statements(args.database, statements, limit=3):
                plans.append({"kind": kind, "function": function_name, "call_ms": round(seconds * 1000, 1),
                              "filter": params, **entry})  # fmt: skip
        path = OUT / f"w5-{stamp}-plans.txt"
        with open(path, "w") as handle:
            for plan in plans:
                handle.write(f"=== {plan['kind']} · {plan['function']} (slowest call {plan['call_ms']} ms, "
                             f"filter {plan['filter']}): statement {plan['seconds'] * 1000:.1f} ms\n")  # fmt: skip
                handle.write(plan["sql"] + "\n\n" + plan["plan"] + "\n\n")
        log(f"  plans of the slowest calls: {path.relative_to(ROOT)}")
    return {"per_class": figures, "plans": plans}


def match_counts(database: str, setup: dict) -> dict:
    """How many of the project's outputs each term class's terms match (the search's own tsquery)."""
    counts = {}
    with psycopg.connect(f"{PG} dbname={database}", autocommit=True) as conn:
        for kind, terms in setup["terms"].items():
            found = [
                conn.execute(
                    "SELECT count(*) FROM labeling_output WHERE project_id = %s "
                    "AND search_vector @@ websearch_to_tsquery('expertloop_search', %s)",
                    [setup["project_id"], term["term"]],
                ).fetchone()[0]
                for term in terms[:5]
            ]
            counts[kind] = {"median": statistics.median(found), "share": statistics.median(found) / setup["outputs"]}
    return counts


def index_profile(database: str, setup: dict, chunk: int, repeat: int = 5) -> dict:
    """Where one index_outputs call of `chunk` ids goes: the whole UPDATE, the vector and the length computed
    alone (SELECT), and the UPDATE of a value that does not change (row versions, no GIN work). Each in a
    transaction rolled back, over `repeat` different chunks of already indexed outputs; median ms."""
    from labeling.services import search_index

    update = search_index._INDEX_SQL
    vector, _, rest = update.partition("search_vector =")[2].partition(",\n    output_chars =")
    length = rest.partition("\nFROM (")[0]
    shapes = {
        "UPDATE as index_outputs runs it": update,
        "compute the vectors only (SELECT)": f"SELECT sum(length({vector})) FROM labeling_output "
        "WHERE project_id = %s AND id = ANY(%s)",
        "compute the lengths only (SELECT)": f"SELECT sum({length}) FROM labeling_output "
        "WHERE project_id = %s AND id = ANY(%s)",
        "UPDATE to the same values (no computing, no GIN entries)": "UPDATE labeling_output SET search_vector = "
        "search_vector, output_chars = output_chars WHERE project_id = %s AND id = ANY(%s)",
    }
    times: dict[str, list[float]] = {name: [] for name in shapes}
    with psycopg.connect(f"{PG} dbname={database}") as conn:
        for n in range(repeat):
            ids = list(range(1 + n * 97 * chunk, 1 + n * 97 * chunk + chunk))
            for name, sql in shapes.items():
                began = time.perf_counter()
                conn.execute(sql, [setup["project_id"], ids])
                times[name].append((time.perf_counter() - began) * 1000)
                conn.rollback()
    figures = {name: round(statistics.median(values), 1) for name, values in times.items()}
    for name, ms in figures.items():
        log(f"  {name}: {ms} ms per {chunk:,} outputs")
    return figures


# ----------------------------------------------------------------------------------------------
# Freshness: from ingest to searchable, through a real Celery worker


def freshness(args, setup: dict, stamp: str) -> dict:
    env = server_env(args.database, args.redis_url, SECURE_COOKIES="false")
    flush_redis(args.redis_url)
    worker_log = open(OUT / f"w5-{stamp}-celery.log", "wb")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "expertloop", "worker", "--pool=solo", "--loglevel=INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=worker_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    delays, problems = [], []
    server = Gunicorn(env=env, workers=2, worker_class="gthread", threads=2, ready_path="/login/",
                      log_path=OUT / f"w5-{stamp}-fresh-gunicorn.log")  # fmt: skip
    try:
        with server:
            client = Client(server.port, setup["ingest_key"], "")
            time.sleep(3)  # the worker connects to Redis
            base = 10_000_000 + int(time.time()) % 1_000_000 * 100  # external ids not used before
            for n in range(args.fresh + 1):
                token = word(VOCABULARY + 1 + (base // 100 + n) % 100_000) + "x"  # a word in no other output
                batch = [records.record(i) for i in range(n * args.fresh_batch, (n + 1) * args.fresh_batch)]
                now = datetime.now(UTC).isoformat(timespec="milliseconds")
                for offset, record in enumerate(batch):
                    record.update(external_id=f"fresh-{base + n}-{offset}", occurred_at=now)  # the newest
                batch[len(batch) // 2]["output"] += f" {token}"
                body = json.dumps({"outputs": batch}).encode()
                client.conn.request("POST", "/api/v1/outputs", body=body, headers={
                    "Authorization": f"Bearer {setup['ingest_key']}", "Content-Type": "application/json"})  # fmt: skip
                response = client.conn.getresponse()
                answer = response.read()
                stored = time.perf_counter()
                if response.status != 200:
                    problems.append(f"POST: HTTP {response.status} {answer[:200]!r}")
                    continue
                found = None
                while time.perf_counter() - stored < 60:
                    status, found_body, _, _ = client.get("api", f"/api/v1/outputs?q={token}")
                    if status == 200 and json.loads(found_body).get("results"):
                        found = time.perf_counter() - stored
                        break
                    time.sleep(0.02)
                if found is None:
                    problems.append(f"batch {n}: {token} not searchable within 60 s")
                elif n:  # the first batch warms the worker up
                    delays.append(found * 1000)
            client.close()
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        worker_log.close()
        flush_redis(args.redis_url)
    result = {"batch": args.fresh_batch, "delays": percentiles(delays), "problems": problems}
    if delays:
        log(f"  searchable after median {statistics.median(delays):.0f} ms (max {max(delays):.0f} ms), "
            f"{len(delays)} batches of {args.fresh_batch}")  # fmt: skip
    return result


# ----------------------------------------------------------------------------------------------


def run(args) -> int:
    stamp = new_stamp()
    parts = set(args.only.split(",")) if args.only else {"inprocess", "explain", "http", "fresh", "index-profile"}
    args.explain = "explain" in parts
    setup = load_setup(args.database) if args.reuse else None
    if setup is None:
        began = time.perf_counter()
        setup = set_up(args)
        setup["setup_s"] = round(time.perf_counter() - began, 1)
        log(f"Set-up done in {setup['setup_s']} s")
    else:
        log(f"Reusing {args.database} (made {setup['created_at']}, {setup['outputs']:,} outputs)")
        django_setup(server_env(args.database, SECURE_COOKIES="false"))
    setup["session_cookie"] = lead_session()
    report = {"workload": "W5 explore", "git": git_state(), "machine": machine(), "args": vars(args), "ok": True}
    try:
        setup["match_counts"] = match_counts(args.database, setup)
        log(f"Terms match (median of 5 each): {setup['match_counts']}")
        if "inprocess" in parts or "explain" in parts:
            log(f"In-process: labeling.selectors.explore, {args.inprocess_requests} filters per class …")
            report["inprocess"] = inprocess(args, setup, stamp)
        if "http" in parts:
            report["http"] = http_runs(args, setup, stamp)
            report["ok"] &= not report["http"]["problems"]
        if "index-profile" in parts:
            log(f"Where an index_outputs call of {args.index_chunk:,} ids goes (rolled back) …")
            report["index_profile"] = index_profile(args.database, setup, args.index_chunk)
        if "fresh" in parts:
            log(f"Freshness: a Celery worker, {args.fresh} batches of {args.fresh_batch} …")
            report["freshness"] = freshness(args, setup, stamp)
            report["ok"] &= not report["freshness"]["problems"]
    finally:
        from django.db import connections

        connections.close_all()
        if not (args.reuse or args.keep_db):
            drop_database(args.database)
    report["setup"] = {k: v for k, v in setup.items() if k not in ("read_key", "ingest_key", "session_cookie")}
    save_and_print(f"w5-{stamp}.json", report, print_report)
    return 0 if report["ok"] else 1


def print_report(report: dict) -> None:
    setup = report["setup"]
    print()
    print(f"W5 explore, {setup['outputs']:,} outputs ({setup['refund_promises']:,} promising a refund date):")
    if "indexing" in setup:
        i = setup["indexing"]
        print(f"  search index filled by index_outputs: {i['outputs']:,} outputs in {i['seconds']} s = "
              f"{i['outputs_per_s']:,} outputs/s ({i['chunk']:,} ids a call; "
              f"slowest call {i['slowest_chunk_ms']} ms)")  # fmt: skip
    s = setup["sizes"]
    print(f"  sizes: table {s['table_mb']} MB, TOAST {s['toast_mb']} MB, all {s['total_mb']} MB; "
          f"search vectors {setup['search_vector_mb']} MB of column data")  # fmt: skip
    for name, mb in s["indexes_mb"].items():
        print(f"    {name:40} {mb:8.1f} MB")
    print(f"  terms match: {json.dumps(setup.get('match_counts'))}")
    if "inprocess" in report:
        print("  in-process (ms, p50 / p95):")
        for kind, functions in report["inprocess"]["per_class"].items():
            row = "  ".join(f"{fn} {f['p50_ms']:.0f} / {f['p95_ms']:.0f}" for fn, f in functions.items())
            print(f"    {kind:12} {row}")
    if "http" in report:
        http = report["http"]
        print(f"  through gunicorn ({http['workers']}), median over {len(http['runs'])} runs of p50 / p95 / p99 ms,"
              " server (access log) and client (loopback, kept-alive):")  # fmt: skip
        for name, sides in http["median"].items():
            target = next((ms for prefix, ms in TARGETS_MS.items() if name.startswith(prefix)), None)
            verdict = ""
            if target and "broad" not in name:
                verdict = f"  target p95 ≤ {target}: {'met' if sides['server']['p95_ms'] <= target else 'NOT met'}"
            srv, cli = sides["server"], sides["client"]
            print(f"    {name:24} server {srv['p50_ms']:6.1f} / {srv['p95_ms']:6.1f} / {srv['p99_ms']:6.1f}   "
                  f"client {cli['p50_ms']:6.1f} / {cli['p95_ms']:6.1f} / {cli['p99_ms']:6.1f}{verdict}")  # fmt: skip
        if http["problems"]:
            print(f"  problems: {http['problems'][:10]}")
    if "freshness" in report:
        f = report["freshness"]
        d = f["delays"]
        print(f"  searchable after ingest (batches of {f['batch']}): p50 {d['p50_ms']} ms, p95 {d['p95_ms']} ms, "
              f"max {d['max_ms']} ms over {d['n']}; problems: {f['problems'] or 'none'}")  # fmt: skip


def main() -> None:
    parser = workload_parser(__doc__)
    parser.add_argument("--outputs", type=int, default=1_000_000, help="outputs (default 1,000,000)")
    parser.add_argument("--index-chunk", type=int, default=1_000, help="ids per index_outputs call (default 1,000)")
    parser.add_argument("--requests", type=int, default=100, help="requests per class per run (default 100)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs through the server (default 3)")
    parser.add_argument("--inprocess-requests", type=int, default=20, help="calls per class in-process (default 20)")
    parser.add_argument("--broad", action="store_true", help="also time terms in about half the outputs")
    parser.add_argument("--fresh", type=int, default=20, help="batches for the freshness part (default 20)")
    parser.add_argument("--fresh-batch", type=int, default=1_000, help="records per batch (default 1,000)")
    parser.add_argument("--only", help="parts, comma-separated: inprocess, explain, http, fresh, index-profile")
    parser.add_argument("--surfaces", default="api,web", help="api, web or both (default api,web)")
    parser.add_argument("--reuse", action="store_true", help="reuse the database when it exists; keep it")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker (default 4)")
    add_database_options(parser, database="expertloop_bench_w5")
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
