"""LivePersona settings: everything from the environment (and an optional .env), offline defaults."""

import hashlib
import sys
import tempfile
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config import secret_key
from config.redis_retry import async_retry, sync_retry

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

LOCAL_ENGINE_KEY = "local-engine-key"  # not a secret: the offline engine's default shared key

DEBUG = env.bool("DEBUG", default=False)
# pytest-django imports these settings from inside pytest; nothing there is served.
TESTING = env.bool("TESTING", default="pytest" in sys.modules)
# Run-time state of `make run`: generated credentials and secret key, embedded Redis, beat schedule.
VAR_DIR = env.path("VAR_DIR", default=BASE_DIR / "var")
# SECRET_KEY from the environment, else the file `make run` generates (python -m config.secret_key).
SECRET_KEY = env("SECRET_KEY", default="") or secret_key.read(VAR_DIR)
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment, or run "
            "`python -m config.secret_key` to generate one under VAR_DIR."
        )
    SECRET_KEY = "dev-only-insecure-key-never-served"
# Served over HTTPS (secure cookies, HSTS, redirect), behind a TLS-terminating proxy. Off for
# `make run` (plain http on 127.0.0.1); on in production, where `check --deploy` is clean.
HTTPS = env.bool("HTTPS", default=False)
BEHIND_PROXY = env.bool("BEHIND_PROXY", default=HTTPS)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "corsheaders",
    "ninja",  # serves the API docs' Swagger UI files locally
    "axes",
    "avatars",
    "agents",
    "conversations",
    "streaming",
    "frontend",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        # Channels consumers, Celery and daphne write concurrently: wait instead of "database
        # is locked". The wait only works if a transaction takes the write lock when it begins
        # (IMMEDIATE): a deferred one that reads then writes fails at once when another writer
        # holds the lock. WAL lets readers go on while one writes.
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    })
    # Tests on a file too, not Django's shared-cache in-memory database: that one locks whole
    # tables and fails at once ("database table is locked") where a file waits its turn.
    # One file per checkout, so that two checkouts' test runs never share it.
    _checkout = hashlib.sha1(str(BASE_DIR).encode()).hexdigest()[:10]
    DATABASES["default"].setdefault("TEST", {}).setdefault(
        "NAME", str(Path(tempfile.gettempdir()) / f"livepersona-test-{_checkout}.sqlite3")
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses logins from a locked-out username + address before the
    # password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Off in tests by default (Django's test client logs in without a request, which axes refuses);
# tests/integration/test_login_throttling.py switches it on.
AXES_ENABLED = env.bool("LOGIN_THROTTLING", default=not TESTING)
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("LOGIN_COOLOFF_HOURS", default=0.25)  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Behind one trusted proxy the client's address is the last hop of X-Forwarded-For; without
# one that header is the client's own words, so only REMOTE_ADDR counts.
if BEHIND_PROXY:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
    AXES_IPWARE_PROXY_COUNT = 1
else:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "frontend:avatar-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
MEDIA_URL = "/media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
# Avatar photos must be fetchable by the avatar provider (D-ID fetches source_url itself).
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")

# Redis: channel layer, Celery broker and result backend. `make run` starts an embedded Redis
# when this one does not answer (see config/redis_embedded.py).
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # redis-py 8 reads with a 5 s socket timeout by default, the same 5 s that channels_redis
        # blocks in BZPOPMIN: the read can time out first. Give the socket more room.
        "CONFIG": {
            # retry: a restarted Redis must not crash live sockets (config/redis_retry.py).
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "retry": async_retry()}],
            "capacity": 500,
            "expiry": 30,
        },
    }
}

