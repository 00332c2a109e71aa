"""docs/configuration.md, generated from the code: `python -m config.env_doc` rewrites it, and
tests/unit/test_docs.py fails when the page and the code differ.

The variables are found by reading the source, not listed by hand: every `env(...)` call in
config/settings.py (name, type, default as written), every environment read of the programs that
do not load Django settings (the engine, the launcher), and every `${VAR}` docker-compose.yml
substitutes. Meanings come from MEANINGS below, else from the comment above the setting; a
variable with neither fails the drift test. Pure: parses files, imports nothing of the product.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC_PATH = ROOT / "docs" / "configuration.md"
COMMAND = "python -m config.env_doc"
SETTINGS = ROOT / "config" / "settings.py"
# Programs that read the environment themselves instead of through Django settings.
OTHER_READERS = ("engine", "launcher", "streaming/management")
# The operating system's own variables, passed through by the launcher: not ours to document.
SYSTEM = {"PATH", "HOME", "PYTHONPATH"}
_NAME = re.compile(r"^[A-Z][A-Z0-9_]*(\{[A-Z]+\}[A-Z0-9_]*)?$")

MEANINGS = {
    "SECRET_KEY": "Django's signing key. Required when `DEBUG` is off; `make run` generates one "
                  "under `VAR_DIR` (`python -m config.secret_key`).",
    "BEHIND_PROXY": "Trust `X-Forwarded-Proto` from a TLS-terminating proxy (default: `HTTPS`).",
    "LOGIN_FAILURE_LIMIT": "Failed logins (per username and address) before django-axes locks "
                           "them out for a while.",
    "SESSION_COOKIE_SECURE": "Send the session cookie over HTTPS only (default: `HTTPS`).",
    "CSRF_COOKIE_SECURE": "Send the CSRF cookie over HTTPS only (default: `HTTPS`).",
    "SECURE_HSTS_SECONDS": "HSTS max-age (default: a year when `HTTPS` is on, else 0).",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "HSTS for every subdomain as well.",
    "SECURE_HSTS_PRELOAD": "Ask browsers to preload HSTS (only once the whole domain is HTTPS).",
    "VOICE_TURNS_PER_MINUTE": "Spoken turns a user may take per minute (Redis quota; 0 = off).",
    "AUDIO_SECONDS_PER_DAY": "Seconds of microphone audio a user may send per day (0 = off).",
    "LLM_TOKENS_PER_DAY": "LLM tokens a user's replies may use per day (estimated; 0 = off).",
    "QUOTA_KEY_PREFIX": "Prefix of the quota counters' Redis keys.",
    "ENGINE_KNOWLEDGE_DB": "The engine's SQLite FTS5 knowledge index for agents (default: "
                           "`VAR_DIR/engine-knowledge.sqlite3`).",
    "DEBUG": "Django's debug mode (tracebacks in pages). Never on in production.",
    "ALLOWED_HOSTS": "Host names the site answers to; WebSocket `Origin`s are checked against "
                     "them too.",
    "CSRF_TRUSTED_ORIGINS": "Origins trusted for form posts behind a proxy that changes the "
                            "scheme or host (e.g. `https://talk.example.org`).",
    "DATABASE_URL": "The database (`postgres://user:pass@host:5432/name`). SQLite is for one "
                    "machine only.",
    "TIME_ZONE": "Time zone for dates shown in pages and the admin.",
    "STATIC_ROOT": "Where `collectstatic` gathers static files.",
    "VAR_DIR": "Run-time state of `make run`: generated credentials, embedded Redis, beat "
               "schedule, logs.",
    "MEDIA_ROOT": "Uploaded avatar photos. Shared by every web host and the engine.",
    "PUBLIC_BASE_URL": "The site's address as the avatar service sees it: it fetches avatar "
                       "photos from here.",
    "REDIS_URL": "Redis: the channel layer, and by default the Celery broker, results and cache.",
    "CACHE_URL": "The cache holding the API's per-user request counts (default: `REDIS_URL`).",
    "CELERY_BROKER_URL": "Celery's broker (default: `REDIS_URL`).",
    "CELERY_RESULT_BACKEND": "Celery's result store (default: `REDIS_URL`).",
    "REAPER_INTERVAL": "Seconds between runs of the beat task that ends idle conversations.",
    "SESSION_IDLE_TIMEOUT": "Seconds without activity after which a live conversation is ended "
                            "(300 is D-ID's maximum stream idle time).",
    "MAX_LIVE_SESSIONS_PER_USER": "Live conversations one user may hold at once.",
    "DISCONNECT_GRACE_SECONDS": "How long a dropped socket may take to come back before its "
                                "conversation ends; 0 ends it at once.",
    "CHAT_MESSAGES_PER_MINUTE": "Typed messages per user per minute (WebSocket and API).",
    "API_REQUESTS_PER_MINUTE": "JSON API requests per user per minute.",
    "API_REPLY_TIMEOUT": "Seconds an API text route waits for the AI's answer.",
    "CORS_ALLOWED_ORIGINS": "Browser origins allowed to call `/api/v1/` (none by default).",
    "LLM_HISTORY_TOKENS": "Roughly how many tokens of earlier turns go into the LLM prompt.",
    "LLM_MAX_TOKENS": "The LLM's `max_tokens` for one reply.",
    "LLM_WARMUP": "With the local engine as the LLM: read a conversation's first prompt as soon as its stream is live (`false` to wait for the first question).",
    "ENGINE_HOST": "The local engine's address (the engine listens there; the product calls it "
                   "there).",
    "ENGINE_PORT": "The local engine's port.",
    "ENGINE_API_KEY": "The key shared by the product and the engine. The engine refuses the "
                      "published default off loopback.",
    "DID_API_URL": "D-ID's API, or the engine that imitates it (`https://api.d-id.com`).",
    "DID_API_KEY": "D-ID API key (Basic auth), https://docs.d-id.com/reference/basic-authentication",
    "HEYGEN_API_URL": "HeyGen's API.",
    "HEYGEN_API_KEY": "HeyGen API key.",
    "HEYGEN_MAX_SESSIONS": "Deprecated: the `heygen` entry of `PROVIDER_SESSION_LIMITS`, which "
                           "it overrides when set.",
    "LIVEAVATAR_API_URL": "LiveAvatar's API (HeyGen's successor).",
    "LIVEAVATAR_API_KEY": "LiveAvatar API key, https://app.liveavatar.com/developers",
    "LIVEAVATAR_MODE": "`FULL`: LiveAvatar's voice (and LLM with a context); `LITE`: our LLM and "
                       "our speech over its command socket.",
    "LIVEAVATAR_SANDBOX": "Start LiveAvatar sessions in its sandbox (no credits used).",
    "LIVEAVATAR_CONTEXT_ID": "FULL mode: the LiveAvatar context (its LLM's persona) to use; "
                             "when set, LiveAvatar's LLM answers instead of ours.",
    "LIVEAVATAR_TTS_URL": "LITE mode: an OpenAI-compatible API whose `/audio/speech` answers raw "
                          "PCM16 24 kHz (default: the local engine's).",
    "LIVEAVATAR_TTS_API_KEY": "LITE mode: that speech API's key.",
    "LIVEAVATAR_TTS_MODEL": "LITE mode: the speech model.",
    "LIVEAVATAR_TTS_VOICE": "LITE mode: the speech voice.",
    "DEEPGRAM_URL": "Deepgram's live API (`wss://api.deepgram.com`), or the engine.",
    "DEEPGRAM_API_KEY": "Deepgram API key.",
    "GROQ_BASE_URL": "Groq's API (`https://api.groq.com`), or the engine.",
    "GROQ_API_KEY": "Groq API key.",
    "GROQ_MODEL": "The Groq model replies are written with (the engine answers to this name "
                  "too).",
    "PROVIDER_TIMEOUT": "Seconds before a call to a provider counts as failed.",
    "ICE_SERVERS": "STUN/TURN servers handed to browsers: a JSON list of RTCIceServer objects "
                   "(the engine uses them too unless `ENGINE_ICE_SERVERS` is set).",
    "LOG_LEVEL": "The root logger's level.",
    # Read by the engine itself (engine/config.py, engine/supervisor.py).
    "ENGINE_MEDIA_ROOT": "Where the engine reads `/media/...` photos from disk instead of "
                         "fetching them (default: `MEDIA_ROOT`; `run_engine` fills it in).",
    "ENGINE_MEDIA_URL": "The URL prefix of those files (default `/media/`).",
    "ENGINE_MEDIA_HOSTS": "Hosts whose `/media/...` URLs are read from disk (default: loopback "
                          "and the host of `PUBLIC_BASE_URL`).",
    "ENGINE_FETCH_HOSTS": "Hosts a `source_url` may be fetched from (default: the host of "
                          "`PUBLIC_BASE_URL`; `*` for any).",
    "ENGINE_FETCH_PRIVATE_HOSTS": "Hosts allowed to resolve to private or loopback addresses "
                                  "(default: the same host).",
    "ENGINE_MAX_IMAGE_PIXELS": "Largest photo the engine decodes (default 4096 × 4096).",
    "ENGINE_FETCH_TIMEOUT": "Seconds to fetch a photo or audio file (default 10).",
    "ENGINE_MAX_SOURCE_BYTES": "Largest photo fetched (default 10 MiB).",
    "ENGINE_SESSION_TIMEOUT": "Idle seconds before the engine closes a stream (at most 300, "
                              "D-ID's limit).",
    "ENGINE_MAX_STREAMS": "Concurrent streams the engine accepts (default 8).",
    "ENGINE_MAX_TEXT_CHARS": "Longest text one talk may say (default 2000).",
    "ENGINE_CORS_ORIGINS": "Browser origins the engine answers CORS for, comma-separated: "
                           "`scheme://host[:port]`, `scheme://host:*` for any port, or `*` "
                           "(default: the origin of `PUBLIC_BASE_URL` and loopback on any "
                           "port). Other origins get no `Access-Control-Allow-Origin`.",
    "ENGINE_ICE_SERVERS": "ICE servers for the engine's own peers (default: `ICE_SERVERS`).",
    "ENGINE_MODULES": "Vendor APIs served besides D-ID streams (default "
                      "`deepgram_listen,groq_chat`; empty: D-ID streams alone).",
    "ENGINE_LOOPBACK_ICE": "Offer 127.0.0.1 ICE candidates only (default: on when the engine "
                           "listens on loopback).",
    "ENGINE_LOG_LEVEL": "The engine's log level, inherited by its children (default `INFO`; "
                        "`DEBUG` logs each talk's trace).",
    "ENGINE_STT_MODEL": "The engine's speech recogniser: `moonshine` (Moonshine tiny, default) "
                        "or `whisper` (whisper tiny.en); `bench/stt_compare_bench.py` compares "
                        "them.",
    # The engine's fitting of chat requests to SmolLM2 (engine/chat_tuning.py).
    "ENGINE_LLM_HINT": "A line the engine appends to every chat request's system message "
                       "(default: answer directly in one short sentence, be factually correct; "
                       "`off`: none).",
    "ENGINE_LLM_EXAMPLES": "`on` (default): the engine puts one example question and answer "
                           "after the system message; `off`: none.",
    "ENGINE_LLM_MAX_TEMPERATURE": "The highest sampling temperature the engine's LLM uses, "
                                  "whatever a request asks (default `0`: greedy; `off`: the "
                                  "request's own).",
    "ENGINE_LLM_STOP": "Stop sequences the engine adds to every chat request: a JSON list, "
                       "e.g. `[\"\\n\"]` for one paragraph (default and `off`: none).",
    "ENGINE_THREADS": "Set by the engine's parent for each child: its thread count. Not for "
                      "users.",
    "ENGINE_MEDIA_CLAIM_FD": "Set by the engine's parent for each child: the shared memory "
                             "of the media's CPU claim (engine/media_claim.py). Not for users.",
    "ENGINE_{ROLE}_THREADS": "Threads of one engine child, `ROLE` = `STT`, `LLM` or `MEDIA` "
                             "(default: a third of the cores, at least one).",
    "ENGINE_{ROLE}_NICE": "Niceness added to one engine child, 0 to 19, `ROLE` = `STT`, `LLM` "
                          "or `MEDIA` (default: 0 for all; docs/engine.md).",
    "PORT": "The port `make run` serves on (default 8000).",
    # Substituted by docker-compose.yml.
    "POSTGRES_PASSWORD": "The compose PostgreSQL's password.",
    "TURN_USER": "The compose coturn's user name (put it in `ICE_SERVERS` too).",
    "TURN_PASSWORD": "The compose coturn's password (put it in `ICE_SERVERS` too).",
}


@dataclass
class Variable:
    name: str
    kind: str = ""
    default: str = ""
    comment: str = ""
    readers: tuple[str, ...] = ()


def _comment_above(lines: list[str], lineno: int, end: int) -> str:
    """The `#` lines right above a statement, and its trailing comment."""
    found = []
    i = lineno - 2
    while i >= 0 and lines[i].lstrip().startswith("#"):
        found.insert(0, lines[i].strip().lstrip("#").strip())
        i -= 1
    tail = lines[end - 1].partition("  # ")[2].strip()
    return " ".join([*found, tail]).strip()


def settings_variables() -> list[Variable]:
    """Every `env(...)`/`env.<type>(...)` of config/settings.py, in the file's order."""
    source = SETTINGS.read_text()
    lines = source.splitlines()
    found: dict[str, Variable] = {}
    for statement in ast.parse(source).body:
        for node in ast.walk(statement):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            if isinstance(func, ast.Name) and func.id == "env":
                kind = "str"
            elif (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                  and func.value.id == "env"):
                kind = func.attr
            else:
                continue
            name = _constant(node.args[0])
            if not name or name in found:
                continue
            default = next((ast.unparse(k.value) for k in node.keywords if k.arg == "default"), "")
            comment = _comment_above(lines, statement.lineno, statement.end_lineno)
            found[name] = Variable(name, kind, default, comment, ("config/settings.py",))
    return list(found.values())


