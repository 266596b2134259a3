"""Run `manage.py <argv>` once per environment, each in a child forked from this one process (tests only).

A `python manage.py check` spends most of its CPU importing Django, Celery, psycopg, Redis and the rest before it
reads a setting: 0.8 s for a value refused at start-up, 4 s for a whole `check --deploy`. This process imports those
libraries once (only third-party ones, none of which reads a setting or the variables the tests vary), then forks a
child per environment: the child takes that environment as its whole `os.environ` and runs manage.py as
`python manage.py` would, its stdout and stderr in files of its own, an uncaught exception printed by the same hook
and exiting 1. Each child is a fresh Django (settings, apps and checks all its own); only the imports are shared.

Reads {"argv": [...], "envs": [{...}, ...]} as JSON on stdin; writes [{"returncode", "stdout", "stderr"}, ...].
"""

import importlib
import json
import os
import runpy
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Third-party libraries manage.py imports before (and while) it reads the settings; none reads a setting on import.
PRELOAD = (
    "django.core.management", "django.db.models", "django.http", "django.forms", "django.template",
    "django.core.checks", "celery", "kombu", "psycopg", "environ", "redis", "redis.asyncio", "pybreaker",
    "cryptography.fernet", "google.protobuf", "opentelemetry.trace", "requests", "markdown_it", "yaml", "oauthlib",
    "pygments", "sqlparse", "dateutil",
)  # fmt: skip


def _run_child(argv: list[str], env: dict[str, str], out: int, err: int) -> None:
    """In the forked child: become `python manage.py *argv` in `env`, then exit with its status."""
    code = 1
    try:
        os.environ.clear()
        os.environ.update(env)
        os.dup2(out, 1)
        os.dup2(err, 2)
        sys.argv = ["manage.py", *argv]
        sys.path[0] = str(ROOT)  # as for `python manage.py`: the script's folder first
        try:
            runpy.run_path(str(ROOT / "manage.py"), run_name="__main__")
            code = 0
        except SystemExit as exit:  # as the interpreter handles it: None is 0, a message is printed and 1
            if exit.code is None or isinstance(exit.code, int):
                code = exit.code or 0
            else:
                print(exit.code, file=sys.stderr)
        except BaseException as error:
            traceback = error.__traceback__
            while traceback and traceback.tb_frame.f_code.co_filename != str(ROOT / "manage.py"):
                traceback = traceback.tb_next  # from manage.py on, as the interpreter prints it
            sys.excepthook(type(error), error.with_traceback(traceback), traceback)
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def main() -> None:
    request = json.load(sys.stdin)
    # As for `python manage.py`: the project's folder first, not this script's, whose helpers (platform.py,
    # labeling.py) would stand in for the standard library's and the app's modules while the libraries load.
    sys.path[0] = str(ROOT)
    for name in PRELOAD:
        importlib.import_module(name)
    results = []
    for env in request["envs"]:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _run_child(request["argv"], env, out.fileno(), err.fileno())
            _, status = os.waitpid(pid, 0)
            out.seek(0)
            err.seek(0)
            results.append(
                {
                    "returncode": os.waitstatus_to_exitcode(status),
                    "stdout": out.read().decode(errors="replace"),
                    "stderr": err.read().decode(errors="replace"),
                }
            )
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
