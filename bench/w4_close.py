"""W4 weekly close benchmark: close one week of a project holding 1,000,000 outputs and usage events and
100,000 labels over 12 weeks, in a fresh process per run; wall seconds per step and the process's peak RSS.

    .venv/bin/python bench/w4_close.py                       # the BENCHMARKS.md workload (set-up ~6-10 min)
    .venv/bin/python bench/w4_close.py --reuse               # keep and reuse the template database
    .venv/bin/python bench/w4_close.py --outputs 50000 --events 50000 --labels 10000 --users 5000 --runs 1
    .venv/bin/python bench/w4_close.py --reuse --profile     # cProfile + the slowest SQL of one close
    .venv/bin/python bench/w4_close.py --reuse --through-worker redis://127.0.0.1:6379/12   # closed by a Celery worker

What one invocation does (see bench/README.md, "W4 weekly close"):
  1. set-up, into a template database (skipped with --reuse when it exists): migrate; a project
     (Europe/Berlin, weeks start on Monday) with a rubric (binary `correct`, rating 1-5 `helpful`, choice
     `tone`, text `critique`), three queues (overlap 1, 3 and 1, weekly quotas), 16 experts and a lead,
     and one auto-rebuilt dataset over every queue, all through the services; then, with psycopg COPY,
     deterministic from --seed: 50,000 end users, each with a first week and returns in later weeks with
     a decaying probability, doing 500,000 outputs (bench/records.py content) and 500,000 usage events
     over the 12 cycle weeks ending with the last complete one; each week's items (the queues' rules,
     hash sampling and quotas, as routing places them), done slots, labels (experts right 84-94% of the
     time: two agree ~80%, so overlap-3 items disagree), skips, flags and comments; gold answers (the resolution
     service's own `resolve_answers`) for weeks 1-10, most older ties adjudicated; week 1-10 metric rows
     through the metrics service; week 11 closed through `close_week`; then week 12's review work;
  2. for each run: `CREATE DATABASE … TEMPLATE` (a fresh copy), then a child process (Django, DEBUG=false)
     runs `close_week` for week 12, timing each step it calls; the parent reads the child's peak RSS (VmHWM)
     and CPU time (os.wait4) and checks the cycle: closed, every complete item of the week resolved, a new dataset
     version, the week's metric rows and a frozen report;
  3. prints medians, per-step seconds, the peak RSS and the data counts; writes bench/out/w4-<timestamp>.json.
     With --profile: one more close under cProfile, with every SQL statement timed, and EXPLAIN ANALYZE of
     the slowest ones (on another fresh copy).
The copies are dropped at the end, the template too unless --reuse / --keep-template.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import importlib
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
from array import array
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import psycopg
import records
from harness import OUT, ROOT, yardstick
from harness.database import (
    PG,
    copy_database,
    database_exists,
    django_setup,
    drop_database,
    explain_statements,
    recreate_database,
    server_env,
)
from harness.profiling import cprofile_text
from harness.report import git_state, log, machine, new_stamp, save_and_print, workload_parser
from harness.sampling import LockWaitSampler, cpu_seconds

PROJECT_SLUG = "bench-w4"
TIME_ZONE = "Europe/Berlin"
WEEKS = 12
TARGET_SECONDS = 30
TARGET_RSS_MB = 1024
TONES = ["neutral", "friendly", "formal", "curt"]
RUBRIC = [
    {"key": "correct", "kind": "binary", "prompt": "Is the answer correct?"},
    {"key": "helpful", "kind": "rating", "prompt": "How helpful is it?", "scale": [1, 5]},
    {"key": "tone", "kind": "choice", "prompt": "Tone", "options": TONES},
    {"key": "critique", "kind": "text", "prompt": "What is wrong, or what would make it better?", "required": False},
]
# Labels a week: quota shares per queue (of --labels / 12), overlap, routing rule. Sample rates are set
# from the data so that every week fills its quota, routing-style (first come, first served).
QUEUES = [
    {"slug": "sample", "name": "Random sample", "overlap": 1, "share": 0.48, "priority": 0, "rule": {}},
    {
        "slug": "support-triple",
        "name": "Support answers, three reviewers",
        "overlap": 3,
        "share": 0.40,
        "priority": 5,
        "rule": {"metadata": {"feature": ["support-chat", "qa"]}},
    },
    {
        "slug": "beta",
        "name": "Beta traffic",
        "overlap": 1,
        "share": 0.12,
        "priority": 1,
        "rule": {"tags_any": ["beta"]},
    },
]
EXPERTS = 16
EVENT_NAMES = ("session_start", "message_sent", "page_view", "feedback_opened")
SETUP_TABLE = "bench_w4_setup"  # one jsonb row in the template: what the set-up made (for --reuse)
_json = msgspec.json.Encoder().encode


def excerpt_words(rng: random.Random, low: int, high: int) -> str:
    return records._text(rng.getrandbits(32), rng.randint(low, high))


def week_bounds(last_week: date, weeks: int, tz: ZoneInfo) -> list[float]:
    """UTC epoch seconds of each cycle week's first local midnight, and of the end of the last week."""
    first = last_week - timedelta(weeks=weeks - 1)
    return [datetime.combine(first + timedelta(weeks=n), datetime.min.time(), tz).timestamp() for n in range(weeks + 1)]


def last_complete_week(tz: ZoneInfo, now: datetime | None = None) -> date:
    today = (now or datetime.now(UTC)).astimezone(tz).date()
    return today - timedelta(days=today.weekday()) - timedelta(weeks=1)  # Monday weeks


# ----------------------------------------------------------------------------------------------
# The end users and their activity (pure Python, deterministic from the seed)


class Activity:
    """Who did what when: per user a cohort week, a 'good experience' flag (their outputs pass more
    often, and they come back more), then activity rows spread over the weeks they were active in."""

    def __init__(self, *, seed: int, users: int, outputs: int, events: int, bounds: list[float]):
        rng = random.Random(seed)
        weeks = len(bounds) - 1
        # Week 1 holds everyone already using the product; later weeks bring new users.
        cohort_weights = [3.0] + [1.0] * (weeks - 1)
        self.good = bytearray(users)
        pair_user, pair_week, pair_weight = array("i"), array("b"), []
        for user in range(users):
            cohort = rng.choices(range(weeks), cohort_weights)[0]
            good = rng.random() < 0.75
            self.good[user] = good
            stickiness = rng.choice((0.5, 1.0, 1.0, 1.6)) * (1.1 if good else 0.7)
            intensity = rng.lognormvariate(0, 0.8)
            for week in range(cohort, weeks):
                offset = week - cohort
                if offset == 0 or rng.random() < min(0.95, 0.42 * 0.88 ** (offset - 1) * stickiness):
                    pair_user.append(user)
                    pair_week.append(week)
                    pair_weight.append(intensity)
        self.active_pairs = len(pair_user)
        total = outputs + events
        if total < self.active_pairs:
            raise SystemExit(f"{total} activities cannot cover {self.active_pairs} active user-weeks")
        # Every active user-week has at least one activity; the rest go to heavier users more often.
        picks = list(range(self.active_pairs))
        picks += rng.choices(range(self.active_pairs), weights=pair_weight, k=total - self.active_pairs)
        kinds = bytearray(outputs) + bytearray(b"\x01" * events)
        rng.shuffle(kinds)
        self.outputs: list[tuple[float, int]] = []
        self.events: list[tuple[float, int]] = []
        for pick, kind in zip(picks, kinds, strict=True):
            week = pair_week[pick]
            moment = bounds[week] + rng.random() * (bounds[week + 1] - bounds[week])
            (self.events if kind else self.outputs).append((moment, pair_user[pick]))
        self.outputs.sort()
        self.events.sort()


