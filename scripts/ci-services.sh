#!/usr/bin/env bash
# Bring up what `make test-pg` and `make test-deploy` need, from this machine's own
# packages: nginx, PostgreSQL on 127.0.0.1:5432, Redis on 127.0.0.1:6379, database chatweb.
# Idempotent: anything already there is left as it is. Used by .ci/run; safe to run by hand.
set -euo pipefail

PG_HOST=127.0.0.1
PG_USER=${PG_USER:-postgres}

log() { echo "ci-services: $*"; }

wait_for() {  # wait_for DESCRIPTION COMMAND...: up to 30 s
    local what=$1
    shift
    for _ in $(seq 60); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    log "$what did not come up within 30 s" >&2
    return 1
}

# nginx: the deployment test runs the project's own nginx config with Debian's nginx.
if [ ! -x /usr/sbin/nginx ]; then
    log "installing nginx-light"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends nginx-light
fi
# The package's own service is not needed (tests start nginx with their own config).
/usr/sbin/nginx -v

# A compose client validates docker-compose.yaml in tests/test_compose.py (there is no
# Docker engine here). Debian's docker-compose is enough for `config -q`; it is not needed
# when the docker CLI has its compose plugin. Not fatal: the test skips without a client.
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
    log "installing docker-compose (to validate docker-compose.yaml)"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && apt-get install -y -q --no-install-recommends docker-compose; } \
        || log "could not install docker-compose; tests/test_compose.py will skip that check"
fi

# PostgreSQL
if ! pg_isready -h "$PG_HOST" -q; then
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    wait_for "PostgreSQL" pg_isready -h "$PG_HOST" -q
fi

# Redis
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
    log "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_for "Redis" redis-cli -h 127.0.0.1 ping
fi

# The database of `make test-pg` (pytest-django creates test_chatweb beside it; the
# deployment test creates and drops its own chatweb_deploy_<pid>, which needs CREATEDB).
if ! psql -h "$PG_HOST" -U "$PG_USER" -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'chatweb'" | grep -q 1; then
    log "creating database chatweb"
    psql -h "$PG_HOST" -U "$PG_USER" -d postgres -qc "CREATE DATABASE chatweb"
fi

log "nginx, PostgreSQL ($(pg_isready -h "$PG_HOST")), Redis ($(redis-cli -h 127.0.0.1 ping)) ready"
