"""Chatweb settings: the only module that reads the environment.

Every variable is documented in .env.example. Defaults are embedded so that `make run`
works on a fresh machine (SQLite, in-memory channel layer, local-memory cache); production
sets DATABASE_URL and REDIS_URL. A bad value fails at start with ImproperlyConfigured.
"""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from chatweb import backends, logs, sso

# The project's fixed shape (apps, middleware, templates, languages, static files):
# chatweb/structure.py, none of it read from the environment.
from chatweb.structure import *  # noqa: F403
from chatweb.structure import BASE_DIR
from modelclient import proxies
from modelclient.baseurl import normalize_base_url

env = environ.Env()
# The checkout's .env, or the file CHATWEB_ENV_FILE names (empty: none, as in the test
# suite: tests/isolation.py). Variables already in the environment win over the file
# (docker-compose sets some itself).
_env_file = str(env.str("CHATWEB_ENV_FILE", default=str(BASE_DIR / ".env")))
if _env_file and Path(_env_file).is_file():
    environ.Env.read_env(_env_file, overwrite=False)
elif _env_file and Path(_env_file) != BASE_DIR / ".env":
    raise ImproperlyConfigured(f"CHATWEB_ENV_FILE names no file: {_env_file!r}.")

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "data")))
DEBUG = env.bool("DEBUG", default=False)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once per install.

    A self-hosted app must not ship a default key, and must not make a first-time user
    invent one; so a random key is written to DATA_DIR on first start and reused.
    """
    configured = str(env.str("SECRET_KEY", default=""))
    if configured:
        return configured
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Behind a TLS-terminating proxy (nginx/ in this repo), trust its X-Forwarded-Proto.
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = env.bool("USE_X_FORWARDED_HOST", default=False)
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# HTTPS only (behind TLS; `manage.py check --deploy` wants all of these). Off by default
# so that `make run` over plain HTTP works; docs/deploy.md says when to turn them on.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# The container healthcheck calls http://127.0.0.1:8000/healthz/ from inside the container.
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
if SECURE_HSTS_SECONDS < 0:
    raise ImproperlyConfigured("SECURE_HSTS_SECONDS must be 0 (off) or a number of seconds.")
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Images in model output (markdown or HTML) are shown as links unless this is on: loading
# them would let a prompt-injected model send conversation data to any server. Also widens
# the Content-Security-Policy's img-src to http: and https:.
ALLOW_REMOTE_IMAGES = env.bool("ALLOW_REMOTE_IMAGES", default=False)

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    # WAL lets the generation task checkpoint while pages read; the timeout rides out
    # the short write locks SQLite takes. synchronous=NORMAL is WAL's recommended mode:
    # no fsync per commit (a checkpoint every second per answer made commits a large
    # share of the process); the database cannot be corrupted, a power cut may lose
    # the last commits.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
# Persistent connections in both configurations: the sockets' and the answers' database
# work runs on asgiref's one thread-sensitive thread, which keeps its connection, so no
# connection is opened per answer. The health check makes a connection to a restarted
# database be replaced on its next use instead of failing one request.
CONN_MAX_AGE = env.int("CONN_MAX_AGE", default=600)
if CONN_MAX_AGE < 0:
    raise ImproperlyConfigured("CONN_MAX_AGE must be 0 (close after each use) or more seconds.")
DATABASES["default"]["CONN_MAX_AGE"] = CONN_MAX_AGE
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's, with the health check's ping skipped for a connection used in the last
    # second (chatweb/postgresql/base.py says why).
    DATABASES["default"]["ENGINE"] = "chatweb.postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")


if REDIS_URL:
    CHANNEL_LAYERS, CACHES = backends.redis(
        REDIS_URL, prefix=str(env.str("CHANNEL_LAYER_PREFIX", default=""))
    )
else:
    CHANNEL_LAYERS, CACHES = backends.embedded(DATA_DIR)
# Sessions are read from the cache (Redis in production), written through to the
# database: a socket's handshake costs no session query.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

TIME_ZONE = env.str("TIME_ZONE", default="UTC")
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES: dict[str, dict[str, object]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # whitenoise's hashed, compressed files; unhashed names before collectstatic.
    "staticfiles": {"BACKEND": "chatweb.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=DEBUG)

# --- Accounts ---------------------------------------------------------------------------
ALLOW_SIGNUP = env.bool("ALLOW_SIGNUP", default=False)
# Sign-in throttling (the app's and the admin's login; accounts/protection.py), in windows
# of LOGIN_LOCKOUT_SECONDS: after this many failures for one username from one address,
# that username is refused from that address; after this many from one address, every
# username is. Past LOGIN_FAILURES_PER_ACCOUNT failures for one username from anywhere,
# each try on it waits 1, 2, 4 ... s (at most LOGIN_SLOWDOWN_MAX_SECONDS) after the last
# failure, except from an address it signed in from: a slowdown, never a lockout, so no
# one can lock an owner out. 0 turns a limit off.
LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS = env.int(
    "LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS", default=5
)
LOGIN_FAILURES_PER_ADDRESS = env.int("LOGIN_FAILURES_PER_ADDRESS", default=20)
LOGIN_FAILURES_PER_ACCOUNT = env.int("LOGIN_FAILURES_PER_ACCOUNT", default=50)
LOGIN_SLOWDOWN_MAX_SECONDS = env.int("LOGIN_SLOWDOWN_MAX_SECONDS", default=30)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=900)
# Accounts one address may create per hour when sign-up is open. 0 is unlimited.
SIGNUPS_PER_ADDRESS_PER_HOUR = env.int("SIGNUPS_PER_ADDRESS_PER_HOUR", default=5)
# Uploaded images (avatars) decoded at once per process (chatweb/images.py); others wait
# their turn, then are refused as busy. Each holds up to ~75 MB while it decodes.
IMAGE_DECODES_AT_ONCE = env.int("IMAGE_DECODES_AT_ONCE", default=2)
if IMAGE_DECODES_AT_ONCE < 1:
    raise ImproperlyConfigured("IMAGE_DECODES_AT_ONCE must be 1 or more.")
# Answers one user may have streaming at once (all conversations together). 0 is unlimited.
MAX_CONCURRENT_ANSWERS = env.int("MAX_CONCURRENT_ANSWERS", default=3)
# Each process keeps the catalog (providers, models, grants, quotas) in memory; a change
# made on another instance is seen within this many seconds (catalog.snapshot).
CATALOG_RECHECK_SECONDS = env.float("CATALOG_RECHECK_SECONDS", default=1.0)
if CATALOG_RECHECK_SECONDS < 0:
    raise ImproperlyConfigured("CATALOG_RECHECK_SECONDS must be 0 (every request) or more.")
# The currency of model prices and money budgets (an ISO 4217 code: prices are entered and
# costs shown in it; Chatweb converts nothing).
CURRENCY = env.str("CURRENCY", default="USD").strip().upper()
if len(CURRENCY) != 3 or not CURRENCY.isascii() or not CURRENCY.isalpha():
    raise ImproperlyConfigured("CURRENCY must be a three-letter currency code, e.g. USD or EUR.")
for _name in (
    "LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS",
    "LOGIN_FAILURES_PER_ACCOUNT",
    "LOGIN_FAILURES_PER_ADDRESS",
    "LOGIN_SLOWDOWN_MAX_SECONDS",
    "SIGNUPS_PER_ADDRESS_PER_HOUR",
    "MAX_CONCURRENT_ANSWERS",
):
    if globals()[_name] < 0:
        raise ImproperlyConfigured(f"{_name} must be 0 (off) or a positive number.")
if LOGIN_LOCKOUT_SECONDS <= 0:
    raise ImproperlyConfigured("LOGIN_LOCKOUT_SECONDS must be a positive number of seconds.")

# --- Single sign-on (OpenID Connect; chatweb/sso.py checks it, accounts/sso.py uses it) ---
# Off unless OIDC_ISSUER is set. Endpoints not given are read from the issuer's discovery
# document. OIDC_SSO_ONLY hides the password form from everyone but admins, who keep
# /admin/login/.
SSO = sso.configure(
    issuer=env.str("OIDC_ISSUER", default=""),
    client_id=env.str("OIDC_CLIENT_ID", default=""),
    client_secret=env.str("OIDC_CLIENT_SECRET", default=""),
    scopes=env.str("OIDC_SCOPES", default="openid email profile"),
    button_label=env.str("OIDC_BUTTON_LABEL", default="SSO"),
    create_users=env.bool("OIDC_CREATE_USERS", default=True),
    groups_claim=env.str("OIDC_GROUPS_CLAIM", default=""),
    sso_only=env.bool("OIDC_SSO_ONLY", default=False),
    sign_algorithm=env.str("OIDC_SIGN_ALGORITHM", default="RS256"),
    timeout_seconds=env.float("OIDC_TIMEOUT_SECONDS", default=10.0),
    endpoints={
        "authorization": env.str("OIDC_AUTHORIZATION_ENDPOINT", default=""),
        "token": env.str("OIDC_TOKEN_ENDPOINT", default=""),
        "userinfo": env.str("OIDC_USERINFO_ENDPOINT", default=""),
        "jwks": env.str("OIDC_JWKS_ENDPOINT", default=""),
        "end_session": env.str("OIDC_END_SESSION_ENDPOINT", default=""),
    },
)
# A session signed in through the provider is checked by accounts.sso.SSOBackend (the
# same rules as ModelBackend's: a disabled account is signed out).
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "accounts.sso.SSOBackend",
]

# --- Model upstream (chatgpt-web's variable names) --------------------------------------
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")


def _base_url(raw: str) -> str:
    """Validate OPENAI_API_BASE_URL; a bare host (chatgpt-web's style) gets /v1."""
    if not raw:
        return "https://api.openai.com/v1" if OPENAI_API_KEY else ""
    try:
        return normalize_base_url(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"OPENAI_API_BASE_URL {exc}") from exc


OPENAI_API_BASE_URL = _base_url(env.str("OPENAI_API_BASE_URL", default=""))
OPENAI_API_MODELS: list[str] = [
    m.strip() for m in env.str("OPENAI_API_MODEL", default="gpt-4o-mini").split(",") if m.strip()
]
if not OPENAI_API_MODELS:
    raise ImproperlyConfigured("OPENAI_API_MODEL must name at least one model.")
# Of the environment's models, those that read images (#21): attached images go to them
# as image_url parts; the others get a note in their place. Admin models have their flag.
OPENAI_API_IMAGE_MODELS: frozenset[str] = frozenset(
    m.strip() for m in env.str("OPENAI_API_IMAGE_MODELS", default="").split(",") if m.strip()
)
if unknown := sorted(OPENAI_API_IMAGE_MODELS - set(OPENAI_API_MODELS)):
    raise ImproperlyConfigured(
        f"OPENAI_API_IMAGE_MODELS names models OPENAI_API_MODEL does not: {', '.join(unknown)}."
    )
TIMEOUT_MS = env.int("TIMEOUT_MS", default=100_000)
if TIMEOUT_MS <= 0:
    raise ImproperlyConfigured("TIMEOUT_MS must be a positive number of milliseconds.")
# Connections to the model server held open at once by one process; 0 is no limit. Every
# streaming answer holds one for its whole length, so the answers streaming at once are
# what bounds it (MAX_CONCURRENT_ANSWERS per user and the process's own capacity); a limit
# is only for an upstream that refuses more connections than some number.
UPSTREAM_MAX_CONNECTIONS = env.int("UPSTREAM_MAX_CONNECTIONS", default=0)
if UPSTREAM_MAX_CONNECTIONS < 0:
    raise ImproperlyConfigured("UPSTREAM_MAX_CONNECTIONS must be 0 (no limit) or more.")
# The outbound proxy of model traffic (answers, titles, the admin's connection test), as
# curl reads it: HTTPS_PROXY / HTTP_PROXY / ALL_PROXY / NO_PROXY in either case, or
# chatgpt-web's SOCKS_PROXY_HOST / _PORT / _USERNAME / _PASSWORD (modelclient/proxies.py).
# A provider of the admin may have its own, or none (catalog.config).
try:
    UPSTREAM_PROXIES = proxies.from_environment(
        {name: env.str(name, default="") for name in proxies.VARIABLES}
    )
except proxies.ProxyURLError as exc:
    raise ImproperlyConfigured(str(exc)) from exc
MAX_REQUEST_PER_HOUR = env.int("MAX_REQUEST_PER_HOUR", default=0)
# Personal access tokens for the API: the longest life a token may be given, in days (a
# token's expiry is required; the settings page offers 90 days by default).
API_TOKEN_MAX_DAYS = env.int("API_TOKEN_MAX_DAYS", default=365)
if API_TOKEN_MAX_DAYS <= 0:
    raise ImproperlyConfigured("API_TOKEN_MAX_DAYS must be a positive number of days.")
# The API's Server-Sent Events streams (/v1 and /api/v1) send a keep-alive this often while
# the model is silent, so proxies and clients do not take the quiet for a dead connection.
API_SSE_PING_SECONDS = env.float("API_SSE_PING_SECONDS", default=15.0)
if API_SSE_PING_SECONDS <= 0:
    raise ImproperlyConfigured("API_SSE_PING_SECONDS must be a positive number of seconds.")
SYSTEM_PROMPT = env.str(
    "SYSTEM_PROMPT",
    default="You are a helpful assistant. Follow the user's instructions carefully. "
    "Respond using markdown.",
)
# Provider API keys stored in the admin are encrypted with a key derived from this
# secret (empty: from SECRET_KEY). Changing it makes the stored keys unreadable.
PROVIDER_KEY_SECRET = env.str("PROVIDER_KEY_SECRET", default="")
# The largest file the import page accepts (a Chatweb export or chatgpt-web's history
# file), in bytes. nginx's `location = /import/` allows a little more; raise both together.
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=20 * 1024 * 1024)
if IMPORT_MAX_BYTES <= 0:
    raise ImproperlyConfigured("IMPORT_MAX_BYTES must be a positive number of bytes.")