# ----------------------------------------------------------------------------------------------
# COPY helpers


def copy_rows(conn: psycopg.Connection, table: str, columns: list[str], rows) -> int:
    """COPY rows (tuples in `columns` order; JSON columns as JSON text) into a table; return how many."""
    count = 0
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def reset_sequences(conn: psycopg.Connection, tables: list[str]) -> None:
    for table in tables:
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 1) FROM {table}))"
        )


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# ----------------------------------------------------------------------------------------------
# The set-up


class Setup:
    """Builds the template database (Django in this process, bound to it)."""

    def __init__(self, args, database: str):
        self.args = args
        self.database = database
        self.tz = ZoneInfo(TIME_ZONE)
        self.last_week = date.fromisoformat(args.week) if args.week else last_complete_week(self.tz)
        self.bounds = week_bounds(self.last_week, args.weeks, self.tz)
        self.weeks = [self.last_week - timedelta(weeks=args.weeks - 1 - n) for n in range(args.weeks)]
        self.now = time.time()
        self.timings: dict[str, float] = {}
        self.ids = Counter()  # next id per table

    def timed(self, name: str, began: float) -> None:
        self.timings[name] = round(time.perf_counter() - began, 1)
        log(f"  {name}: {self.timings[name]} s")

    def next_id(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    def run(self) -> dict:
        args = self.args
        began = time.perf_counter()
        self.activity = Activity(
            seed=args.seed, users=args.users, outputs=args.outputs, events=args.events, bounds=self.bounds
        )
        self.timed("plan activity", began)
        recreate_database(self.database)
        django_setup(server_env(self.database))
        from django.core.management import call_command

        began = time.perf_counter()
        call_command("migrate", verbosity=0, interactive=False)
        self.timed("migrate", began)
        self.conn = psycopg.connect(f"{PG} dbname={self.database}", autocommit=True)
        self.create_project()
        began = time.perf_counter()
        self.write_outputs()
        self.timed("COPY outputs", began)
        began = time.perf_counter()
        self.write_events()
        self.timed("COPY usage events", began)
        self.set_sample_rates()
        began = time.perf_counter()
        self.plan_items()
        history = list(range(args.weeks - 1))
        self.write_review(history)
        self.timed(f"COPY items, slots, labels, skips, flags, comments (weeks 1-{args.weeks - 1})", began)
        began = time.perf_counter()
        self.write_resolutions(history[:-1])
        self.timed(f"gold answers of weeks 1-{args.weeks - 2} (resolve_answers, COPY)", began)
        self.conn.execute("VACUUM ANALYZE")
        began = time.perf_counter()
        self.history_metrics(history[:-1])
        self.timed(f"metric rows of weeks 1-{args.weeks - 2} (metrics service)", began)
        began = time.perf_counter()
        self.previous_close = self.close(self.weeks[-2])
        self.timed(f"close of week {args.weeks - 1} ({self.weeks[-2]}) through close_week", began)
        began = time.perf_counter()
        self.write_review([args.weeks - 1])
        self.timed(f"COPY week {args.weeks}'s review work", began)
        began = time.perf_counter()
        self.conn.execute("VACUUM ANALYZE")
        self.conn.execute("CHECKPOINT")
        self.timed("VACUUM ANALYZE, CHECKPOINT", began)
        setup = {
            "project_id": self.project_id,
            "project_slug": PROJECT_SLUG,
            "week": self.last_week.isoformat(),
            "weeks": [week.isoformat() for week in self.weeks],
            "seed": args.seed,
            "scale": {"users": args.users, "outputs": args.outputs, "events": args.events, "labels": args.labels},
            "quotas": self.quotas,
            "sample_rates": self.sample_rates,
            "active_user_weeks": self.activity.active_pairs,
            "previous_close": self.previous_close,
            "timings_s": self.timings,
            "created_at": datetime.now(UTC).isoformat(),
            "counts": counts(self.conn, self.project_id, self.last_week),
        }
        self.conn.execute(f"CREATE TABLE {SETUP_TABLE} (doc jsonb)")
        self.conn.execute(f"INSERT INTO {SETUP_TABLE} VALUES (%s::jsonb)", [json.dumps(setup)])
        self.conn.close()
        from django.db import connections

        connections.close_all()  # a template must have no connections
        return setup

    # --- outputs and events

    def write_outputs(self) -> None:
        """Outputs in time order (ids 1…N); remember, per output, what the queues and labels need."""
        activity = self.activity
        n = len(activity.outputs)
        self.out_week = bytearray(n + 1)
        self.out_user = array("i", bytes(4 * (n + 1)))
        self.out_support = bytearray(n + 1)  # feature support-chat / qa
        self.out_beta = bytearray(n + 1)
        self.out_mobile = bytearray(n + 1)
        self.out_received = array("d", bytes(8 * (n + 1)))
        bounds, week = self.bounds, 0

        def rows():
            nonlocal week
            for index, (moment, user) in enumerate(activity.outputs):
                pk = index + 1
                while moment >= bounds[week + 1]:
                    week += 1
                record = records.record(index)
                body = _json(record)
                received = moment + 1 + (pk % 30)
                self.out_week[pk], self.out_user[pk], self.out_received[pk] = week, user, received
                self.out_support[pk] = record["metadata"]["feature"] in ("support-chat", "qa")
                self.out_beta[pk] = "beta" in record["tags"]
                self.out_mobile[pk] = "mobile" in record["tags"]
                occurred = _ts(moment)
                yield (
                    pk, self.project_id, record["external_id"], occurred, _ts(received), f"user-{user}",
                    f"s-{user}-{week}-{pk % 3}", record["model"], _json(record["input"]).decode(),
                    _json(record["output"]).decode(), _json(record["metadata"]).decode(),
                    _json(record["tags"]).decode(), "", hashlib.sha256(body).hexdigest(), _ts(received + 2),
                )  # fmt: skip

        columns = [
            "id", "project_id", "external_id", "occurred_at", "received_at", "end_user_id", "session_id", "model",
            "input", "output", "metadata", "tags", "feedback_comment", "content_hash", "routed_at",
        ]  # fmt: skip
        copy_rows(self.conn, "labeling_output", columns, rows())
        reset_sequences(self.conn, ["labeling_output"])

    def write_events(self) -> None:
        def rows():
            for index, (moment, user) in enumerate(self.activity.events):
                name = EVENT_NAMES[index % len(EVENT_NAMES)]
                properties = _json({"screen": f"s{index % 12}", "platform": ("ios", "android", "web")[index % 3]})
                external_id = f"ev-{index}"
                digest = hashlib.sha256(f"{external_id}|{user}|{name}|{moment}".encode()).hexdigest()
                yield (index + 1, self.project_id, external_id, f"user-{user}", name, _ts(moment), _ts(moment + 1),
                       properties.decode(), digest)  # fmt: skip

        columns = ["id", "project_id", "external_id", "end_user_id", "name", "occurred_at", "received_at",
                   "properties", "content_hash"]  # fmt: skip
        copy_rows(self.conn, "labeling_usageevent", columns, rows())
        reset_sequences(self.conn, ["labeling_usageevent"])

    # --- project, queues, people, dataset (services)

    def create_project(self) -> None:
        from labeling.models import Membership, Queue
        from labeling.services.datasets import create_dataset
        from labeling.services.projects import create_project

        per_week = self.args.labels / self.args.weeks
        self.quotas = {q["slug"]: round(per_week * q["share"] / q["overlap"]) for q in QUEUES}
        spec = {
            "slug": PROJECT_SLUG,
            "name": "Bench W4",
            "time_zone": TIME_ZONE,
            "cycle_weekday": "monday",
            "rubric": {"questions": RUBRIC, "guidelines": "Answer every question; critique when it fails."},
            "queues": [
                {
                    "slug": q["slug"],
                    "name": q["name"],
                    "rule": q["rule"],
                    "weekly_quota": self.quotas[q["slug"]],
                    "overlap": q["overlap"],
                    "priority": q["priority"],
                }
                for q in QUEUES
            ],  # fmt: skip
            "members": [{"username": f"w4-expert-{n:02d}", "role": "expert"} for n in range(1, EXPERTS + 1)]
            + [{"username": "w4-lead", "role": "lead"}],
        }
        project = create_project(spec=spec)
        self.project = project
        self.project_id = project.pk
        self.rubric_id = project.rubrics.get().pk
        self.queue_ids = {queue.slug: queue.pk for queue in Queue.objects.filter(project=project)}
        members = Membership.objects.filter(project=project).select_related("user")
        self.experts = sorted(m.user_id for m in members if m.role == "expert")
        self.lead = next(m.user_id for m in members if m.role == "lead")
        create_dataset(project=project, spec={"name": "bench-w4-all", "auto_rebuild": True})

    def set_sample_rates(self) -> None:
        """1.3x what the emptiest week needs to fill each quota (routing fills quotas first come, first served)."""
        from labeling.models import Queue

        matching = {q["slug"]: [0] * self.args.weeks for q in QUEUES}
        for pk in range(1, len(self.out_week)):
            for queue in QUEUES:
                if self._matches(queue["slug"], pk):
                    matching[queue["slug"]][self.out_week[pk]] += 1
        self.sample_rates = {
            slug: min(1.0, round(1.3 * self.quotas[slug] / max(1, min(weeks)), 4)) for slug, weeks in matching.items()
        }
        for slug, rate in self.sample_rates.items():
            Queue.objects.filter(pk=self.queue_ids[slug]).update(sample_rate=rate)

    def _matches(self, slug: str, pk: int) -> bool:
        if slug == "support-triple":
            return bool(self.out_support[pk])
        if slug == "beta":
            return bool(self.out_beta[pk])
        return True

    # --- review work

    def plan_items(self) -> None:
        """Per week, each queue's items: matching, hash-sampled outputs in time order, up to the quota."""
        self.week_items: list[list[tuple[int, str]]] = [[] for _ in range(self.args.weeks)]
        taken = Counter()
        for pk in range(1, len(self.out_week)):
            week = self.out_week[pk]
            for queue in QUEUES:
                slug = queue["slug"]
                if taken[slug, week] >= self.quotas[slug] or not self._matches(slug, pk):
                    continue
                digest = hashlib.sha256(f"{self.queue_ids[slug]}:{pk}".encode()).digest()  # routing.is_sampled
                if int.from_bytes(digest[:8], "big") / 2**64 < self.sample_rates[slug]:
                    taken[slug, week] += 1
                    self.week_items[week].append((pk, slug))
        self.item_answers: dict[int, list[tuple[int, dict]]] = {}  # item id → [(label id, answers)]
        self.item_meta: dict[int, tuple[int, float, str]] = {}  # item id → (week, completed_at, truth tone)

    def write_review(self, weeks: list[int]) -> None:
        """Items (complete), done slots, labels, skips, flags and comments of the given weeks."""
        rng = random.Random(self.args.seed * 1000 + weeks[0])
        accuracy = {expert: 0.84 + 0.10 * n / (len(self.experts) - 1) for n, expert in enumerate(self.experts)}
        workload = [1.0 + (n % 5) * 0.35 for n in range(len(self.experts))]
        overlap = {q["slug"]: q["overlap"] for q in QUEUES}
        priority = {q["slug"]: q["priority"] for q in QUEUES}
        latest = self.now - 3600
        items, slots, labels, skips, flags, comments = [], [], [], [], [], []
        for week in weeks:
            for pk, slug in sorted(self.week_items[week], key=lambda entry: self.out_received[entry[0]]):
                item_id = self.next_id("item")
                created = self.out_received[pk] + 5
                user = self.out_user[pk]
                # The truth: good experiences pass more often; mobile slips in the last week (a mover).
                p_pass = (0.86 if self.activity.good[user] else 0.56) + 0.004 * week
                if self.out_mobile[pk] and week == self.args.weeks - 1:
                    p_pass -= 0.15
                truth = rng.random() < p_pass
                helpful = rng.choices((3, 4, 5), (2, 5, 3))[0] if truth else rng.choices((1, 2, 3), (3, 5, 2))[0]
                tone = rng.choices(TONES, (50, 25, 15, 10))[0]
                chosen: list[int] = []
                while len(chosen) < overlap[slug]:
                    expert = rng.choices(self.experts, workload)[0]
                    if expert not in chosen:
                        chosen.append(expert)
                answer_sets, done_at = [], created
                for number, expert in enumerate(chosen, start=1):
                    right = accuracy[expert]
                    correct = truth if rng.random() < right else not truth
                    rating = min(5, max(1, helpful + rng.choices((-1, 0, 1), (15, 70, 15))[0]))
                    said_tone = tone if rng.random() < right else rng.choice([t for t in TONES if t != tone])
                    answers = {"correct": correct, "helpful": rating, "tone": said_tone}
                    if not correct or rng.random() < 0.15:
                        answers["critique"] = excerpt_words(rng, 8, 24)
                    seconds = int(min(1800, max(3, rng.lognormvariate(3.8, 0.6))))
                    at = min(latest, created + rng.uniform(600, 36 * 3600))
                    done_at = max(done_at, at)
                    label_id = self.next_id("label")
                    labels.append((label_id, item_id, expert, self.rubric_id, _json(answers).decode(), seconds,
                                   _ts(at), _ts(at)))  # fmt: skip
                    slots.append((self.next_id("slot"), item_id, self.queue_ids[slug], priority[slug], number,
                                  "done", expert, _ts(at - seconds), _ts(at - seconds + 900)))  # fmt: skip
                    answer_sets.append((label_id, answers))
                    if rng.random() < 0.006:
                        note = "Check this one: " + excerpt_words(rng, 5, 15)
                        resolved = _ts(at + 3 * 86400) if week < self.args.weeks - 2 and rng.random() < 0.9 else None
                        # A resolved flag's note is optional; the column holds "" rather than NULL (0048).
                        flags.append((self.next_id("flag"), item_id, expert, note, _ts(at), resolved, ""))
                        comments.append((self.next_id("comment"), item_id, self.lead,
                                         "Agreed, " + excerpt_words(rng, 4, 12), _ts(at + 7200)))  # fmt: skip
                if rng.random() < 0.03:
                    others = [expert for expert in self.experts if expert not in chosen]
                    skips.append((self.next_id("skip"), item_id, rng.choice(others), rng.choice(("", "unsure")),
                                  _ts(created + 300)))  # fmt: skip
                if rng.random() < 0.003:
                    comments.append((self.next_id("comment"), item_id, rng.choice(chosen),
                                     excerpt_words(rng, 6, 20), _ts(done_at)))  # fmt: skip
                items.append((item_id, self.project_id, self.queue_ids[slug], pk, self.weeks[week], overlap[slug],
                              priority[slug], "complete", _ts(created), _ts(done_at)))  # fmt: skip
                self.item_answers[item_id] = answer_sets
                self.item_meta[item_id] = (week, done_at, tone)
        conn = self.conn
        copy_rows(conn, "labeling_item", ["id", "project_id", "queue_id", "output_id", "week", "overlap", "priority",
                                          "status", "created_at", "completed_at"], items)  # fmt: skip
        copy_rows(conn, "labeling_slot", ["id", "item_id", "queue_id", "priority", "number", "state", "expert_id",
                                          "leased_at", "lease_expires_at"], slots)  # fmt: skip
        copy_rows(conn, "labeling_label", ["id", "item_id", "expert_id", "rubric_id", "answers", "seconds_spent",
                                           "created_at", "updated_at"], labels)  # fmt: skip
        copy_rows(conn, "labeling_skip", ["id", "item_id", "expert_id", "reason", "created_at"], skips)
        flag_columns = ["id", "item_id", "expert_id", "note", "created_at", "resolved_at", "resolution_note"]
        copy_rows(conn, "labeling_flag", flag_columns, flags)
        copy_rows(conn, "labeling_comment", ["id", "item_id", "author_id", "body", "created_at"], comments)
        reset_sequences(conn, [f"labeling_{name}" for name in ("item", "slot", "label", "skip", "flag", "comment")])

    def write_resolutions(self, weeks: list[int]) -> None:
        """Gold answers of the given weeks, as resolution.resolve_answers makes them; 90% of older ties
        adjudicated by the lead (the rest wait on the adjudication list)."""
        from labeling.models import Resolution
        from labeling.services.resolution import _status, resolve_answers

        rng = random.Random(self.args.seed * 7 + 3)
        wanted = set(weeks)
        rows = []
        for item_id, (week, done_at, tone) in sorted(self.item_meta.items()):
            if week not in wanted:
                continue
            answer_sets = [answers for _, answers in sorted(self.item_answers[item_id], key=lambda pair: pair[0])]
            resolution = Resolution(automatic=resolve_answers(RUBRIC, answer_sets), adjudicated={})
            adjudicated_by = adjudicated_at = None
            ties = [key for key, entry in resolution.automatic.items() if entry["method"] == "tie"]
            if ties and rng.random() < 0.9:
                # Stamped with the rubric version decided under, as adjudicate() stamps it.
                resolution.adjudicated = {
                    key: {"value": tone, "method": "adjudicated", "rubric_version": 1} for key in ties
                }
                adjudicated_by, adjudicated_at = self.lead, _ts(done_at + 86400)
                resolution.adjudicated_at = adjudicated_at
            rows.append((self.next_id("resolution"), item_id, _status(resolution), _json(resolution.automatic).decode(),
                         _json(resolution.adjudicated).decode(), "{}", False, adjudicated_at, "", adjudicated_by,
                         _ts(done_at + 90_000)))  # fmt: skip
        columns = ["id", "item_id", "status", "automatic", "adjudicated", "set_aside", "marked_for_adjudication",
                   "adjudicated_at", "note", "adjudicated_by_id", "updated_at"]  # fmt: skip
        copy_rows(self.conn, "labeling_resolution", columns, rows)
        reset_sequences(self.conn, ["labeling_resolution"])
        # Their gold answers are computed from their current labels, as the resolve service would leave them.
        self.conn.execute(
            "UPDATE labeling_item SET gold_stale = false WHERE id IN (SELECT item_id FROM labeling_resolution)"
        )

    def history_metrics(self, weeks: list[int]) -> None:
        from labeling.services import metrics

        for week in weeks:
            metrics.refresh_week_metrics(project=self.project, week=self.weeks[week])

    def close(self, week: date) -> dict:
        from labeling.services.cycles import close_week

        began = time.perf_counter()
        cycle = close_week(project_id=self.project_id, week=week)
        return {"week": week.isoformat(), "status": cycle.status, "seconds": round(time.perf_counter() - began, 2)}


def counts(conn: psycopg.Connection, project_id: int, week: date) -> dict:
    def one(sql: str, *params) -> int:
        return conn.execute(sql, params).fetchone()[0]

    return {
        "outputs": one("SELECT count(*) FROM labeling_output WHERE project_id = %s", project_id),
        "usage_events": one("SELECT count(*) FROM labeling_usageevent WHERE project_id = %s", project_id),
        "end_users": one(
            "SELECT count(DISTINCT end_user_id) FROM (SELECT end_user_id FROM labeling_output UNION ALL "
            "SELECT end_user_id FROM labeling_usageevent) a"
        ),
        "items": one("SELECT count(*) FROM labeling_item WHERE project_id = %s", project_id),
        "items_in_week": one(
            "SELECT count(*) FROM labeling_item WHERE project_id = %s AND week = %s", project_id, week
        ),
        "labels": one("SELECT count(*) FROM labeling_label"),
        "labels_in_week": one(
            "SELECT count(*) FROM labeling_label l JOIN labeling_item i ON i.id = l.item_id WHERE i.week = %s", week
        ),
        "slots": one("SELECT count(*) FROM labeling_slot"),
        "skips": one("SELECT count(*) FROM labeling_skip"),
        "flags": one("SELECT count(*) FROM labeling_flag"),
        "open_flags": one("SELECT count(*) FROM labeling_flag WHERE resolved_at IS NULL"),
        "comments": one("SELECT count(*) FROM labeling_comment"),
        "resolutions": one("SELECT count(*) FROM labeling_resolution"),
        "resolutions_in_week": one(
            "SELECT count(*) FROM labeling_resolution r JOIN labeling_item i ON i.id = r.item_id WHERE i.week = %s",
            week,
        ),
        "needs_adjudication": one("SELECT count(*) FROM labeling_resolution WHERE status = 'needs_adjudication'"),
        "dataset_versions": one("SELECT count(*) FROM labeling_datasetversion"),
        "dataset_rows": one("SELECT count(*) FROM labeling_datasetrow"),
        "closed_cycles": one("SELECT count(*) FROM labeling_reviewcycle WHERE status = 'closed'"),
        "quality_rows": one("SELECT count(*) FROM labeling_qualitymetric"),
        "retention_cells": one("SELECT count(*) FROM labeling_retentioncell"),
        "database_mb": round(one("SELECT pg_database_size(current_database())") / 2**20),
    }


# ----------------------------------------------------------------------------------------------
# One close, in a fresh child process (`--child`): steps timed from the outside too, SQL timed per step

STEP_MODULES = {
    "labeling.services.resolution": ("resolve_stale_items", "_resolve_chunk"),
    # Wrapped where they are called from: _fill calls the writers through the names builds imports.
    "labeling.services.datasets.builds": ("build_version", "_fill", "write_rows", "write_incremental"),
    "labeling.services.datasets.storage": ("read_back",),
    "labeling.services.metrics": ("refresh_week_metrics",),
    "labeling.services.retention": ("refresh_retention", "activity_weeks", "user_verdicts"),
    "labeling.services.cycles": (
        "resolve_stale_items", "_rebuild_datasets", "build_version", "refresh_week_metrics", "refresh_retention",
        "build_report", "send_digests",
    ),
    "labeling.selectors.report": ("_retention", "_adjudication_agenda", "_flag_agenda", "_movers"),
    # The new version's Parquet and hf files: a worker renders them after the close (the child runs the close's
    # queued tasks after it, see `child`), timed in the tree.
    "labeling.services.version_files": ("render_version_files",),
}  # fmt: skip


def own_peak_rss_kb() -> int:
    """This process image's peak RSS (VmHWM), which, unlike ru_maxrss, starts afresh at exec."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


class StepClock:
    """Wall seconds, calls, SQL statements and SQL seconds per call path (e.g. close_week > build_version).

    The close runs a lane of its steps on a thread with a connection of its own (`services.lanes`): each thread keeps
    its own stack, a lane's paths read `close_week > (lane 1) > …`, and its connection's statements are timed too.
    """

    def __init__(self, keep_sql: bool = False):
        self.local = threading.local()
        self.stats: dict[str, dict] = {}
        self.keep_sql = keep_sql
        self.statements: list[dict] = []

    @property
    def stack(self) -> list[str]:
        if not hasattr(self.local, "stack"):
            on_main = threading.current_thread() is threading.main_thread()
            self.local.stack = [] if on_main else ["close_week", "(lane 1)"]
        return self.local.stack

    def entry(self, path: str) -> dict:
        return self.stats.setdefault(path, {"seconds": 0.0, "calls": 0, "sql": 0, "sql_seconds": 0.0})

    def wrap(self, name: str, function):
        clock = self

        def timed(*args, **kwargs):
            stack = clock.stack
            if stack and stack[-1] == name:
                return function(*args, **kwargs)  # the same function wrapped in two namespaces
            lane_root = stack == ["close_week", "(lane 1)"]
            stack.append(name)
            path = " > ".join(stack)
            clock.entry(path)  # parents listed before their children
            began = time.perf_counter()
            try:
                if lane_root:  # the lane thread's first timed call: time its connection's statements as well
                    from django.db import connection

                    with connection.execute_wrapper(clock.sql):
                        return function(*args, **kwargs)
                return function(*args, **kwargs)  # a generator's time counts where it is consumed
            finally:
                entry = clock.entry(path)
                entry["seconds"] += time.perf_counter() - began
                entry["calls"] += 1
                # The process's peak so far: the first step whose figure jumps is the one that raised it.
                entry["peak_rss_mb"] = round(own_peak_rss_kb() / 1024)
                stack.pop()

        timed.__wrapped__ = function
        return timed

    def sql(self, execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - began
            path = " > ".join(self.stack) or "(outside)"
            entry = self.entry(path)
            entry["sql"] += 1
            entry["sql_seconds"] += elapsed
            if self.keep_sql:
                self.statements.append({"path": path, "seconds": elapsed, "sql": sql, "params": params, "many": many})


# Imported inside the functions that use them (a web worker never loads them); a Celery worker keeps them loaded.
WARM_MODULES = ("scipy.stats", "statsmodels.stats.inter_rater", "statsmodels.stats.proportion",
                "statsmodels.stats.multitest", "sklearn.cluster", "sklearn.decomposition",
                "sklearn.feature_extraction.text", "sklearn.metrics", "sklearn.preprocessing")  # fmt: skip


def child(args) -> None:
    """Run close_week once in this process; print one line `W4RESULT {json}`."""
    began_process = time.perf_counter()
    django_setup(server_env(args.database))
    from django.db import connection

    from labeling.services import cycles

    if args.patch:
        importlib.import_module(args.patch)  # monkeypatches the code under test (see w4_patch_one_lane.py)
    if args.warm:
        for name in WARM_MODULES:  # what a worker has loaded since its first close
            importlib.import_module(name)
        from django.urls import get_resolver

        get_resolver().check()  # imports the URLconf, which the close's first reverse() would import (~1 s)
    clock = StepClock(keep_sql=args.profile_out is not None)

    for module_name, names in STEP_MODULES.items():
        module = importlib.import_module(module_name)
        for name in names:
            # A step renamed or moved must fail here, not silently drop out of the timings.
            setattr(module, name, clock.wrap(name, getattr(module, name)))
    week = date.fromisoformat(args.week)
    # In production the close's outbox messages (the dataset files' render, digests, webhooks) go to the broker and
    # run on workers after it; eager Celery would run them inside the close's steps. They run after it, timed apart.
    from labeling.services import outbox

    queued: list[int] = []
    publish_after_commit = outbox._publish_after_commit
    outbox._publish_after_commit = queued.append
    rss_before = own_peak_rss_kb()
    profiler = cProfile.Profile() if args.profile_out else None
    with connection.execute_wrapper(clock.sql):
        began = time.perf_counter()
        if profiler:
            profiler.enable()
        cycle = clock.wrap("close_week", cycles.close_week)(project_id=args.project_id, week=week)
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - began
    outbox._publish_after_commit = publish_after_commit
    began_tasks = time.perf_counter()
    outbox.publish_pending()
    result = {
        "seconds": seconds,
        "queued_tasks": {"messages": len(queued), "seconds": round(time.perf_counter() - began_tasks, 3)},
        "startup_s": began - began_process,
        "status": cycle.status if cycle else None,
        "close": (cycle.report or {}).get("close") if cycle else None,
        "steps": clock.stats,
        "rss_before_close_kb": rss_before,
        "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "vm_hwm_kb": own_peak_rss_kb(),
    }
    if profiler:
        profiler.dump_stats(args.profile_out)
        slowest = sorted(clock.statements, key=lambda s: -s["seconds"])[:40]
        by_shape = defaultdict(lambda: {"count": 0, "seconds": 0.0, "path": ""})
        for statement in clock.statements:
            shape = by_shape[statement["sql"][:2000]]
            shape["count"] += 1
            shape["seconds"] += statement["seconds"]
            shape["path"] = statement["path"]
        # Parameters kept whole only for SELECTs (EXPLAIN re-runs them); an INSERT's arrays can be megabytes.
        result["sql_slowest"] = [
            {**s, "params": _params_json(s["params"]) if _is_select(s) else repr(s["params"])[:2000]} for s in slowest
        ]
        result["sql_by_shape"] = sorted(
            ({"sql": sql, **shape} for sql, shape in by_shape.items()), key=lambda s: -s["seconds"]
        )[:25]
    print("W4RESULT " + json.dumps(result, default=str), flush=True)


def _is_select(statement: dict) -> bool:
    return not statement["many"] and statement["sql"].lstrip().upper().startswith("SELECT")


def _params_json(params):
    """Statement parameters kept re-usable for EXPLAIN (lists and dicts as they are, dates as strings)."""
    if params is None:
        return None
    items = params.items() if isinstance(params, dict) else enumerate(params)
    out = {} if isinstance(params, dict) else []
    for key, value in items:
        value = value.isoformat() if isinstance(value, (date, datetime)) else value
        value = value if isinstance(value, (int, float, str, bool, list, dict, type(None))) else str(value)
        if isinstance(out, dict):
            out[key] = value
        else:
            out.append(value)
    return out


def run_child(
    database: str, setup: dict, *, profile_out: Path | None = None, patch: str | None = None, warm: bool = False
) -> dict:
    """Start the child, wait for it with os.wait4 (its CPU time; peak RSS from its VmHWM), return its result."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--database", database,
               "--project-id", str(setup["project_id"]), "--week", setup["week"]]  # fmt: skip
    if warm:
        command.append("--warm")
    if profile_out:
        command += ["--profile-out", str(profile_out)]
    if patch:
        command += ["--patch", patch]
    lock_waits = LockWaitSampler(PG, database)
    lock_waits.start()
    began = time.perf_counter()
    with open(OUT / "w4-child-stderr.log", "w+b") as errors:
        process = subprocess.Popen(command, cwd=ROOT, env=server_env(database), stdout=subprocess.PIPE, stderr=errors)
        stdout = process.stdout.read()
        process.stdout.close()
        _, status, usage = os.wait4(process.pid, 0)  # the child's own rusage: its CPU time
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        stderr = errors.read()
    wall = time.perf_counter() - began
    waits = lock_waits.stop()
    line = next((text for text in stdout.decode().splitlines() if text.startswith("W4RESULT ")), None)
    if line is None or process.returncode:
        raise SystemExit(
            f"the close failed (exit {process.returncode}):\n{stdout.decode()[-3000:]}\n{stderr.decode()[-5000:]}"
        )
    result = json.loads(line.removeprefix("W4RESULT "))
    result["process_wall_s"] = wall
    result["lock_waits"] = waits  # the whole process's: set-up, close and the queued tasks after it
    # Not usage.ru_maxrss: Linux keeps in it the RSS the parent had when it forked the child (exec records the old
    # image's high-water mark), so a parent that had just made a 3M-row template reported its own ~1.1 GB.
    result["peak_rss_mb"] = result.get("vm_hwm_kb", usage.ru_maxrss) / 1024
    result["process_cpu_s"] = usage.ru_utime + usage.ru_stime  # less sensitive to a busy machine than wall time
    result["stderr_tail"] = stderr.decode()[-2000:]
    return result


