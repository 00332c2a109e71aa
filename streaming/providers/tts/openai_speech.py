"""Speech as raw PCM16 at 24 kHz from an OpenAI-compatible `POST /audio/speech`.

OpenAI's speech endpoint with `response_format: "pcm"` answers "raw samples in 24kHz (16-bit
signed, low-endian), without the header" (https://platform.openai.com/docs/guides/text-to-speech
and https://platform.openai.com/docs/api-reference/audio/createSpeech): exactly the audio
LiveAvatar's LITE mode takes, so no decoding or resampling happens here. Any service that speaks
this API (OpenAI, or our own engine serving its Piper voice the same way) can be configured.
"""

from __future__ import annotations

import logging

import httpx

from ...error_codes import AVATAR, Service
from ..errors import ProviderError
from ..http import DEFAULT_RETRY, RetryPolicy, make_client, request_with_retries

log = logging.getLogger(__name__)

PCM_SAMPLE_RATE = 24_000
# OpenAI's documented cap on `input`.
MAX_INPUT_CHARS = 4096


class OpenAISpeech:
    """`await speech(text, voice_id)` -> PCM16 mono 24 kHz bytes."""

    name = "tts"
    service = Service(AVATAR, "speech service for the avatar")

    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str,
        default_voice: str,
        client: httpx.AsyncClient | None = None,
        *,
        timeout: float = 15.0,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.default_voice = default_voice
        self.retry = retry
        self.client = client or make_client(timeout=timeout)
        self._owns_client = client is None
        self._api_key = api_key

    def __repr__(self) -> str:
        return f"OpenAISpeech(base_url={self.base_url!r}, model={self.model!r})"

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    def body(self, text: str, voice_id: str | None = None) -> dict:
        return {
            "model": self.model,
            "input": text[:MAX_INPUT_CHARS],
            "voice": voice_id or self.default_voice,
            "response_format": "pcm",
        }

    async def __call__(self, text: str, voice_id: str | None = None) -> bytes:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        response = await request_with_retries(
            self.client,
            "POST",
            f"{self.base_url}/audio/speech",
            provider=self.name,
            service=self.service,
            json=self.body(text, voice_id),
            headers=headers,
            secrets=(self._api_key,),
            retry=self.retry,
        )
        pcm = response.content
        kind = response.headers.get("content-type", "")
        if kind.startswith(("application/json", "text/")) or len(pcm) % 2:
            # An error page or a container format, not raw 16-bit samples.
            raise ProviderError(
                f"The {self.service} did not answer with raw 16-bit audio.",
                provider=self.name,
                service=self.service,
                status=response.status_code,
            )
        log.debug("tts: %d chars -> %.2f s of audio", len(text), len(pcm) / 2 / PCM_SAMPLE_RATE)
        return pcm
