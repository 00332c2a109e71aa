"""An avatar's language: a BCP-47 tag, what it asks of speech recognition, and of the LLM.

Pure logic (no I/O, no models), so the admin, the consumer and the reply task share one answer.
Tags are checked with `langcodes` (IETF BCP-47 parsing, https://pypi.org/project/langcodes/)
rather than a hand-written regular expression.
"""

from __future__ import annotations

import langcodes
from django.core.exceptions import ValidationError
from django.utils.translation import get_language_info

DEFAULT_LANGUAGE = "en-US"

# Deepgram's Nova-3 has monolingual models for these languages; others need Nova-2.
# https://developers.deepgram.com/docs/models-languages-overview (and its 2025-2026 changelog:
# https://developers.deepgram.com/changelog/2025/11/4 adds ja, ko, ru, ...).
NOVA_3_LANGUAGES = frozenset(
    "en es fr pt de nl sv da it tr no id bg cs fi hi hu ja ko pl ru uk vi ca et el lv lt ms ro "
    "sk be bn bs hr kn mk mr sr sl ta tl te zh th".split()
)

# What the local engine can transcribe and speak (Piper's joe-us voice, an English recogniser).
ENGINE_LANGUAGES = frozenset({"en"})


def normalize(tag: str) -> str:
    """The canonical spelling of a valid tag (`en_us` -> `en-US`). Raises ValidationError."""
    value = (tag or "").strip().replace("_", "-")
    if not value or not langcodes.tag_is_valid(value):
        # The code is positional: a `code=` keyword reads as a page error code to the error
        # code sweep (tests/unit/test_error_codes.py), and this one is only the admin's.
        raise ValidationError(
            "%(tag)s is not a BCP-47 language tag (e.g. en-US, ja-JP, fr).",
            "invalid_language",
            {"tag": tag or "(empty)"},
        )
    return langcodes.standardize_tag(value)


def validate_language_tag(tag: str) -> None:
    """A model field validator."""
    normalize(tag)


def primary(tag: str) -> str:
    """The primary language subtag, lower case: `ja-JP` -> `ja`; '' for nonsense."""
    try:
        return langcodes.Language.get((tag or "").replace("_", "-")).language or ""
    except (ValueError, langcodes.tag_parser.LanguageTagError):
        return ""


def is_english(tag: str) -> bool:
    return primary(tag) == "en"


def language_name(tag: str) -> str:
    """An English name for the language, for the LLM prompt (Django's own table of languages)."""
    code = primary(tag)
    try:
        return get_language_info(code)["name"]
    except KeyError:
        return tag


def same_language(a: str, b: str) -> bool:
    """Whether two tags (or a tag and a vendor's language name, e.g. HeyGen's "English") name
    the same language; dialects (en-US, en-GB) count as the same."""
    return _as_code(a) == _as_code(b) != ""


def _as_code(value: str) -> str:
    code = primary(value)
    if code and len(code) <= 3 and value.replace("_", "-").split("-")[0].lower() == code:
        return code
    # A language name, as HeyGen and LiveAvatar list them ("English", "Japanese").
    name = (value or "").split("(")[0].strip().lower()
    for candidate in _NAMES:
        if get_language_info(candidate)["name"].lower() == name:
            return candidate.split("-")[0]
    return ""


_NAMES = ("en", "ja", "fr", "de", "es", "it", "pt", "nl", "sv", "da", "nb", "fi", "pl", "ru",
          "uk", "tr", "ko", "zh-hans", "ar", "hi", "cs", "hu", "el", "ro", "vi", "id", "th", "he")


def stt_model(tag: str) -> str:
    """Deepgram's model for this language: Nova-3 where it has one, else Nova-2."""
    return "nova-3" if primary(tag) in NOVA_3_LANGUAGES else "nova-2"


def stt_options_for(avatar) -> dict[str, str]:
    """The Deepgram live options an avatar's conversation needs (`language`, `model`); the
    consumer passes them on: `stt_session(**stt_options_for(avatar))`."""
    tag = getattr(avatar, "language", "") or DEFAULT_LANGUAGE
    return {"language": tag, "model": stt_model(tag)}


def answer_in(tag: str) -> str:
    """The system prompt's line that says which language to answer in."""
    name = language_name(tag or DEFAULT_LANGUAGE)
    return f"Always answer in {name}, whatever language the user writes in."