def _proc_status(pid: int, field: str) -> float:
    """A /proc/<pid>/status figure in MB (VmRSS now, VmHWM the peak so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def run_worker(database: str, setup: dict, redis_url: str) -> dict:
    """--through-worker: a real Celery worker (solo pool, as deployed) closes the week, as beat's close would.

    The time is from the task's publication to the cycle stored closed (polled every 0.1 s); the worker's peak RSS is
    its VmHWM, read before it stops, and its RSS once ready is reported beside it."""
    from celery import Celery

    queue = f"w4-bench-{os.getpid()}"
    env = server_env(database, redis_url, CELERY_DEFAULT_QUEUE=queue, LOG_LEVEL="INFO")
    command = [sys.executable, "-m", "celery", "-A", "expertloop", "worker", "--pool=solo", "--loglevel=INFO",
               "--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", queue]  # fmt: skip
    log_path = OUT / "w4-worker.log"
    with open(log_path, "w+b") as worker_log:
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=worker_log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while b"ready." not in log_path.read_bytes():
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the worker did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.1)
            rss_ready = _proc_status(worker.pid, "VmRSS")
            cpu_ready = cpu_seconds(worker.pid)
            publisher = Celery(broker=redis_url)
            lock_waits = LockWaitSampler(PG, database)
            lock_waits.start()
            began = time.perf_counter()
            publisher.send_task("labeling.close_week", args=[setup["project_id"], setup["week"]], queue=queue)
            with psycopg.connect(f"{PG} dbname={database}", autocommit=True) as conn:
                while True:
                    status, failed_at, error, close = conn.execute(
                        "SELECT status, failed_at, last_error, report->'close' FROM labeling_reviewcycle "
                        "WHERE project_id = %s AND week = %s", [setup["project_id"], setup["week"]],
                    ).fetchone() or (None, None, "", None)  # fmt: skip
                    if status == "closed":
                        break
                    if failed_at or worker.poll() is not None:
                        raise SystemExit(f"the close failed: {error}\n{log_path.read_text()[-3000:]}")
                    time.sleep(0.1)
            seconds = time.perf_counter() - began
            waits = lock_waits.stop()  # from publication to the cycle stored closed
            peak, cpu = _proc_status(worker.pid, "VmHWM"), cpu_seconds(worker.pid) - cpu_ready
        finally:
            worker.terminate()
            worker.wait(timeout=60)
    return {
        "seconds": seconds, "process_wall_s": seconds, "process_cpu_s": cpu, "peak_rss_mb": peak,
        "rss_ready_mb": rss_ready, "status": status, "close": close, "steps": {}, "through_worker": True,
        "lock_waits": waits,
    }  # fmt: skip


# ----------------------------------------------------------------------------------------------
# The benchmark


def migrate_template(template: str) -> None:
    """Bring a reused template to this tree's schema: a template made before a migration (a new column) made every
    close of it fail. Each tree of a paired comparison keeps a template of its own (0033 is irreversible)."""
    command = [sys.executable, "manage.py", "migrate", "--noinput"]
    done = subprocess.run(command, cwd=ROOT, env=server_env(template), capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"Migrating {template} failed:\n{done.stdout}\n{done.stderr}")
    applied = [line.strip() for line in done.stdout.splitlines() if line.strip().startswith("Applying")]
    if applied:
        log(f"  migrated {template} to this tree's schema: {'; '.join(applied)}")


def load_setup(template: str) -> dict | None:
    if not database_exists(template):
        return None
    with psycopg.connect(f"{PG} dbname={template}") as conn:
        try:
            row = conn.execute(f"SELECT doc FROM {SETUP_TABLE}").fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    return row[0] if row else None


def check_close(database: str, setup: dict) -> tuple[list[str], dict]:
    """What is wrong after a close (empty: it is right), and a few figures of what it made."""
    problems = []
    week, project_id = date.fromisoformat(setup["week"]), setup["project_id"]
    with psycopg.connect(f"{PG} dbname={database}") as conn:

        def one(sql, *params):
            return conn.execute(sql, params).fetchone()[0]

        status, report = conn.execute(
            "SELECT status, report FROM labeling_reviewcycle WHERE project_id = %s AND week = %s", [project_id, week]
        ).fetchone() or (None, {})
        if status != "closed":
            problems.append(f"cycle status {status!r}")
        unresolved = one(
            "SELECT count(*) FROM labeling_item i WHERE i.project_id = %s AND i.week = %s AND i.status = 'complete' "
            "AND NOT EXISTS (SELECT 1 FROM labeling_resolution r WHERE r.item_id = i.id)",
            project_id, week,
        )  # fmt: skip
        if unresolved:
            problems.append(f"{unresolved} complete items of the week without a gold answer")
        versions = conn.execute(
            "SELECT number, row_count, status, sha256, rows_copied FROM labeling_datasetversion"
            " ORDER BY number DESC LIMIT 1"
        ).fetchone()
        if versions is None or versions[0] != setup["counts"]["dataset_versions"] + 1 or versions[2] != "ready":
            problems.append(f"no new ready dataset version: {versions}")
        metric_rows = {
            table: one(f"SELECT count(*) FROM labeling_{table} WHERE project_id = %s AND week = %s", project_id, week)
            for table in ("qualitymetric", "agreementmetric", "expertweek", "queueweek")
        }
        problems += [f"no {table} rows for the week" for table, n in metric_rows.items() if not n]
        for key in ("headline", "quality", "agreement", "throughput", "retention", "agenda"):
            if key not in report:
                problems.append(f"report without {key!r}")
        headline = report.get("headline") or {}
        figures = {
            "dataset_version": versions[0] if versions else None,
            "dataset_rows": versions[1] if versions else None,
            "dataset_sha256": versions[3] if versions else None,
            "dataset_rows_copied": versions[4] if versions else None,
            # The rows' and (since lines are stored once) the lines' tables, every version: what the versions cost.
            "dataset_tables_mb": round(
                one(
                    "SELECT coalesce(sum(pg_total_relation_size(t)), 0) FROM unnest(ARRAY["
                    "to_regclass('labeling_datasetrow'), to_regclass('labeling_datasetline')]) AS t"
                )
                / 2**20
            ),
            "metric_rows": metric_rows,
            "retention_cells": one("SELECT count(*) FROM labeling_retentioncell WHERE project_id = %s", project_id),
            # "incremental", or "full: <why>" (issue 19: a close reads the recent weeks of activity only)
            "retention_refresh": retention_refresh(conn, project_id),
            "report_kb": round(len(json.dumps(report)) / 1024, 1),
            "pass_rate": (headline.get("pass_rate") or {}).get("value"),
            "alpha": (headline.get("alpha") or {}).get("value"),
            "labels_done": (headline.get("labels") or {}).get("done"),
            "retention_week1": ((headline.get("retention_week1") or {}).get("all") or {}).get("rate"),
            "agenda": {key: len(value) for key, value in (report.get("agenda") or {}).items()},
            "resolved_items": (report.get("close") or {}).get("resolved_items"),
        }
    return problems, figures


def step_seconds(result: dict) -> dict[str, float]:
    """The service's own step timings (report["close"]["seconds"]), and the rest of the call."""
    close = result.get("close") or {}
    steps = dict(close.get("seconds") or {})  # {"resolve": s, …} or [{"step": "resolve", "seconds": s}, …]
    steps.update({entry["step"]: entry["seconds"] for entry in close.get("steps") or []})
    # Steps that ran in two lanes (`services.lanes`) overlap: the rest is what the close's own wall time leaves.
    inside = close.get("wall_seconds", sum(steps.values()))
    if any("lane" in entry for entry in close.get("steps") or []):
        steps["(both lanes, wall)"] = inside - steps.get("resolve", 0) - steps.get("report", 0)
    steps["(freeze, next cycle, audit, digests)"] = result["seconds"] - inside
    return steps


