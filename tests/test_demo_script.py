"""scripts/demo.sh: the demo is SQLite and eager Celery by design; a server's settings left in the shell are set aside,
and it says so."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parent.parent / "scripts" / "demo.sh"
# Stands in for the venv's Python: tells which database the demo would migrate, then stops the script there.
PYTHON = '#!/bin/sh\necho "migrating ${DATABASE_URL:-SQLite}"\nexit 3\n'


def run_demo(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run the real demo.sh in a copy of the checkout's layout whose bootstrap and Python are stand-ins."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(DEMO, tmp_path / "scripts" / "demo.sh")
    (tmp_path / "scripts" / "bootstrap.sh").write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").write_text(PYTHON)
    for script in (tmp_path / "scripts" / "bootstrap.sh", tmp_path / ".venv" / "bin" / "python"):
        script.chmod(0o755)
    shell = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.run(
        [tmp_path / "scripts" / "demo.sh"], env={**shell, **env}, capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize(
    ("env", "ignored"),
    [
        ({"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/el"}, "DATABASE_URL"),
        (
            {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/el", "REDIS_URL": "redis://127.0.0.1:6379/0"},
            "DATABASE_URL and REDIS_URL",
        ),
        ({"REDIS_URL": "redis://127.0.0.1:6379/0"}, "REDIS_URL"),
    ],
)
def test_the_demo_says_in_one_line_that_it_ignores_a_servers_settings(tmp_path, env, ignored):
    ran = run_demo(tmp_path, **env)

    assert ran.stdout == "migrating SQLite\n"
    notice = [line for line in ran.stderr.splitlines() if "ignores" in line]
    assert notice == [f"The demo ignores {ignored}: it runs on SQLite (var/expertloop.sqlite3) with Celery tasks run "
                      "in-process."]  # fmt: skip


def test_the_demo_says_nothing_of_settings_that_are_not_set(tmp_path):
    ran = run_demo(tmp_path)

    assert ran.stdout == "migrating SQLite\n" and ran.stderr == ""
