"""A web worker starts without the statistics stack: the URLconf (every view and what it imports) loads neither
scikit-learn nor scipy nor statsmodels; the close, the refresh and the changes' tests import them when they run."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("sklearn", "scipy", "statsmodels")


def test_importing_the_urlconf_loads_no_statistics_library():
    code = (
        "import json, sys, django; django.setup(); import expertloop.urls; "
        f"print(json.dumps(sorted(name for name in {HEAVY!r} if name in sys.modules)))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "tests.settings")}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