def median_of(runs: list[dict], get) -> float | None:
    values = [value for value in (get(run) for run in runs) if value is not None]
    return statistics.median(values) if values else None


def run(args) -> int:
    template, copy_name = f"{args.database}_tpl", f"{args.database}_run"
    stamp = new_stamp()
    setup = load_setup(template) if args.reuse else None
    if setup is None:
        log(f"Set-up into {template} ({args.outputs:,} outputs, {args.events:,} events, {args.labels:,} labels) …")
        began = time.perf_counter()
        setup = Setup(args, template).run()
        setup["setup_s"] = round(time.perf_counter() - began, 1)
        log(f"Set-up done in {setup['setup_s']} s")
    else:
        log(f"Reusing {template} (made {setup['created_at']}, week {setup['week']})")
        migrate_template(template)
    print_counts(setup)
    machine_before = yardstick.measure()
    log(f"Yardstick (the same fixed work on any machine: Python {machine_before['python_s']} s + PostgreSQL "
        f"{machine_before['postgres_s']} s) = {machine_before['total_s']} s")  # fmt: skip
    runs, ok = [], True
    try:
        # With --compare, each run closes the week twice, as is and patched, in alternating order: on a
        # shared machine only back-to-back pairs compare fairly.
        variants = [None, args.compare] if args.compare else [args.patch]
        for number in range(1, args.runs + 1):
            for patch in variants if number % 2 else variants[::-1]:
                copy_s = copy_database(template, copy_name)
                closer = "a Celery worker" if args.through_worker else "a child process"
                log(f"Run {number}/{args.runs}{f' [{patch}]' if patch else ''}: fresh copy in {copy_s:.1f} s; "
                    f"closing {setup['week']} in {closer} …")  # fmt: skip
                if args.through_worker:
                    result = run_worker(copy_name, setup, args.through_worker)
                else:
                    result = run_child(copy_name, setup, patch=patch, warm=args.warm)
                problems, figures = check_close(copy_name, setup)
                result.update(run=number, patch=patch, copy_s=copy_s, problems=problems, figures=figures)
                ok &= not problems
                steps = ", ".join(f"{k} {v:.1f}" for k, v in step_seconds(result).items())
                trouble = f"; PROBLEMS: {problems}" if problems else ""
                tasks = result.get("queued_tasks") or {}
                waits = result["lock_waits"]
                log(f"  close {result['seconds']:.1f} s ({steps}); then its {tasks.get('messages')} queued task(s) "
                    f"{tasks.get('seconds')} s; CPU {result['process_cpu_s']:.1f} s; "
                    f"peak RSS {result['peak_rss_mb']:.0f} MB; lock waits {waits['waits']} "
                    f"({waits['seconds']} s, longest {waits['longest_s']} s){trouble}")  # fmt: skip
                runs.append(result)
        profile = None
        if args.profile:
            copy_database(template, copy_name)
            prof_path = OUT / f"w4-profile-{stamp}.prof"
            log("Profile: one more close under cProfile, every SQL statement timed …")
            profile = run_child(copy_name, setup, profile_out=prof_path, patch=args.patch, warm=args.warm)
            log(f"  close {profile['seconds']:.1f} s under cProfile; EXPLAIN ANALYZE of the slowest statements …")
            profile["explain"] = explain_statements(copy_name, profile["sql_slowest"], args.explain)
            profile["cprofile_cumulative"] = cprofile_text(str(prof_path), "cumulative", 35)
            profile["cprofile_tottime"] = cprofile_text(str(prof_path), "tottime", 25)
    finally:
        drop_database(copy_name)
        if not (args.reuse or args.keep_template):
            drop_database(template)
    report = summarise(args, setup, runs, profile, ok)
    report["yardstick"] = {"before": machine_before, "after": yardstick.measure()}
    save_and_print(f"w4-{stamp}.json", report, print_report)
    return 0 if ok else 1


