"""Vendor wire messages for the stand-ins: the integration tests' fake Deepgram and the
benchmarks' provider stub send the same bytes, so one format is kept in one place.

Deepgram's live `Results` message: is_final / speech_final as in
https://developers.deepgram.com/documentation/guides/understand-endpointing-interim-results/ and
every field as the official SDK types it (`LiveTranscriptionEvent` in @deepgram/sdk,
https://github.com/deepgram/deepgram-js-sdk).
"""

from __future__ import annotations

import json
import uuid


def deepgram_results(text: str, *, is_final: bool, speech_final: bool, start: float = 0.0,
                     duration: float = 1.0) -> str:
    """A Deepgram live `Results` message."""
    words = [{"word": w.lower().strip(".,?!"), "start": start, "end": start + duration,
              "confidence": 0.98, "punctuated_word": w} for w in text.split()]
    return json.dumps({
        "type": "Results", "channel_index": [0, 1], "duration": duration, "start": start,
        "is_final": is_final, "speech_final": speech_final, "from_finalize": False,
        "channel": {"alternatives": [{"transcript": text, "confidence": 0.98, "words": words}]},
        "metadata": {"request_id": str(uuid.uuid4()), "model_info": {"name": "general",
                     "version": "2024", "arch": "nova-2"}, "model_uuid": str(uuid.uuid4())},
    })
