"""Speech-to-text: Deepgram live transcription (or the local engine speaking its protocol)."""

from .base import SpeechToTextSession, TranscriptEvent
from .deepgram import DeepgramLiveSession

__all__ = ["DeepgramLiveSession", "SpeechToTextSession", "TranscriptEvent"]