def medians(runs: list[dict]) -> dict:
    step_names = list(dict.fromkeys(name for run in runs for name in step_seconds(run)))
    return {
        "close_s": median_of(runs, lambda r: r["seconds"]),
        "process_wall_s": median_of(runs, lambda r: r["process_wall_s"]),
        "process_cpu_s": median_of(runs, lambda r: r["process_cpu_s"]),
        "peak_rss_mb": median_of(runs, lambda r: r["peak_rss_mb"]),
        "steps_s": {name: median_of(runs, lambda r, n=name: step_seconds(r).get(n)) for name in step_names},
    }


def summarise(args, setup: dict, runs: list[dict], profile: dict | None, ok: bool) -> dict:
    measured = [run for run in runs if not args.compare or run["patch"] is None]
    compared = [run for run in runs if args.compare and run["patch"] == args.compare]
    return {
        "workload": "W4 weekly close",
        "ok": ok,
        "git": git_state(),
        "machine": machine() | {"platform": platform.platform()},
        "args": vars(args),
        "setup": setup,
        "median": medians(measured),
        "max_peak_rss_mb": max((r["peak_rss_mb"] for r in measured), default=None),
        "compare": {
            "patch": args.compare,
            "median": medians(compared),
            "paired_ratio_close_s": [b["seconds"] / a["seconds"] for a, b in zip(measured, compared, strict=False)],
            "same_sha256": all(
                a["figures"]["dataset_sha256"] == b["figures"]["dataset_sha256"]
                for a, b in zip(measured, compared, strict=False)
            ),
        }
        if args.compare
        else None,  # fmt: skip
        "targets": {"close_s": TARGET_SECONDS, "rss_mb": TARGET_RSS_MB},
        "runs": runs,
        "profile": profile,
    }


