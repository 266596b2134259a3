"""Test settings: the real settings, fed the environment a test run needs (nothing else differs)."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-not-for-deployment")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("SECURE_COOKIES", "false")  # the live server in browser tests speaks plain HTTP
# A queue of this run's own, so a worker started by the tests never eats another run's messages.
os.environ.setdefault("CELERY_DEFAULT_QUEUE", f"expertloop-test-{os.getpid()}")
os.environ.setdefault("CELERY_WEBHOOK_QUEUE", f"expertloop-webhooks-test-{os.getpid()}")

from expertloop.settings import *  # noqa: E402,F403

# Hashing demo passwords with PBKDF2 would dominate the suite's run time.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Pick up edited static files without a restart (the production settings already serve them from the apps).
WHITENOISE_AUTOREFRESH = True

# scripts/test.sh runs the in-process tests on pytest-xdist workers: each has its own test database (pytest-django
# adds the worker's name), and here its own cache keys in the shared Redis database.
if os.environ.get("PYTEST_XDIST_WORKER") and CACHES["default"]["BACKEND"].endswith("RedisCache"):  # noqa: F405
    CACHES["default"]["KEY_PREFIX"] = os.environ["PYTEST_XDIST_WORKER"]  # noqa: F405
