"""Clients for the services behind a conversation: the avatar, speech recognition, the LLM.

Each role has one small async interface (`avatar.base`, `stt.base`, `llm.base`); `registry`
picks and configures the implementation from settings.
"""

from .errors import ProviderError, ProviderRateLimited, ProviderRejected, ProviderUnavailable

__all__ = ["ProviderError", "ProviderRateLimited", "ProviderRejected", "ProviderUnavailable"]