def retention_refresh(conn, project_id: int) -> str | None:
    """How the close refreshed retention: "incremental", or "full: <why>" (None before issue 19's user histories)."""
    if conn.execute("SELECT to_regclass('labeling_retentionstate')").fetchone()[0] is None:
        return None
    row = conn.execute("SELECT last_refresh FROM labeling_retentionstate WHERE project_id = %s", [project_id])
    return (row.fetchone() or [None])[0]


def print_counts(setup: dict) -> None:
    c = setup["counts"]
    print(f"Data (week closed: {setup['week']}, {TIME_ZONE}, Monday weeks; seed {setup['seed']}):")
    print(f"  {c['outputs']:,} outputs + {c['usage_events']:,} usage events of {c['end_users']:,} end users "
          f"({setup['active_user_weeks']:,} active user-weeks)")  # fmt: skip
    print(f"  {c['items']:,} items, {c['labels']:,} labels, {c['slots']:,} slots, {c['skips']:,} skips, "
          f"{c['flags']:,} flags ({c['open_flags']} open), {c['comments']:,} comments")  # fmt: skip
    print(f"  week closed: {c['items_in_week']:,} items, {c['labels_in_week']:,} labels, "
          f"{c['resolutions_in_week']} gold answers before the close")  # fmt: skip
    print(f"  earlier weeks: {c['resolutions']:,} gold answers ({c['needs_adjudication']} waiting for a lead), "
          f"{c['dataset_versions']} dataset version(s) ({c['dataset_rows']:,} rows), {c['closed_cycles']} closed "
          f"cycle(s), {c['quality_rows']} quality rows, {c['retention_cells']} retention cells")  # fmt: skip
    print(f"  quotas {setup['quotas']}, sample rates {setup['sample_rates']}; database {c['database_mb']:,} MB")
    if setup.get("previous_close"):
        print(f"  set-up closed the previous week through close_week in {setup['previous_close']['seconds']} s")


