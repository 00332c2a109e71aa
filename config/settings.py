"""LivePersona settings: everything from the environment (and an optional .env), offline defaults."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

LOCAL_ENGINE_KEY = "local-engine-key"  # not a secret: the offline engine's default shared key

SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key-change-me")
DEBUG = env.bool("DEBUG", default=False)
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
    "avatars",
    "conversations",
    "streaming",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
    # Channels consumers, Celery and daphne write concurrently: wait instead of "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
# Run-time state of `make run`: generated credentials, embedded Redis, beat schedule.
VAR_DIR = env.path("VAR_DIR", default=BASE_DIR / "var")
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
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
            "capacity": 500,
            "expiry": 30,
        },
    }
}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 180
CELERY_TASK_SOFT_TIME_LIMIT = 150
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
REAPER_INTERVAL = env.float("REAPER_INTERVAL", default=30.0)

# Live sessions
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=300)  # seconds, D-ID's maximum
MAX_LIVE_SESSIONS_PER_USER = env.int("MAX_LIVE_SESSIONS_PER_USER", default=3)
# A dropped socket may come back (the page reconnects); end the conversation only after this.
# 0 ends it at once. A closed tab says session.end and ends at once anyway.
DISCONNECT_GRACE_SECONDS = env.int("DISCONNECT_GRACE_SECONDS", default=10)
CHAT_MESSAGES_PER_MINUTE = env.int("CHAT_MESSAGES_PER_MINUTE", default=30)
LLM_HISTORY_TOKENS = env.int("LLM_HISTORY_TOKENS", default=1500)
LLM_MAX_TOKENS = env.int("LLM_MAX_TOKENS", default=200)

# Providers: every base URL points at the local engine unless told otherwise.
ENGINE_HOST = env("ENGINE_HOST", default="127.0.0.1")
ENGINE_PORT = env.int("ENGINE_PORT", default=8700)
ENGINE_API_KEY = env("ENGINE_API_KEY", default=LOCAL_ENGINE_KEY)
_ENGINE_URL = f"http://{ENGINE_HOST}:{ENGINE_PORT}"
DID_API_URL = env("DID_API_URL", default=_ENGINE_URL)
DID_API_KEY = env("DID_API_KEY", default=ENGINE_API_KEY)
HEYGEN_API_URL = env("HEYGEN_API_URL", default="https://api.heygen.com")
HEYGEN_API_KEY = env("HEYGEN_API_KEY", default="")
DEEPGRAM_URL = env("DEEPGRAM_URL", default=f"ws://{ENGINE_HOST}:{ENGINE_PORT}")
DEEPGRAM_API_KEY = env("DEEPGRAM_API_KEY", default=ENGINE_API_KEY)
GROQ_BASE_URL = env("GROQ_BASE_URL", default=_ENGINE_URL)
GROQ_API_KEY = env("GROQ_API_KEY", default=ENGINE_API_KEY)
GROQ_MODEL = env("GROQ_MODEL", default="llama-3.1-8b-instant")
PROVIDER_TIMEOUT = env.float("PROVIDER_TIMEOUT", default=15.0)
# STUN/TURN servers handed to browsers (JSON list of RTCIceServer dicts).
ICE_SERVERS = env.json("ICE_SERVERS", default=[])

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
