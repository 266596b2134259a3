"""The fingerprints of the code that shapes stored rows (a dataset's lines, a week's failure themes) are read when
their module is imported: a deploy rewrites the files under running workers, and a fingerprint read later would name
the new code while the worker still runs the old, so rows made by the old code would be kept as if made by the new."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_each_code_fingerprint_is_read_as_its_module_is_imported():
    script = (
        "import json, django; django.setup()\n"
        "from labeling.services import themes\nfrom labeling.services.datasets import rows\n"
        "print(json.dumps([rows.row_code.cache_info().currsize, themes._grouping_code.cache_info().currsize]))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "tests.settings")}
    command = [sys.executable, "-c", script]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [1, 1]