# The work one import may do, whatever its size in bytes: at these limits an import
# finishes in a few seconds (measured in docs/security.md, "Imports").
IMPORT_MAX_MESSAGES = env.int("IMPORT_MAX_MESSAGES", default=10_000)
IMPORT_MAX_CHARS = env.int("IMPORT_MAX_CHARS", default=300_000)
if IMPORT_MAX_MESSAGES <= 0 or IMPORT_MAX_CHARS <= 0:
    raise ImproperlyConfigured("IMPORT_MAX_MESSAGES and IMPORT_MAX_CHARS must be positive.")
# How long a temporary chat (the new-chat page's toggle) lives, in hours from its start:
# then it is deleted with its messages (its usage stays in the ledger).
TEMPORARY_CHAT_HOURS = env.int("TEMPORARY_CHAT_HOURS", default=24)
if TEMPORARY_CHAT_HOURS <= 0:
    raise ImproperlyConfigured("TEMPORARY_CHAT_HOURS must be a positive number of hours.")
# --- Attachments (#21; docs/security.md, "Attachments") ---
# Where uploaded files are kept: "local" (DATA_DIR/attachments, the default) or "s3" (any
# S3-compatible store: ATTACHMENT_S3_*). Files are served only through Chatweb's views,
# to their owner or a share link's readers, never from a public URL.
ATTACHMENT_STORAGE = env.str("ATTACHMENT_STORAGE", default="local")
# The largest file accepted, in bytes (nginx's client_max_body_size allows a little more).
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=20 * 1024 * 1024)
ATTACHMENT_MAX_PER_MESSAGE = env.int("ATTACHMENT_MAX_PER_MESSAGE", default=10)
# An image is scaled so its longest side is at most this many pixels before it is stored
# and sent to the model; one with more pixels than ATTACHMENT_MAX_PIXELS is refused
# before it is decoded (decompression bombs).
ATTACHMENT_IMAGE_MAX_SIDE = env.int("ATTACHMENT_IMAGE_MAX_SIDE", default=2048)
ATTACHMENT_MAX_PIXELS = env.int("ATTACHMENT_MAX_PIXELS", default=50_000_000)
# A PDF with more pages is refused; a document's extracted text is cut at this many
# characters (the chat says how much of it the model read).
ATTACHMENT_PDF_MAX_PAGES = env.int("ATTACHMENT_PDF_MAX_PAGES", default=500)
ATTACHMENT_TEXT_MAX_CHARS = env.int("ATTACHMENT_TEXT_MAX_CHARS", default=2_000_000)
# An upload left on no message (the composer closed before sending) is deleted with its
# file after this many hours, by the server's periodic job and `manage.py
# purge_attachments` (which also deletes stored files no row names).
ATTACHMENT_PENDING_HOURS = env.int("ATTACHMENT_PENDING_HOURS", default=24)
if ATTACHMENT_PENDING_HOURS <= 0:
    raise ImproperlyConfigured("ATTACHMENT_PENDING_HOURS must be a positive number of hours.")
