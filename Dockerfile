# expertloop: one image for the web server (default command), the Celery worker and Celery beat.
# See docker-compose.yml for the whole stack and README.md for the configuration.
FROM python:3.12-slim

# gunicorn reads its default number of worker processes from WEB_CONCURRENCY.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    WEB_CONCURRENCY=3

# The app runs as an unprivileged user. It gets a home directory because gunicorn puts its control
# socket in ~/.gunicorn.
RUN groupadd --system --gid 10001 expertloop \
 && useradd --system --uid 10001 --gid expertloop --create-home --home-dir /home/expertloop \
        --shell /usr/sbin/nologin expertloop

WORKDIR /app

# Dependencies first, so that a code change does not reinstall them. Every version is pinned by constraints.txt.
COPY requirements.txt constraints.txt ./
RUN pip install -r requirements.txt -c constraints.txt

COPY . .

# Static files are collected into the image and served by WhiteNoise. Settings refuse to load without
# a SECRET_KEY, so the build uses a throwaway one; it is not kept in the image.
# var/ is where settings put the (unused here) SQLite file and where beat keeps its schedule: the app
# user must be able to write there.
RUN SECRET_KEY=collectstatic-only-not-a-secret python manage.py collectstatic --noinput \
 && mkdir -p var/media \
 && chown -R expertloop:expertloop var

USER expertloop

EXPOSE 8000

# gthread workers and a longer timeout: dataset downloads stream for longer than a sync worker may block.
CMD ["gunicorn", "expertloop.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-", "--worker-tmp-dir", "/dev/shm", "--worker-class", "gthread", "--threads", "4", "--timeout", "300"]