# The cache holds the API's per-user request counts, shared by every server process.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env("CACHE_URL", default=REDIS_URL),
        "KEY_PREFIX": "livepersona",
        "OPTIONS": {"retry": sync_retry()},  # passed on to redis-py's connection pool
    }
}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 180
CELERY_TASK_SOFT_TIME_LIMIT = 150
# A Redis restart must not stop the worker: it reconnects, however long Redis takes to return
# (https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-connection-retry).
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A message a worker took but never acknowledged (the worker was killed) goes back to the queue
# after this. Longer than any task runs (CELERY_TASK_TIME_LIMIT), or a running task would be
# delivered twice; the reaper fails a lost reply long before (streaming/reply_watch.py).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
CELERY_BROKER_CONNECTION_TIMEOUT = 3
# Replies have a queue and a worker of their own (the Procfile's `replies`): a reply never waits
# behind a stream close or the reaper, and its worker is set for pickup latency. It uses the
# thread pool: a task is handed to a waiting thread, not piped to a prefork child, and every
# thread shares the process's long-lived event loop (streaming/worker_loop.py). The thread pool
# has no Celery time limits, so the reply's own deadline is kept on that loop (streaming/tasks.py).
# The Redis transport needs no shorter polling_interval: kombu's worker blocks in BRPOP on the
# broker socket and wakes as soon as a task is pushed; polling_interval only shortens BRPOP's
# server-side timeout, which costs round trips and saves nothing.
REPLIES_QUEUE = "replies"
CELERY_TASK_ROUTES = {
    "streaming.tasks.generate_reply": {"queue": REPLIES_QUEUE},
    "streaming.tasks.preempt_reply": {"queue": REPLIES_QUEUE},
    "streaming.tasks.warm_llm": {"queue": REPLIES_QUEUE},
}
REAPER_INTERVAL = env.float("REAPER_INTERVAL", default=30.0)
# Below streaming.stream_lifetimes.KEEP_ALIVE_MARGIN, so a keep-alive always lands in time.
KEEP_ALIVE_INTERVAL = env.float("KEEP_ALIVE_INTERVAL", default=30.0)

# Live sessions
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=300)  # seconds, D-ID's maximum
MAX_LIVE_SESSIONS_PER_USER = env.int("MAX_LIVE_SESSIONS_PER_USER", default=3)
# A dropped socket may come back (the page reconnects); end the conversation only after this.
# 0 ends it at once. A closed tab says session.end and ends at once anyway.
DISCONNECT_GRACE_SECONDS = env.int("DISCONNECT_GRACE_SECONDS", default=10)
# Quotas per user, counted in Redis (streaming/quotas.py); 0 switches one off.
CHAT_MESSAGES_PER_MINUTE = env.int("CHAT_MESSAGES_PER_MINUTE", default=30)
# JSON API for programs (/api/v1/): requests per user per minute, and how long a text route
# waits for the AI's answer. Cross-origin calls are refused unless their origin is listed.
API_REQUESTS_PER_MINUTE = env.int("API_REQUESTS_PER_MINUTE", default=120)
API_REPLY_TIMEOUT = env.float("API_REPLY_TIMEOUT", default=60.0)
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/v1/.*$"
VOICE_TURNS_PER_MINUTE = env.int("VOICE_TURNS_PER_MINUTE", default=20)
# Answers and ICE candidates: each one is an HTTP call to the avatar provider.
SIGNALING_FRAMES_PER_MINUTE = env.int("SIGNALING_FRAMES_PER_MINUTE", default=240)
AUDIO_SECONDS_PER_DAY = env.int("AUDIO_SECONDS_PER_DAY", default=4 * 3600)
LLM_TOKENS_PER_DAY = env.int("LLM_TOKENS_PER_DAY", default=500_000)
QUOTA_KEY_PREFIX = env("QUOTA_KEY_PREFIX", default="livepersona:quota")
# Concurrent sessions per vendor account ("did", "heygen", "liveavatar"; 0 or absent = no cap),
# checked when a conversation starts (conversations/services.py); HeyGen's trial allows 3.
PROVIDER_SESSION_LIMITS = env.json("PROVIDER_SESSION_LIMITS", default={"heygen": 3})
# Deprecated alias of PROVIDER_SESSION_LIMITS's "heygen" entry, still honoured when set.
HEYGEN_MAX_SESSIONS = env.int("HEYGEN_MAX_SESSIONS", default=None)
if HEYGEN_MAX_SESSIONS is not None:
    PROVIDER_SESSION_LIMITS = {**PROVIDER_SESSION_LIMITS, "heygen": HEYGEN_MAX_SESSIONS}
# A stream close claimed but not confirmed this long ago is re-closed by the reaper.
STREAM_CLOSE_RECOVERY_SECONDS = env.int("STREAM_CLOSE_RECOVERY_SECONDS", default=60)
LLM_HISTORY_TOKENS = env.int("LLM_HISTORY_TOKENS", default=1500)
LLM_MAX_TOKENS = env.int("LLM_MAX_TOKENS", default=200)
# The local engine's LLM reads a conversation's first prompt once its stream is live
# (streaming/llm_warmup.py); never done for a cloud LLM.
LLM_WARMUP = env.bool("LLM_WARMUP", default=True)