# Uploads converted at once per process (decoding, re-encoding, text extraction), each
# in a worker thread of lowered priority. More threads would not convert faster on one
# core, only take more of it from the event loop that streams every chat (bench/README.md,
# "Images"); other uploads wait their turn.
ATTACHMENT_CONVERT_THREADS = env.int("ATTACHMENT_CONVERT_THREADS", default=1)
if ATTACHMENT_STORAGE not in ("local", "s3"):
    raise ImproperlyConfigured('ATTACHMENT_STORAGE must be "local" or "s3".')
_attachment_limits = (ATTACHMENT_MAX_BYTES, ATTACHMENT_MAX_PER_MESSAGE, ATTACHMENT_IMAGE_MAX_SIDE)
if min(*_attachment_limits, ATTACHMENT_MAX_PIXELS, ATTACHMENT_PDF_MAX_PAGES) <= 0 or (
    ATTACHMENT_CONVERT_THREADS <= 0
):
    raise ImproperlyConfigured("Every ATTACHMENT_* limit must be a positive number.")
if ATTACHMENT_TEXT_MAX_CHARS <= 0:
    raise ImproperlyConfigured("ATTACHMENT_TEXT_MAX_CHARS must be a positive number.")
# ATTACHMENT_STORAGE=s3: the bucket (required), the store's endpoint (empty: AWS itself;
# MinIO, Ceph, R2… give theirs), its region and the key pair (empty: boto3's own chain,
# e.g. an instance role). The objects are private (ACL "private", no public URL): every
# byte goes out through Chatweb's views.
ATTACHMENT_S3_BUCKET = env.str("ATTACHMENT_S3_BUCKET", default="")
ATTACHMENT_S3_ENDPOINT_URL = env.str("ATTACHMENT_S3_ENDPOINT_URL", default="")
ATTACHMENT_S3_REGION = env.str("ATTACHMENT_S3_REGION", default="")
ATTACHMENT_S3_ACCESS_KEY_ID = env.str("ATTACHMENT_S3_ACCESS_KEY_ID", default="")
ATTACHMENT_S3_SECRET_ACCESS_KEY = env.str("ATTACHMENT_S3_SECRET_ACCESS_KEY", default="")
STORAGES["attachments"] = backends.attachments(
    ATTACHMENT_STORAGE,
    data_dir=DATA_DIR,
    bucket=ATTACHMENT_S3_BUCKET,
    endpoint_url=ATTACHMENT_S3_ENDPOINT_URL,
    region=ATTACHMENT_S3_REGION,
    access_key_id=ATTACHMENT_S3_ACCESS_KEY_ID,
    secret_access_key=ATTACHMENT_S3_SECRET_ACCESS_KEY,
)
# How long audit entries are kept, in days (docs/security.md, "Audit log"); 0 keeps them
# for ever. Older ones are purged by the server's heartbeat and `manage.py purge_audit`.
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=365)
if AUDIT_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("AUDIT_RETENTION_DAYS must be 0 (keep for ever) or more days.")
# Rough token budget for the history sent with each request (oldest messages drop first).
CONTEXT_TOKEN_BUDGET = env.int("CONTEXT_TOKEN_BUDGET", default=4000)
# How many times a reply cut off by finish_reason "length" is continued automatically.
MAX_CONTINUATIONS = env.int("MAX_CONTINUATIONS", default=3)
# Ask the model for a short title after the first answer (the first message's words
# are the title until then).
AUTO_TITLE = env.bool("AUTO_TITLE", default=True)

