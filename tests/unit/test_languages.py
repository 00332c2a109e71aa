"""An avatar's language: validated, passed to speech recognition and the LLM, and refused on
the local engine when it isn't English."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from avatars.languages import normalize, same_language, stt_options_for
from avatars.models import Avatar, Persona, Voice
from avatars.prompts import system_prompt_for
from avatars.voices import voice_problem
from streaming.providers.registry import stt_session
from streaming.session_checks import LANGUAGE_UNSUPPORTED, language_refusal

CLOUD_DID = "https://api.d-id.com"
CLOUD_DEEPGRAM = "wss://api.deepgram.com"


def build(**fields) -> Avatar:
    fields.setdefault("source_url", "https://example.com/face.jpg")
    return Avatar(name="X", slug="x", **fields)


@pytest.mark.parametrize(("typed", "stored"), [("en-US", "en-US"), ("en_us", "en-US"),
                                              ("ja-jp", "ja-JP"), ("fr", "fr"),
                                              ("zh-hant-tw", "zh-Hant-TW")])
def test_tags_are_stored_in_their_canonical_spelling(db, typed, stored):
    avatar = build(language=typed)
    avatar.full_clean()
    assert avatar.language == stored


@pytest.mark.parametrize("typed", ["", "english", "en-", "12", "ja JP", "x" * 40])
def test_a_tag_that_is_not_bcp_47_is_refused(db, typed):
    with pytest.raises(ValidationError) as caught:
        build(language=typed).full_clean()
    assert "language" in caught.value.message_dict
    with pytest.raises(ValidationError):
        normalize(typed)


def test_new_avatars_speak_us_english():
    assert build().language == "en-US"


@pytest.mark.parametrize(("language", "model"), [("en-US", "nova-3"), ("ja-JP", "nova-3"),
                                                 ("fr-CA", "nova-3"), ("sw", "nova-2")])
def test_speech_recognition_gets_the_avatars_language_and_a_model_that_has_it(language, model):
    options = stt_options_for(build(language=language))
    assert options == {"language": language, "model": model}
    session = stt_session(**options)
    assert session.connect_options()["language"] == language
    assert session.connect_options()["model"] == model


def test_the_prompt_says_which_language_to_answer_in(db):
    persona = Persona(name="Ada")
    prompt = system_prompt_for(build(language="ja-JP", persona=persona), default="unused")
    assert prompt.startswith(persona.system_prompt())
    assert prompt.endswith("Always answer in Japanese, whatever language the user writes in.")
    plain = system_prompt_for(build(language="fr"), default="You are helpful.")
    assert plain == "You are helpful.\nAlways answer in French, whatever language the user writes in."


@pytest.mark.parametrize(("a", "b", "same"), [
    ("en-US", "en-GB", True), ("en-US", "English", True), ("ja", "Japanese", True),
    ("ja-JP", "English (United States)", False), ("en", "ja", False), ("", "en", False),
])
def test_languages_compare_by_tag_or_vendor_name(a, b, same):
    assert same_language(a, b) is same


# Session start on the local engine ------------------------------------------------------------


def test_english_avatars_are_never_refused(settings):
    assert language_refusal(build(provider="did_talks", language="en-GB")) is None


def test_a_japanese_avatar_on_the_local_engine_is_refused_with_a_clear_message(settings):
    refusal = language_refusal(build(provider="did_talks", language="ja-JP"))
    assert refusal.code == LANGUAGE_UNSUPPORTED == "language_unsupported"
    assert "Japanese (ja-JP)" in refusal.message
    assert "avatar and speech recognition" in refusal.message
    assert "English only" in refusal.message


def test_cloud_services_serve_any_language(settings):
    settings.DID_API_URL, settings.DEEPGRAM_URL = CLOUD_DID, CLOUD_DEEPGRAM
    assert language_refusal(build(provider="did_talks", language="ja-JP")) is None


def test_the_local_recogniser_alone_is_enough_to_refuse(settings):
    settings.DID_API_URL = CLOUD_DID
    refusal = language_refusal(build(provider="heygen", language="fr-FR"))
    assert refusal is not None and "its speech recognition run" in refusal.message


def test_the_code_is_in_the_page_list():
    from streaming.error_codes import CODES

    assert CODES[LANGUAGE_UNSUPPORTED].sent_by_server


# A voice must fit its avatar --------------------------------------------------------------------


def voice(provider: str, language="en-US") -> Voice:
    return Voice(name="V", provider=provider, voice_id="v1", language=language)


def test_a_local_voice_is_refused_on_real_d_id_and_says_why():
    problem = voice_problem(voice("local"), build(provider="did_talks"), did_local=False)
    assert "DID_API_URL points at D-ID itself" in problem
    assert voice_problem(voice("local"), build(provider="did_talks"), did_local=True) is None


@pytest.mark.parametrize(("avatar_provider", "voice_provider", "fits"), [
    ("did_talks", "microsoft", True), ("did_clips", "elevenlabs", True),
    ("did_agents", "heygen", False), ("heygen", "heygen", True), ("heygen", "microsoft", False),
    ("liveavatar", "liveavatar", True), ("liveavatar", "local", False),
    ("heygen", "liveavatar", False),
])
def test_voice_providers_must_fit_the_avatar_provider(avatar_provider, voice_provider, fits):
    problem = voice_problem(voice(voice_provider), build(provider=avatar_provider), did_local=False)
    assert (problem is None) is fits
    if not fits:
        assert "can't speak with" in problem


def test_a_voice_in_another_language_is_refused():
    problem = voice_problem(voice("microsoft", "ja-JP"), build(language="en-US"), did_local=False)
    assert "speaks ja-JP, but this avatar's language is en-US" in problem


def test_the_model_refuses_a_mismatched_voice(db, settings):
    settings.DID_API_URL = CLOUD_DID
    local = Voice.objects.create(name="Joe", provider="local", voice_id="en_US-joe-medium")
    with pytest.raises(ValidationError) as caught:
        build(provider="did_talks", voice=local).full_clean()
    assert "DID_API_URL" in caught.value.message_dict["voice"][0]
