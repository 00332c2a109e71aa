"""One list of error codes for the server and the page, with no drift and no dead entries.

streaming/error_codes.py is the source; the page's error-codes.js is generated from it. These
tests read the product's source, so a code sent (or shown) anywhere but missing from the list, a
listed code nothing sends, or a hand-edited error-codes.js each fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conversations.models import Conversation
from streaming import error_codes
from streaming.error_codes import AVATAR, CODES, ENDINGS, FAILED_ENDINGS, LLM, STT, Service
from streaming.providers.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderUnavailable,
    bad_response,
    rejection,
    unavailable,
)

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = ("avatars", "conversations", "config", "frontend", "streaming")
PAGE = ROOT / "frontend" / "static" / "frontend"
SERVICES = {key: Service(key, f"{key} service (Vendor)") for key in (AVATAR, STT, LLM)}


def product_python() -> list[Path]:
    files = []
    for package in PRODUCT_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).parts
            # The local engine answers with the vendors' own codes, not ours.
            if "migrations" in parts or "engine" in parts or path.name == "error_codes.py":
                continue
            files.append(path)
    return files


def server_codes() -> dict[str, str]:
    """Every error code the server's source spells out, with where: code → "file:line"."""
    found = {}
    for path in product_python():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            literals = []
            if isinstance(node, ast.Call):
                # protocol.error(code, text) and ProtocolError(code, text); not log.error(...).
                name = node.func.id if isinstance(node.func, ast.Name) else ""
                owner = node.func.value if isinstance(node.func, ast.Attribute) else None
                if isinstance(owner, ast.Name) and owner.id in ("quotas", "reply_watch"):
                    name = node.func.attr  # quotas.Refusal(code, text), reply_watch.fail(...)
                # reply_watch: a reply that could not complete, failed with its code.
                if name in ("_fail_reply_to", "failed_reply_for", "fail", "mark_failed") and len(node.args) > 1:
                    literals.append(node.args[1])
                if name in ("ProtocolError", "error", "Refusal") and node.args:
                    literals.append(node.args[0])
                if name == "Quota" and len(node.args) > 3:  # quotas.Quota(name, limit, window, code)
                    literals.append(node.args[3])
                # Django's ValidationError codes belong to forms, not to the page.
                if name != "ValidationError":
                    literals += [kw.value for kw in node.keywords if kw.arg == "code"]
            elif isinstance(node, ast.Dict):  # JSON answers: {"error": "session_limit", ...}
                literals += [v for k, v in zip(node.keys, node.values, strict=True)
                             if isinstance(k, ast.Constant) and k.value in ("error", "code")]
            for literal in literals:
                if isinstance(literal, ast.Constant) and isinstance(literal.value, str):
                    found[literal.value] = f"{path.relative_to(ROOT)}:{literal.lineno}"
    return found


def page_sources() -> dict[str, str]:
    return {
        path.name: path.read_text()
        for path in PAGE.glob("*.js")
        if path.name != "error-codes.js"
    }


def provider_codes_reachable() -> set[str]:
    """What the provider error family can produce, for each service, from any status."""
    codes = set()
    for service in SERVICES.values():
        codes.add(unavailable(provider="x", service=service).code)
        codes |= {rejection(status, provider="x", service=service).code for status in range(400, 500)}
    codes.add(bad_response("did not answer", provider="did", service=SERVICES[AVATAR]).code)
    # registry.py: a HeyGen avatar without a key; deepgram.py: an unexpected connect failure.
    codes.add(ProviderError("", service=SERVICES[AVATAR], kind="not_configured").code)
    # heygen.py: the account-wide concurrent-session cap is full.
    codes.add(ProviderError("", service=SERVICES[AVATAR], kind="busy").code)
    codes.add(ProviderError("", service=SERVICES[STT]).code)
    return codes


def test_the_page_copy_is_generated_from_the_list():
    committed = error_codes.JS_PATH.read_text()
    assert committed == error_codes.javascript(), (
        "frontend/static/frontend/error-codes.js differs from streaming/error_codes.py: "
        "run `python -m streaming.error_codes`"
    )


def test_every_code_the_server_sends_is_listed():
    sent = server_codes()
    assert sent, "the scan found nothing: has the code moved?"
    unlisted = {code: where for code, where in sent.items() if code not in CODES}
    assert not unlisted, f"add these to streaming/error_codes.py: {unlisted}"


def test_every_listed_server_code_is_sent():
    sent = set(server_codes()) | provider_codes_reachable()
    dead = [e.code for e in CODES.values() if e.sent_by_server and e.code not in sent]
    assert not dead, f"listed as sent by the server but nothing sends them: {dead}"


def test_every_code_the_page_raises_is_listed_and_every_page_code_is_raised():
    sources = "\n".join(page_sources().values())
    raised = set(re.findall(r"(?:showError|fail|describeError)\('([a-z_]+)'", sources))
    raised |= set(re.findall(r"code: '([a-z_]+)'", sources))
    raised |= set(re.findall(r"return '([a-z]+_[a-z_]+)'", sources))  # micErrorCode
    assert raised, "the scan found nothing: has the page's code moved?"
    assert raised - set(CODES) == set()
    quoted = set(re.findall(r"'([a-z]+(?:_[a-z]+)+)'", sources))
    unused = [e.code for e in CODES.values() if not e.sent_by_server and e.code not in quoted]
    assert not unused, f"listed as raised by the page but the page never does: {unused}"


@pytest.mark.parametrize(("status", "service", "code"), [
    (503, STT, "stt_unavailable"),
    (503, LLM, "llm_unavailable"),
    (503, AVATAR, "avatar_unavailable"),
    (401, STT, "stt_auth"),
    (403, LLM, "llm_auth"),
    (402, AVATAR, "avatar_quota"),
    (429, LLM, "llm_rate_limited"),
    (404, AVATAR, "avatar_not_found"),
    (404, LLM, "llm_rejected"),  # a wrong model, not a lost session
    (409, STT, "stt_rejected"),
])
def test_a_provider_error_names_its_service(status, service, code):
    vendor = SERVICES[service]
    if status >= 500:
        exc = unavailable(provider="vendor", service=vendor, status=status)
        assert isinstance(exc, ProviderUnavailable) and exc.retryable
    else:
        exc = rejection(status, provider="vendor", service=vendor)
    assert exc.code == code and exc.status == status
    assert isinstance(exc, ProviderRateLimited) == (status == 429)
    assert str(vendor) in exc.message


def test_a_kind_a_service_does_not_have_is_refused():
    with pytest.raises(KeyError):
        ProviderError("", service=SERVICES[LLM], kind="not_configured")


def test_every_code_has_a_service_and_a_sentence():
    for entry in CODES.values():
        assert entry.service in ("avatar", "stt", "llm", "server", "browser")
        assert entry.text.endswith((".", "!")) and entry.text[0].isupper()
        if entry.code.startswith(("avatar_", "stt_", "llm_")):
            assert entry.code.startswith(entry.service + "_")


def test_endings_cover_every_end_reason_the_server_records():
    assert set(Conversation.EndReason.values) <= set(ENDINGS)
    assert set(FAILED_ENDINGS) <= set(ENDINGS)