def print_report(report: dict) -> None:
    med = report["median"]
    runs = [run for run in report["runs"] if not report["compare"] or run["patch"] is None]
    print()
    print(f"W4 weekly close, median of {len(runs)} run(s) (each in a fresh process on a fresh copy):")
    trio = " / ".join(f"{r['seconds']:.1f}" for r in runs)
    verdict = "met" if med["close_s"] is not None and med["close_s"] <= TARGET_SECONDS else "NOT met"
    print(f"  close_week: {med['close_s']:.1f} s ({trio}) — target ≤ {TARGET_SECONDS} s: {verdict}")
    sticks = report.get("yardstick")
    if sticks and med["close_s"] is not None:
        unit = (sticks["before"]["total_s"] + sticks["after"]["total_s"]) / 2
        print(f"  on this machine's yardstick ({sticks['before']['total_s']} s before the runs, "
              f"{sticks['after']['total_s']} s after): close = {med['close_s'] / unit:.1f} yardsticks, datasets step "
              f"= {(med['steps_s'].get('datasets') or 0) / unit:.2f}")  # fmt: skip
    rss = " / ".join(f"{r['peak_rss_mb']:.0f}" for r in runs)
    verdict = "met" if report["max_peak_rss_mb"] < TARGET_RSS_MB else "NOT met"
    print(f"  peak RSS of the process: {med['peak_rss_mb']:.0f} MB ({rss}) — target < {TARGET_RSS_MB} MB: {verdict}")
    if runs and runs[0].get("through_worker"):
        ready = " / ".join(f"{r['rss_ready_mb']:.0f}" for r in runs)
        print(f"  through a real Celery worker (solo pool): its RSS once ready {ready} MB; wall and CPU: the close's")
    print(f"  process wall (start, Django set-up, close, exit): {med['process_wall_s']:.1f} s; "
          f"its CPU (user + system): {med['process_cpu_s']:.1f} s")  # fmt: skip
    print("  steps (the service's timings, median s):")
    for name, seconds in med["steps_s"].items():
        print(f"    {name:40} {seconds:8.2f}")
    if runs:
        print("  inside the steps (run 1; wall s, calls, SQL statements, SQL s, peak RSS MB after it):")
        for path, entry in runs[0]["steps"].items():
            depth = path.count(" > ")
            name = path.rsplit(" > ", 1)[-1]
            print(f"    {'  ' * depth}{name:{46 - 2 * depth}} {entry['seconds']:8.2f} {entry['calls']:6} "
                  f"{entry['sql']:7} {entry['sql_seconds']:8.2f} {entry.get('peak_rss_mb', ''):>6}")  # fmt: skip
        print(f"  what it made (run 1): {json.dumps(runs[0]['figures'], default=str)}")
    compare = report.get("compare")
    if compare:
        cmp = compare["median"]
        ratios = " / ".join(f"{ratio:.2f}" for ratio in compare["paired_ratio_close_s"])
        print(f"  patched with {compare['patch']}: close {cmp['close_s']:.1f} s, CPU {cmp['process_cpu_s']:.1f} s, "
              f"peak RSS {cmp['peak_rss_mb']:.0f} MB; paired ratio patched/as is {ratios}; "
              f"same dataset SHA-256: {compare['same_sha256']}")  # fmt: skip
        for name, seconds in cmp["steps_s"].items():
            print(f"    {name:40} {seconds:8.2f}")
    problems = [p for r in report["runs"] for p in r["problems"]]
    print("  checks: " + ("all passed" if not problems else "; ".join(problems)))
    profile = report.get("profile")
    if profile:
        print()
        print(f"Profile: close under cProfile {profile['seconds']:.1f} s.")
        print("cProfile, top by own time:")
        print("\n".join(profile["cprofile_tottime"].splitlines()[6:34]))
        print("SQL statements by total time (count, s, step):")
        for shape in profile["sql_by_shape"][:12]:
            print(f"  {shape['count']:6} {shape['seconds']:8.2f}  {shape['path']}\n      {shape['sql'][:300]}")
        for plan in profile["explain"]:
            print(f"\nEXPLAIN ANALYZE ({plan['seconds']:.2f} s in the close, {plan['path']}):\n{plan['sql'][:600]}")
            print(plan["plan"])


