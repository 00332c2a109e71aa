"""Quota policy, without Redis: which quotas exist, what each refusal says, how audio and
tokens are counted, and the session and vendor-account caps."""

from types import SimpleNamespace

import pytest

from streaming import quotas


def settings_with(**overrides):
    values = dict(CHAT_MESSAGES_PER_MINUTE=30, VOICE_TURNS_PER_MINUTE=20,
                  SIGNALING_FRAMES_PER_MINUTE=240, AUDIO_SECONDS_PER_DAY=3600,
                  LLM_TOKENS_PER_DAY=1000)
    values.update(overrides)
    return SimpleNamespace(**values)


def test_every_quota_has_its_own_error_code_and_window():
    found = quotas.from_settings(settings_with())
    assert {name: (q.limit, q.window, q.code, q.budget) for name, q in found.items()} == {
        "chat_turns": (30, 60, "chat_rate_limited", False),
        "voice_turns": (20, 60, "voice_rate_limited", False),
        "signaling": (240, 60, "signaling_rate_limited", False),
        "audio_ms": (3_600_000, 86_400, "audio_quota", True),
        "llm_tokens": (1000, 86_400, "token_quota", True),
    }
    assert len({q.code for q in found.values()}) == len(found)


def test_a_zero_limit_switches_a_quota_off():
    assert "voice_turns" not in quotas.from_settings(settings_with(VOICE_TURNS_PER_MINUTE=0))


@pytest.mark.parametrize(("name", "wait", "says"), [
    ("chat_turns", 12.2, "Wait 13 seconds"),
    ("voice_turns", 0.1, "Wait 1 second "),
    ("llm_tokens", 5 * 3600, "renews in 5 hours"),
    ("audio_ms", 30 * 60, "renews in 30 minutes"),
])
def test_a_refusal_says_when_to_come_back(name, wait, says):
    quota = quotas.from_settings(settings_with())[name]
    refusal = quotas.refusal(quota, wait)
    assert refusal.code == quota.code and says in refusal.message
    assert refusal.retry_after >= 1
    assert refusal.as_error() == {"type": "error", "code": quota.code,
                                  "message": refusal.message, "retry_after": refusal.retry_after}


def test_audio_is_charged_in_whole_seconds_not_per_frame():
    meter = quotas.AudioMeter()
    frame = 640  # 20 ms of 16 kHz 16-bit mono
    charged = [meter.add(frame) for _ in range(120)]  # 2.4 s
    assert [c for c in charged if c] == [1000, 1000]
    assert charged.index(1000) == 49  # the 50th frame completes the first second
    assert meter.add(frame * 30) == 1000  # the 0.4 s left over plus 0.6 s more


def test_audio_meter_charges_a_large_frame_in_full():
    assert quotas.AudioMeter().add(quotas.AUDIO_BYTES_PER_SECOND * 3 + 10) == 3000


def test_tokens_count_the_prompt_and_the_answer():
    prompt = [{"role": "system", "content": "x" * 40}, {"role": "user", "content": "y" * 8}]
    assert quotas.llm_tokens(prompt, "z" * 21) == (10 + 4) + (2 + 4) + 6


def test_session_cap_refuses_at_the_limit_and_not_below():
    assert quotas.session_refusal(2, 3) is None
    refusal = quotas.session_refusal(3, 3)
    assert refusal.code == "session_limit" and "3 live conversations" in refusal.message


@pytest.mark.parametrize(("provider", "account"), [
    ("did_talks", "did"), ("did_clips", "did"), ("did_agents", "did"), ("heygen", "heygen"),
])
def test_d_id_apis_share_one_vendor_account(provider, account):
    assert quotas.provider_account(provider) == account


def test_vendor_account_cap_applies_only_where_configured():
    limits = {"heygen": 3}
    assert quotas.provider_refusal("heygen", 2, limits) is None
    assert quotas.provider_refusal("heygen", 3, limits).code == "avatar_busy"
    assert quotas.provider_refusal("did_talks", 500, limits) is None


def test_a_vendor_account_cap_of_zero_is_no_cap():
    assert quotas.provider_refusal("heygen", 500, {"heygen": 0}) is None
