"""A web worker stays lean: the URLconf (every view and what it imports) loads none of the heavy libraries, and
neither does serving pages and every dataset download format (JSONL, CSV, Parquet, hf: the last two are files a worker
rendered). The close, the refresh, the changes and the renders import them when they run, in the Celery worker."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labeling.services.api_keys import create_api_key
from labeling.services.datasets import build_version, create_dataset
from tests.helpers.labeling import label_outputs
from tests.helpers.processes import env_for_test_database
from tests.helpers.version_files import rendered

ROOT = Path(__file__).resolve().parents[1]
# Each costs a web worker 10–80 MB for good once imported (pyarrow and pandas most).
HEAVY_MODULES = ("pandas", "pyarrow", "numpy", "scipy", "sklearn", "statsmodels")
_REPORT = f"print(json.dumps(sorted(name for name in {HEAVY_MODULES!r} if name in sys.modules)))"


def _heavy_modules_after(code: str, env: dict) -> list[str]:
    """Run `code` in a fresh Python (after django.setup()) and return the heavy modules it imported."""
    script = f"import json, sys, django; django.setup()\n{code}\n{_REPORT}"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_the_urlconf_loads_no_heavy_module():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "tests.settings")}
    assert _heavy_modules_after("import expertloop.urls", env) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_serving_pages_and_every_download_format_loads_no_heavy_module(project, lead):
    label_outputs(project, 6)
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    version = rendered(build_version(dataset_id=dataset.pk))  # the worker's render, done here before the requests
    key = create_api_key(project=project, name="reader", scopes=["read"]).secret
    base = f"/api/v1/projects/{project.slug}/datasets/{dataset.slug}/versions/{version.number}/download"
    pages = [
        "/", f"/p/{project.slug}/", f"/p/{project.slug}/datasets/", f"/p/{project.slug}/datasets/{dataset.slug}/",
        f"/p/{project.slug}/manage/queues/", f"/p/{project.slug}/manage/experts/", f"/p/{project.slug}/manage/rubric/",
    ]  # fmt: skip
    downloads = [f"{base}?format={fmt}" for fmt in ("jsonl", "csv", "parquet", "hf", "openai-chat")]
    code = f"""
from django.contrib.auth import get_user_model
from django.test import Client
browser, api = Client(), Client(headers={{"Authorization": "Bearer {key}"}})
browser.force_login(get_user_model().objects.get(pk={lead.pk}))
for path in {pages!r}:
    assert browser.get(path, follow=True).status_code == 200, path
for path in {downloads!r}:
    response = api.get(path)
    assert response.status_code == 200, (path, response.status_code)
    assert b"".join(response.streaming_content), path
"""
    assert _heavy_modules_after(code, env_for_test_database()) == []