# Providers: every base URL points at the local engine unless told otherwise.
ENGINE_HOST = env("ENGINE_HOST", default="127.0.0.1")
ENGINE_PORT = env.int("ENGINE_PORT", default=8700)
ENGINE_API_KEY = env("ENGINE_API_KEY", default=LOCAL_ENGINE_KEY)
_ENGINE_URL = f"http://{ENGINE_HOST}:{ENGINE_PORT}"
DID_API_URL = env("DID_API_URL", default=_ENGINE_URL)
DID_API_KEY = env("DID_API_KEY", default=ENGINE_API_KEY)
HEYGEN_API_URL = env("HEYGEN_API_URL", default="https://api.heygen.com")
HEYGEN_API_KEY = env("HEYGEN_API_KEY", default="")
# LiveAvatar, HeyGen's successor: its own keys (https://app.liveavatar.com/developers).
# FULL: the vendor's voice (and LLM, with a context); LITE: our LLM and our speech over its socket.
LIVEAVATAR_API_URL = env("LIVEAVATAR_API_URL", default="https://api.liveavatar.com")
LIVEAVATAR_API_KEY = env("LIVEAVATAR_API_KEY", default="")
LIVEAVATAR_MODE = env("LIVEAVATAR_MODE", default="LITE")
LIVEAVATAR_SANDBOX = env.bool("LIVEAVATAR_SANDBOX", default=False)
LIVEAVATAR_CONTEXT_ID = env("LIVEAVATAR_CONTEXT_ID", default="")
# LITE mode's speech: an OpenAI-compatible /audio/speech answering raw PCM16 24 kHz.
LIVEAVATAR_TTS_URL = env("LIVEAVATAR_TTS_URL", default=f"{_ENGINE_URL}/openai/v1")
LIVEAVATAR_TTS_API_KEY = env("LIVEAVATAR_TTS_API_KEY", default=ENGINE_API_KEY)
LIVEAVATAR_TTS_MODEL = env("LIVEAVATAR_TTS_MODEL", default="tts-1")
LIVEAVATAR_TTS_VOICE = env("LIVEAVATAR_TTS_VOICE", default="alloy")
DEEPGRAM_URL = env("DEEPGRAM_URL", default=f"ws://{ENGINE_HOST}:{ENGINE_PORT}")
DEEPGRAM_API_KEY = env("DEEPGRAM_API_KEY", default=ENGINE_API_KEY)
GROQ_BASE_URL = env("GROQ_BASE_URL", default=_ENGINE_URL)
GROQ_API_KEY = env("GROQ_API_KEY", default=ENGINE_API_KEY)
GROQ_MODEL = env("GROQ_MODEL", default="llama-3.1-8b-instant")
PROVIDER_TIMEOUT = env.float("PROVIDER_TIMEOUT", default=15.0)
# STUN/TURN servers handed to browsers (JSON list of RTCIceServer dicts).
ICE_SERVERS = env.json("ICE_SERVERS", default=[])

# HTTPS behind a proxy (HTTPS, BEHIND_PROXY at the top): each setting still overridable.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=HTTPS)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=HTTPS)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if not SECURE_HSTS_PRELOAD:
    # Preloading is the site owner's choice (a submission to https://hstspreload.org that is
    # hard to undo), not a default; the check that asks for it is silenced until it is made.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]
if BEHIND_PROXY:
    # Only behind a proxy that sets this header itself, else a client could forge it.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Content Security Policy (django-csp). The pages load only their own scripts and styles (ES
# modules, no inline code; the client config is a JSON data block). Avatar photos may be on
# another https host. Idle videos are ours, or a Clips presenter's: D-ID's (https) or the local
# engine's (its address, when DID_API_URL is the engine; see avatars/idle_video.py). HeyGen
# streams through LiveKit Cloud, which the page reaches over WebSocket:
# https://docs.livekit.io/home/cloud/
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "https:"],
        "media-src": [SELF, "blob:", "https:", *([_ENGINE_URL] if DID_API_URL == _ENGINE_URL else [])],
        "connect-src": [SELF, *env.list("CSP_CONNECT_SRC", default=[
            "wss://*.livekit.cloud", "https://*.livekit.cloud",
        ])],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "aioice": {"level": "WARNING"},
        "aiortc": {"level": "WARNING"},
    },
}