def _constant(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):  # f"ENGINE_{role.upper()}_THREADS" -> ENGINE_{ROLE}_THREADS
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(value.value)
            else:
                names = [n.id for n in ast.walk(value) if isinstance(n, ast.Name)]
                parts.append("{" + (names[0] if names else "x").upper() + "}")
        return "".join(parts)
    return None


def _env_reads(tree: ast.AST):
    """Names read with `.get("X")`, `getenv("X")`, `text("X", ...)`, `hosts("X", ...)` or
    `os.environ["X"]` (engine/config.py wraps its reads in `text` and `hosts`)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("get", "getenv", "text", "hosts"):
                name = _constant(node.args[0])
                if name and _NAME.match(name):
                    yield name
        elif (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
              and node.value.attr == "environ"):
            name = _constant(node.slice)
            if name and _NAME.match(name):
                yield name


def other_variables() -> list[Variable]:
    """Variables read straight from the environment by programs that skip Django settings."""
    found: dict[str, set[str]] = {}
    for folder in OTHER_READERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for name in set(_env_reads(ast.parse(path.read_text()))) - SYSTEM:
                found.setdefault(name, set()).add(path.relative_to(ROOT).as_posix())
    return [Variable(name, readers=tuple(sorted(readers))) for name, readers in sorted(found.items())]


def compose_variables() -> list[Variable]:
    """`${NAME}`, `${NAME:-default}` and `${NAME:?error}` substitutions in docker-compose.yml."""
    text = (ROOT / "docker-compose.yml").read_text()
    found: dict[str, Variable] = {}
    for name, sep, rest in re.findall(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}", text):
        default = rest if sep.endswith("-") else ("required" if sep else "")
        found.setdefault(name, Variable(name, default=default, readers=("docker-compose.yml",)))
    return list(found.values())


def meaning(variable: Variable) -> str:
    return MEANINGS.get(variable.name) or variable.comment


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{text}`" if text else "—"


def render() -> str:
    settings = settings_variables()
    known = {v.name for v in settings}
    out = [
        "# Configuration",
        "",
        f"<!-- Generated by `{COMMAND}` from config/settings.py, the engine, the launcher and",
        "docker-compose.yml. Do not edit by hand: change the code (or the meanings in",
        "config/env_doc.py) and run the command again. -->",
        "",
        "Everything is read from the environment, and from a `.env` file at the repository's root",
        "when there is one (`.env.example` is a commented copy to start from). Every variable has",
        "an offline default: with none set, the product runs on one machine against the local",
        "engine. To use a cloud service, point its URL at the vendor and set its key.",
        "",
        "## Django settings (`config/settings.py`)",
        "",
        "Read by the web, worker and beat processes (django-environ; `list` values are",
        "comma-separated, `json` values are JSON, `db` values are database URLs).",
        "",
        "| Variable | Type | Default | Meaning |",
        "|---|---|---|---|",
    ]
    for v in settings:
        out.append(f"| `{v.name}` | {v.kind} | {_cell(_code(v.default))} | {_cell(meaning(v))} |")
    out += [
        "",
        "## Read directly from the environment",
        "",
        "The local engine imports nothing from Django, so it reads the same names itself (a",
        "variable also listed above means the same thing here); the launcher reads a few too.",
        "",
        "| Variable | Read by | Meaning |",
        "|---|---|---|",
    ]
    for v in other_variables():
        note = "as above" if v.name in known and v.name not in _ENGINE_OWN else meaning(v)
        readers = ", ".join(f"`{r}`" for r in v.readers)
        out.append(f"| `{v.name}` | {readers} | {_cell(note)} |")
    out += [
        "",
        "## docker-compose.yml",
        "",
        "Substituted by docker-compose from `.env` or the shell; `required` stops compose when",
        "unset.",
        "",
        "| Variable | Default in compose | Meaning |",
        "|---|---|---|",
    ]
    for v in compose_variables():
        note = "as above" if v.name in known else meaning(v)
        out.append(f"| `{v.name}` | {_cell(_code(v.default))} | {_cell(note)} |")
    return "\n".join(out) + "\n"


# Engine reads whose meaning differs from the Django setting of the same name.
_ENGINE_OWN = {"ENGINE_HOST"}


def all_variables() -> list[Variable]:
    return [*settings_variables(), *other_variables(), *compose_variables()]


if __name__ == "__main__":
    DOC_PATH.write_text(render())
    sys.stdout.write(f"wrote {DOC_PATH.relative_to(ROOT)}\n")
