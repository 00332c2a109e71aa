"""Text-to-speech for providers that take our own audio (LiveAvatar's LITE mode)."""

from .openai_speech import PCM_SAMPLE_RATE, OpenAISpeech

__all__ = ["PCM_SAMPLE_RATE", "OpenAISpeech"]