# --- Streaming --------------------------------------------------------------------------
# Deltas are coalesced into windows this long before they become socket frames.
DELTA_COALESCE_MS = env.int("DELTA_COALESCE_MS", default=40)
# Delta frames per second the process aims to stay under, all answers together: with more
# answers streaming than this allows at DELTA_COALESCE_MS, each answer's window widens to
# (answers streaming / this), at most DELTA_COALESCE_MAX_MS. 0 keeps the window fixed.
DELTA_FRAMES_PER_SECOND = env.int("DELTA_FRAMES_PER_SECOND", default=2500)
DELTA_COALESCE_MAX_MS = env.int("DELTA_COALESCE_MAX_MS", default=400)
# The streaming answer is checkpointed to the database at most this often: a crash (not a
# shutdown, which saves everything) loses at most this much of its text. 2 s keeps an
# answer within issue 6's write budget (3 + 1 per second of streaming) with its title.
CHECKPOINT_SECONDS = env.float("CHECKPOINT_SECONDS", default=2.0)
# Names this process on messages it streams, so a restart recovers only its own work
# at once; another instance's answer counts as abandoned only once it goes stale.
INSTANCE_ID = env.str("INSTANCE_ID", default=socket.gethostname())
STREAM_STALE_SECONDS = env.int("STREAM_STALE_SECONDS", default=max(60, TIMEOUT_MS // 1000 * 2))
# Each server process beats this often in the shared cache; an instance silent for three
# beats is dead, and its answers are ended (interrupted) by the others (streaming/heartbeat.py).
INSTANCE_HEARTBEAT_SECONDS = env.float("INSTANCE_HEARTBEAT_SECONDS", default=2.0)
if INSTANCE_HEARTBEAT_SECONDS <= 0:
    raise ImproperlyConfigured("INSTANCE_HEARTBEAT_SECONDS must be a positive number of seconds.")
# How long an answer that was not started with its post (a restart's or another
# instance's) retries reading its job while the database is unreachable. A running answer
# never gives up: through an outage of any length its text goes to DATA_DIR/spill and is
# saved when the database returns (streaming/spill.py).
DATABASE_RETRY_SECONDS = env.float("DATABASE_RETRY_SECONDS", default=30.0)
if DATABASE_RETRY_SECONDS <= 0:
    raise ImproperlyConfigured("DATABASE_RETRY_SECONDS must be a positive number of seconds.")

# --- Socket limits (docs/security.md) -----------------------------------------------------
# Frames a client may send per second on one socket (bursts of twice that); past it an
# error frame `too_many_frames`, then close 4429 if it goes on. 0 is unlimited.
WS_MAX_FRAMES_PER_SECOND = env.int("WS_MAX_FRAMES_PER_SECOND", default=10)
# `sync` requests are coalesced: one snapshot outstanding, at most one this often.
WS_SYNC_MIN_INTERVAL_MS = env.int("WS_SYNC_MIN_INTERVAL_MS", default=1000)
# Bytes the server may hold for one socket whose client does not read (beyond the one
# frame being sent); past it the socket is closed with 4008 (streaming/server.py, the
# daphne launcher). A reading client holds nothing; a snapshot or `done` of the longest
# answer is one frame.
WS_MAX_BUFFERED_BYTES = env.int("WS_MAX_BUFFERED_BYTES", default=1024 * 1024)
# The same for all of one process's sockets together: past it the sockets holding the
# most are closed with 4008 first (streaming/sockets_budget.py).
WS_MAX_BUFFERED_BYTES_TOTAL = env.int("WS_MAX_BUFFERED_BYTES_TOTAL", default=64 * 1024 * 1024)
# Sockets one user may hold open on one process (each tab holds one, on the conversation
# it shows); the next is closed with 4409. 0 is unlimited.
WS_MAX_SOCKETS_PER_USER = env.int("WS_MAX_SOCKETS_PER_USER", default=50)
if WS_MAX_FRAMES_PER_SECOND < 0 or WS_SYNC_MIN_INTERVAL_MS < 0:
    raise ImproperlyConfigured(
        "WS_MAX_FRAMES_PER_SECOND and WS_SYNC_MIN_INTERVAL_MS must be 0 or positive."
    )
if min(WS_MAX_BUFFERED_BYTES, WS_MAX_BUFFERED_BYTES_TOTAL) < 64 * 1024:
    raise ImproperlyConfigured(
        "WS_MAX_BUFFERED_BYTES and WS_MAX_BUFFERED_BYTES_TOTAL must be at least 65536 bytes."
    )
if WS_MAX_SOCKETS_PER_USER < 0:
    raise ImproperlyConfigured("WS_MAX_SOCKETS_PER_USER must be 0 (unlimited) or positive.")

# --- Benchmark instrumentation ---------------------------------------------------------
# Counts database write statements and connections opened, served as JSON at
# /admin-tools/metrics/ to loopback clients and staff (`make bench` reads it). Off: nothing
# is installed and the endpoint answers 404.
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=False)

# --- Operations (docs/operations.md) -----------------------------------------------------
# The Prometheus endpoint /metrics (chatweb/prometheus.py): off by default (404). On, it
# needs PROMETHEUS_TOKEN (sent as "Authorization: Bearer <token>") and/or the scraper's
# address in PROMETHEUS_ALLOWED_NETWORKS (CIDR blocks; a direct peer, never one through
# nginx); both when both are set.
PROMETHEUS_ENABLED = env.bool("PROMETHEUS_ENABLED", default=False)
PROMETHEUS_TOKEN = str(env.str("PROMETHEUS_TOKEN", default=""))
PROMETHEUS_ALLOWED_NETWORKS = logs.networks(env.list("PROMETHEUS_ALLOWED_NETWORKS", default=[]))
if PROMETHEUS_TOKEN and len(PROMETHEUS_TOKEN) < 16:
    raise ImproperlyConfigured("PROMETHEUS_TOKEN must be at least 16 characters long.")
if PROMETHEUS_ENABLED and not (PROMETHEUS_TOKEN or PROMETHEUS_ALLOWED_NETWORKS):
    raise ImproperlyConfigured(
        "PROMETHEUS_ENABLED needs PROMETHEUS_TOKEN or PROMETHEUS_ALLOWED_NETWORKS (or both)."
    )
# "plain" (default) or "json": one JSON object a line, each with its request id.
LOG_FORMAT = str(env.str("LOG_FORMAT", default="plain"))
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured('LOG_FORMAT must be "plain" or "json".')
LOGGING = logs.config(log_format=LOG_FORMAT, level=str(env.str("LOG_LEVEL", default="INFO")))
