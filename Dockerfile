# Chatweb: one image for every replica. Settings come from the environment (.env via
# docker-compose.yaml); see README.md (Deploy).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    DATA_DIR=/data \
    STATIC_ROOT=/app/staticfiles

WORKDIR /app

# Dependencies first, so a code change does not reinstall them: exactly the app's lock
# (requirements/app.lock: every package pinned, with its hashes; pip refuses a file whose
# hash differs and resolves nothing). Only the dependencies are installed: the app runs
# from /app (settings find templates/ and static/ beside the code there). No dev tools:
# the image runs what was tested, nothing more.
COPY requirements/app.lock requirements/
RUN pip install --require-hashes --no-deps -r requirements/app.lock

COPY . .

# Static files are collected now, so the image carries them with their hashed names and
# pre-compressed copies; whitenoise serves them (nginx/chatweb.conf.template says why).
# The settings need a SECRET_KEY to load: this throwaway one exists only for this step.
RUN SECRET_KEY=collectstatic-only DATA_DIR=/tmp/collectstatic \
    python manage.py collectstatic --noinput -v 0 \
    && rm -rf /tmp/collectstatic

# Run as an unprivileged user. /data (DATA_DIR) is created here, owned by that user, so a
# named volume mounted on it starts with the right owner.
RUN useradd --system --uid 1000 --home-dir /app --shell /usr/sbin/nologin chatweb \
    && mkdir -p /data \
    && chown chatweb:chatweb /data
USER chatweb

EXPOSE 8000
VOLUME ["/data"]

# /healthz/ checks the database and the channel layer (streaming/diagnostics.py).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz/', timeout=4).status != 200)"]

# recover_streams marks answers that a killed process left "streaming" as interrupted;
# migrations are not run here: the compose `migrate` service runs them once per deploy.
CMD ["sh", "-c", "python manage.py recover_streams && exec python -m streaming.server --bind 0.0.0.0 --port 8000 --proxy-headers chatweb.asgi:application"]
