"""Imports run downward (DESIGN.md, "Layers"): the import-linter contracts in pyproject.toml hold.

Faces (web, api, tasks) → services (writes) → selectors (reads) → the floor (labeling/rules) → models and
metrics; no selector imports a service, no package has an import circle, nothing imports the tasks (the
outbox asks for them by name), the API and the web UI are independent, the floor and the metrics import
only what they may.
"""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_import_contract_is_kept():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    # `lint-imports --no-cache --no-logo`, with this interpreter; wide lines keep each broken import on one.
    result = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()",
         "--no-cache", "--no-logo"],
        cwd=ROOT, env={**os.environ, "COLUMNS": "160"}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    report = result.stdout + result.stderr
    broken = report[report.find("Broken contracts") :] if "Broken contracts" in report else report
    assert result.returncode == 0, broken
    assert f"Contracts: {len(contracts)} kept, 0 broken." in report, report  # each one was checked


def test_views_read_and_write_through_selectors_and_services():
    """A web or API view parses, calls one selector or service, and renders: it runs no ORM query itself."""
    views = [*(ROOT / "labeling" / "web").glob("*views.py"), *(ROOT / "api" / "views").glob("*.py")]
    querying = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted(views)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if ".objects." in line or "select_related(" in line
    ]
    assert len(views) > 10 and querying == []
