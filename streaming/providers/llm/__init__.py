"""Language models: Groq chat completions (or the local engine speaking Groq's API)."""

from .base import LanguageModel
from .groq import GroqChat

__all__ = ["GroqChat", "LanguageModel"]