def main() -> None:
    parser = workload_parser(__doc__)
    parser.add_argument("--users", type=int, default=50_000, help="end users (default 50,000)")
    parser.add_argument("--outputs", type=int, default=500_000, help="outputs (default 500,000)")
    parser.add_argument("--events", type=int, default=500_000, help="usage events (default 500,000)")
    parser.add_argument("--labels", type=int, default=100_000, help="labels over all weeks (default 100,000)")
    parser.add_argument("--weeks", type=int, default=WEEKS, help="cycle weeks of data (default 12)")
    parser.add_argument("--week", help="the week to close, its Monday (default: the last complete week)")
    parser.add_argument("--seed", type=int, default=20261116, help="random seed of the data")
    parser.add_argument("--runs", type=int, default=3, help="measured closes (default 3)")
    parser.add_argument("--database", default="expertloop_bench_w4", help="prefix: <prefix>_tpl and <prefix>_run")
    parser.add_argument("--reuse", action="store_true", help="reuse the template database if it exists; keep it")
    parser.add_argument("--keep-template", action="store_true", help="keep the template database afterwards")
    parser.add_argument("--profile", action="store_true", help="one more close under cProfile, with SQL timings")
    parser.add_argument("--explain", type=int, default=6, help="EXPLAIN ANALYZE this many slow SELECTs (default 6)")
    parser.add_argument("--patch", help="a module the child imports first, to try a change (see w4_patch_one_lane.py)")
    parser.add_argument("--compare", help="a patch module: each run closes the week as is and patched, back to back")
    parser.add_argument(
        "--through-worker", metavar="REDIS_URL", default="",
        help="close each run's week through a real Celery worker on this broker (e.g. redis://127.0.0.1:6379/12)",
    )  # fmt: skip
    parser.add_argument(
        "--warm",
        action="store_true",
        help="import the statistics and clustering libraries before the clock, as a worker that closed a week has "
        "(a fresh process pays ~2-4 s of imports inside the metrics, changes and themes steps) and the URLconf",
    )
    # The child process (one close): not for direct use.
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--project-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    sys.exit(run(args))


if __name__ == "__main__":
    main()
