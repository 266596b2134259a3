#!/usr/bin/env bash
# The demo: SQLite and eager Celery, seeded with a realistic support-bot project, on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements.txt
export DEBUG=true
# Every demo user may create a project (New project on the home page); a real server defaults to staff only.
export PROJECT_CREATORS="${PROJECT_CREATORS:-everyone}"
# The demo is SQLite and eager Celery by design: a server's settings left in the shell are set aside, and said so.
ignored=""
for name in DATABASE_URL REDIS_URL; do [ -n "${!name:-}" ] && ignored="$ignored${ignored:+ and }$name"; done
if [ -n "$ignored" ]; then
  echo "The demo ignores $ignored: it runs on SQLite (var/expertloop.sqlite3) with Celery tasks run in-process." >&2
fi
unset DATABASE_URL REDIS_URL
# As scripts/test.sh: with PYTHONDONTWRITEBYTECODE set, every process compiled scikit-learn from source again (the
# meeting page's first "Refresh figures" took 28 s); the demo writes the bytecode once.
unset PYTHONDONTWRITEBYTECODE
port="${PORT:-8000}"
# Links in the mails the demo prints (invitations, password resets) point at this server.
export SITE_URL="${SITE_URL:-http://127.0.0.1:$port}"
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py seed_demo
echo
echo "expertloop is running at http://127.0.0.1:$port/  (sign in with one of the users above)"
echo "API docs: http://127.0.0.1:$port/api/docs/   ·   admin: http://127.0.0.1:$port/admin/"
exec .venv/bin/python manage.py runserver "127.0.0.1:$port"
