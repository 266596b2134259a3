#!/usr/bin/env bash
# Lint, then run the whole test suite. Uses DATABASE_URL / REDIS_URL when set; else local PostgreSQL / Redis on
# their default ports if they answer; else SQLite, with the tests that need them skipped (never with CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements-dev.txt
py=.venv/bin/python
# bootstrap.sh installs without compiling, leaving it to each module's first import; with PYTHONDONTWRITEBYTECODE set
# (as in some shells and images) no import ever writes the bytecode, and every process of the run (the pytest
# workers, each Celery worker, gunicorn and manage.py the tests start) compiled scikit-learn, pandas, datasets and
# half of Django from source again: 5 s to import scikit-learn instead of 1.2 s. The run writes it once.
unset PYTHONDONTWRITEBYTECODE

# Lint first: a lint error fails the run before any test starts (ruff is pinned in requirements-dev.txt).
.venv/bin/ruff check --quiet . ||
  { echo "ruff check found lint errors (above): fix them, or run .venv/bin/ruff check --fix ." >&2; exit 1; }
.venv/bin/ruff format --check --quiet . ||
  { echo "ruff format --check found unformatted files (above): run .venv/bin/ruff format ." >&2; exit 1; }

if [ -z "${DATABASE_URL:-}" ]; then
  if "$py" -c 'import psycopg; psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3").close()' 2>/dev/null; then
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/expertloop"
  else
    echo "PostgreSQL does not answer on 127.0.0.1:5432: running on SQLite; PostgreSQL tests are skipped."
  fi
fi
if [ -z "${REDIS_URL:-}" ]; then
  if "$py" -c 'import redis; redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2).ping()' 2>/dev/null; then
    export REDIS_URL="redis://127.0.0.1:6379/15"
  else
    echo "Redis does not answer on 127.0.0.1:6379: tests that need Redis and a Celery worker are skipped."
  fi
fi
echo "Testing with DATABASE_URL=${DATABASE_URL:-<sqlite>} REDIS_URL=${REDIS_URL:-<none>} CI=${CI:-false}"

DATABASE_URL=sqlite:///:memory: "$py" manage.py makemigrations --check --dry-run --settings=tests.settings >/dev/null ||
  { echo "Models changed without a migration: run manage.py makemigrations --name <what>." >&2; exit 1; }
# Production settings must pass Django's deployment checklist (and drf-spectacular's schema check), warnings included;
# a real mailer among them (mail.E001: the console's would send no invitation), a SITE_URL people reach
# (expertloop.E001), PostgreSQL (expertloop.W001) and Redis (expertloop.W002), which the check never connects to.
DATABASE_URL=postgres://expertloop@db:5432/expertloop REDIS_URL=redis://redis:6379/0 \
  SITE_URL=https://expertloop.example.com DEBUG=false ALLOWED_HOSTS=expertloop.example.com SECURE_COOKIES=true \
  SECRET_KEY="$("$py" -c 'import secrets; print(secrets.token_urlsafe(50))')" SECURE_SSL_REDIRECT=true \
  SECURE_HSTS_SECONDS=31536000 SECURE_HSTS_INCLUDE_SUBDOMAINS=true SECURE_HSTS_PRELOAD=true \
  EMAIL_URL=smtp+tls://smtp.example.com:587 \
  "$py" manage.py check --deploy --fail-level WARNING --settings=expertloop.settings >/dev/null ||
  { echo "manage.py check --deploy failed with production settings (see above)." >&2; exit 1; }
if [ $# -gt 0 ]; then
  exec "$py" -m pytest "$@"
fi
# The whole suite in two steps. First everything but the `alone` tests on a pytest-xdist worker per core and one more,
# each with its own test database, Celery queue and cache keys: whole files go to one worker, so a module's fixture (a
# demo, a gunicorn) is built once. One more than the cores, because a third of the tests spend much of their time
# waiting on the processes they start (chromium, gunicorn, Celery workers) or on a lease to pass: on 2 cores, with
# three workers the cores are ~96 % busy and the pool took 725 s, against 820 s with two. Files are handed out in
# collection order, those of `heavy` tests first (tests/conftest.py), so that no test of minutes starts when the
# others are nearly done. Beside them, in another process (its own test database), the `outage` tests: they kill Redis
# or a worker and wait out the outage, minutes in which a worker of the pool would idle. Then, alone, the tests that
# assert wall-clock timings (outages answered within seconds, the client's cost per call): they must not share the
# cores.
outage_log=$(mktemp)
"$py" -m pytest -m outage tests/integration >"$outage_log" 2>&1 &
outage_pid=$!
pool_status=0
# --durations: the log names the slowest tests, where the next cut of CI's time is.
"$py" -m pytest -n "$(( $(nproc) + 1 ))" --dist loadfile --no-loadscope-reorder -m "not alone and not outage" \
  --durations=25 || pool_status=$?
outage_status=0
wait "$outage_pid" || outage_status=$?
echo "The outage tests, run beside the rest:"
cat "$outage_log"
rm -f "$outage_log"
if [ "$pool_status" -ne 0 ] || [ "$outage_status" -ne 0 ]; then
  exit 1
fi
exec "$py" -m pytest -m alone tests/integration
