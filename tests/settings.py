"""Test settings: the real settings, fed the environment a test run needs (nothing else differs)."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-not-for-deployment")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("SECURE_COOKIES", "false")  # the live server in browser tests speaks plain HTTP
# Mail kept in memory (the default mailer, MAILERS, on Django's locmem backend): the servers and workers a test starts
# print none of it to their logs. A test that wants another mailer passes its own EMAIL_URL (a filemail:// folder).
os.environ.setdefault("EMAIL_URL", "memorymail://")
# Queues of this test process's own (each pytest-xdist worker is one), so a Celery worker a test starts never eats
# another run's or another xdist worker's messages. The xdist workers inherit the controller's environment, and the
# Celery workers theirs: the names are made once per test process, then inherited.
_TEST_PROCESS = os.environ.get("PYTEST_XDIST_WORKER", "main")
if os.environ.get("EXPERTLOOP_TEST_QUEUES_OF") != _TEST_PROCESS:
    os.environ["EXPERTLOOP_TEST_QUEUES_OF"] = _TEST_PROCESS
    os.environ["CELERY_DEFAULT_QUEUE"] = f"expertloop-test-{os.getpid()}"
    os.environ["CELERY_WEBHOOK_QUEUE"] = f"expertloop-webhooks-test-{os.getpid()}"
    # Rendered dataset files of this test process (and the Celery workers it starts), never the checkout's var/media.
    os.environ["MEDIA_ROOT"] = tempfile.mkdtemp(prefix=f"expertloop-media-test-{os.getpid()}-")
    # Gone when the process that made it exits (the workers and servers it starts, which share it, stop before it):
    # every run used to leave one folder per test process in /tmp.
    atexit.register(shutil.rmtree, os.environ["MEDIA_ROOT"], ignore_errors=True)

from expertloop.settings import *  # noqa: E402,F403

# Hashing demo passwords with PBKDF2 would dominate the suite's run time.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Pick up edited static files without a restart (the production settings already serve them from the apps).
WHITENOISE_AUTOREFRESH = True

# scripts/test.sh runs the in-process tests on pytest-xdist workers: each has its own test database (pytest-django
# adds the worker's name), and here its own cache keys in the shared Redis database.
if os.environ.get("PYTEST_XDIST_WORKER") and CACHES["default"]["BACKEND"].endswith("RedisCache"):  # noqa: F405
    CACHES["default"]["KEY_PREFIX"] = os.environ["PYTEST_XDIST_WORKER"]  # noqa: F405
