"""W2b in-process: the server's CPU per label of the swap loop (one POST per label, answered with the next screen).

One expert labels through Django's WSGI handler in this process (every middleware, sessions, CSRF, the real
views and templates; no test client, which would copy every template context), against a database seeded by
`w2_labeling.py --keep-db`. Prints CPU per label (median of batches), the statements of one label, and
cProfile's top functions; writes the .prof to bench/out/.

    .venv/bin/python bench/w2_labeling.py --swap --outputs 20000 --labels 1000 --runs 1 --profile never \\
        --database expertloop_bench_w2b --redis-url redis://127.0.0.1:6379/5 --keep-db
    .venv/bin/python bench/w2b_profile.py --database expertloop_bench_w2b --redis-url redis://127.0.0.1:6379/5
"""

from __future__ import annotations

import argparse
import cProfile
import statistics
import time
import urllib.parse

from harness import OUT
from harness.database import django_setup, server_env
from harness.profiling import cprofile_text, wsgi_environ
from harness.sampling import cpu_seconds
from w2_labeling import _LABEL_FORM, PROJECT_SLUG, QUEUE_SLUG, form_answers, hidden_fields


class Session:
    """Cookies kept across requests through the WSGI handler, as a browser would."""

    def __init__(self, handler, cookies: dict[str, str]):
        self.handler, self.cookies = handler, dict(cookies)

    def request(self, method: str, path: str, *, form=None, headers: dict | None = None):
        body = urllib.parse.urlencode(form or []).encode()
        environ = wsgi_environ(
            method, path, body=body, content_type="application/x-www-form-urlencoded" if form is not None else ""
        )
        environ["HTTP_COOKIE"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        environ["HTTP_REFERER"] = "http://127.0.0.1" + path
        for name, value in (headers or {}).items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        status = []
        response = self.handler(environ, lambda s, h, exc_info=None: status.append(s))
        try:
            content = b"".join(response)
        finally:
            response.close()  # request_finished, as gunicorn
        for name, morsel in response.cookies.items():
            self.cookies[name] = morsel.value
        return int(status[0].split()[0]), response, content


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="expertloop_bench_w2b")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--labels", type=int, default=200, help="labels timed (default 200)")
    parser.add_argument("--batches", type=int, default=5, help="CPU is the median over this many batches")
    parser.add_argument("--expert", default="w2-expert-01")
    parser.add_argument("--no-cprofile", action="store_true")
    parser.add_argument("--stages", action="store_true", help="also CPU per label of the main stages, unprofiled")
    parser.add_argument("--backend", action="store_true", help="also PostgreSQL's CPU per label, by statement")
    args = parser.parse_args()
    django_setup(server_env(args.database, args.redis_url))

    from django.contrib.auth import get_user_model
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection
    from django.test import Client

    user = get_user_model().objects.get(username=args.expert)
    login = Client(HTTP_HOST="127.0.0.1")
    login.force_login(user)
    browser = Session(WSGIHandler(), {name: morsel.value for name, morsel in login.cookies.items()})

    next_path = f"/p/{PROJECT_SLUG}/q/{QUEUE_SLUG}/next"
    # The item the expert holds (the bench leaves each expert's last hand-out leased), else a new one.
    status, response, page = browser.request("GET", next_path)
    if status != 302:
        token = hidden_fields(page).get("csrfmiddlewaretoken", "")
        status, response, _ = browser.request("POST", next_path, form=[("csrfmiddlewaretoken", token)])
    location = response.get("Location", "")
    status, _, page = browser.request("GET", location)
    assert status == 200, (status, location)

    def label() -> None:
        nonlocal location, page
        item_id = int(location.rstrip("/").rsplit("/", 1)[1])
        form = list(hidden_fields(page, _LABEL_FORM).items()) + form_answers(item_id)
        status, response, page = browser.request("POST", location, form=form, headers={"X-Swap-Screen": "1"})
        assert status == 200, (status, page[:500])
        location = urllib.parse.urlsplit(response["X-Screen-Location"]).path

    for _ in range(20):  # warm-up: templates loaded, statements cached
        label()
    statements = []  # CaptureQueriesContext would lose them: request_started resets the query log
    with connection.execute_wrapper(lambda execute, sql, *rest: statements.append(sql) or execute(sql, *rest)):
        label()
    per_batch = max(1, args.labels // args.batches)
    cpu_ms = []
    for _ in range(args.batches):
        began = time.process_time()
        for _ in range(per_batch):
            label()
        cpu_ms.append((time.process_time() - began) * 1000 / per_batch)
    print(f"CPU per label (process, this side only): median {statistics.median(cpu_ms):.2f} ms, batches "
          + ", ".join(f"{ms:.2f}" for ms in cpu_ms))  # fmt: skip
    print(f"statements of one label: {len(statements)}")
    if args.backend:
        print_backend_cpu(label, connection, args.labels)
    for sql in statements:
        print("  ", " ".join(sql.split())[:200])
    if args.stages:
        print_stages(label, per_batch)
    if not args.no_cprofile:
        profiler = cProfile.Profile(time.process_time)  # CPU, not time spent waiting
        profiler.enable()
        for _ in range(per_batch):
            label()
        profiler.disable()
        path = OUT / f"w2b-profile-{time.strftime('%Y%m%d-%H%M%S')}.prof"
        OUT.mkdir(exist_ok=True)
        profiler.dump_stats(path)
        print(cprofile_text(profiler, "tottime", 35))
        print(cprofile_text(profiler, "cumulative", 60))
        print(f"wrote {path}")


def print_backend_cpu(label, connection, count: int) -> None:
    """PostgreSQL backend CPU per label, in all and by statement (the clock ticks every 10 ms: summed over many
    labels, each statement's share is a sample, good to a few tenths of a ms at 200 labels)."""
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    by_statement: dict[str, float] = {}

    def timed(execute, sql, *rest):
        began = cpu_seconds(pid)
        try:
            return execute(sql, *rest)
        finally:
            key = " ".join(sql.split())[:90]
            by_statement[key] = by_statement.get(key, 0.0) + cpu_seconds(pid) - began

    began = cpu_seconds(pid)
    with connection.execute_wrapper(timed):
        for _ in range(count):
            label()
    total = cpu_seconds(pid) - began
    print(f"PostgreSQL backend CPU per label over {count} labels: {1000 * total / count:.2f} ms; by statement:")
    for sql, seconds in sorted(by_statement.items(), key=lambda kv: -kv[1]):
        print(f"  {1000 * seconds / count:6.2f}  {sql}")
    print(f"  {1000 * (total - sum(by_statement.values())) / count:6.2f}  (outside statements: BEGIN, COMMIT, ...)")


def print_stages(label, count: int) -> None:
    """CPU per label inside the main stages (inclusive; a stage called twice per label counts twice)."""
    import django.contrib.auth as auth
    from django.contrib.sessions.backends.db import SessionStore

    from labeling.selectors import work
    from labeling.services import assignment, labels, outbox
    from labeling.web import expert_views

    stages = [
        (SessionStore, "load", "session load"),
        (auth, "get_user", "auth.get_user (session + user)"),
        (work, "item_for_labeler", "work.item_for_labeler (x2)"),
        (labels, "submit_label", "labels.submit_label (incl. outbox publish on commit)"),
        (outbox, "_publish_after_commit", "outbox publish after commit"),
        (assignment, "next_item_id", "assignment.next_item_id"),
        (expert_views, "render", "template render"),
        (work, "comments_on", "work.comments_on (lazy queryset)"),
    ]
    spent = {name: 0.0 for *_, name in stages}
    originals = []

    def timed(original, name):
        def wrapper(*args, **kwargs):
            began = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent[name] += time.process_time() - began

        return wrapper

    for owner, attribute, name in stages:
        originals.append((owner, attribute, getattr(owner, attribute)))
        setattr(owner, attribute, timed(getattr(owner, attribute), name))
    try:
        began = time.process_time()
        for _ in range(count):
            label()
        total = time.process_time() - began
    finally:
        for owner, attribute, original in originals:
            setattr(owner, attribute, original)
    print(f"stages, CPU ms per label over {count} labels (total {1000 * total / count:.2f}):")
    for name, seconds in spent.items():
        print(f"  {1000 * seconds / count:6.2f}  {name}")


if __name__ == "__main__":
    main()
