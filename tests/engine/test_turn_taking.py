"""Turn-taking in the engine's live recogniser, with no model loaded.

A scripted VAD (a window is speech when its samples are loud) and a recogniser that answers at
once, or when the test lets it, drive `LiveTranscription`: when the turn ends, when the
speculative final goes out, when `SpeechStarted` is sent and when a short noise is ignored.
Timings are stream time (samples fed), so these tests are exact on any machine.
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from engine.listen_params import LiveOptions
from engine.speech_models import SAMPLE_RATE, VAD_WINDOW, SpeechRecognizer, transcript_from
from engine.transcriber import LiveTranscription
from engine.transcript_events import SpeechStarted, TranscriptResult
from engine.voice_onset import EARLY_SAMPLES, SURE_SAMPLES, TAIL_SAMPLES

LOUD = 0.5


class LoudnessVad:
    """Stands in for Silero's onnxruntime session: speech probability 0.9 for a loud window."""

    def run(self, _outputs, feeds):
        window = feeds["input"][0, -VAD_WINDOW:]
        p = 0.9 if float(np.abs(window).mean()) > LOUD / 2 else 0.0
        return np.array([[p]], dtype=np.float32), feeds["h"], feeds["c"]


class ScriptedRecognizer(SpeechRecognizer):
    """Says `text` for any audio; while `gate` is clear, transcriptions wait for it."""

    arch = "fake"

    def __init__(self, text: str = "How many legs does a spider have?") -> None:
        super().__init__(
            vad_session=LoudnessVad(), model_name="fake", model_version="1", load_seconds=0.0
        )
        self.text = text
        self.calls: list[tuple[float, float]] = []
        self.gate = threading.Event()
        self.gate.set()

    def transcribe_sync(self, audio, offset=0.0, word_timestamps=True, speech_span=None):
        self.calls.append((offset, offset + len(audio) / SAMPLE_RATE))
        self.gate.wait(10)
        lo, hi = speech_span or (offset, offset + len(audio) / SAMPLE_RATE)
        raw = [(token, lo, hi, 0.9) for token in self.text.split()]
        return transcript_from(raw, self.text, lo, hi)


class Session:
    """A LiveTranscription fed window by window; events are recorded with the stream time."""

    def __init__(self, recognizer: ScriptedRecognizer, **options) -> None:
        self.events: list[tuple[float, object]] = []
        self.live = LiveTranscription(recognizer, LiveOptions(**options), self._record)

    async def _record(self, event) -> None:
        self.events.append((self.live.position / SAMPLE_RATE, event))

    async def feed(self, seconds: float, *, loud: bool, settle: float = 0.0) -> None:
        """`seconds` of speech (loud) or silence, one VAD window per feed."""
        for _ in range(round(seconds * SAMPLE_RATE / VAD_WINDOW)):
            await self.live.feed(np.full(VAD_WINDOW, LOUD if loud else 0.0, dtype=np.float32))
            if settle:  # let background transcriptions finish between windows
                await asyncio.sleep(settle)

    def finals(self) -> list[tuple[float, TranscriptResult]]:
        return [(t, e) for t, e in self.events if isinstance(e, TranscriptResult) and e.is_final]


@pytest.fixture
def recognizer():
    recognizer = ScriptedRecognizer()
    yield recognizer
    recognizer.gate.set()
    recognizer.close()


async def test_the_speculative_final_goes_out_before_the_turn_ends_then_speech_final(recognizer):
    session = Session(recognizer, endpointing_ms=250)
    await session.feed(0.5, loud=False)
    await session.feed(1.0, loud=True)
    await session.feed(0.6, loud=False, settle=0.01)
    await session.live.close()

    (t_early, early), (t_end, end) = session.finals()
    assert (early.speech_final, early.transcript.text) == (False, recognizer.text)
    assert (end.speech_final, end.transcript.text) == (True, "")
    # The early final is out within three VAD windows of the silence, the end of turn at 250 ms.
    speech_end = 1.5
    assert t_early - speech_end <= 3 * VAD_WINDOW / SAMPLE_RATE + 1e-9
    assert 0.25 <= t_end - speech_end <= 0.25 + VAD_WINDOW / SAMPLE_RATE + 1e-9
    # Together they cover the audio once: the second starts where the first ended.
    assert end.start == pytest.approx(early.start + early.duration, abs=1e-3)
    assert len(recognizer.calls) == 1  # the silence after the early final is not transcribed


async def test_speech_resuming_after_the_speculative_final_comes_in_a_later_final(recognizer):
    session = Session(recognizer, endpointing_ms=250)
    await session.feed(1.0, loud=True)
    await session.feed(0.15, loud=False, settle=0.01)  # a pause shorter than the endpoint
    await session.feed(0.8, loud=True)
    await session.feed(0.5, loud=False, settle=0.01)

    finals = [e for _, e in session.finals()]
    assert [f.speech_final for f in finals] == [False, False, True]
    assert [bool(f.transcript.text) for f in finals] == [True, True, False]
    assert finals[1].start == pytest.approx(finals[0].start + finals[0].duration, abs=1e-3)


async def test_when_the_recogniser_is_slower_than_the_endpoint_one_final_carries_the_words(
    recognizer,
):
    recognizer.gate.clear()
    session = Session(recognizer, endpointing_ms=250)
    await session.feed(1.0, loud=True)
    feeding = asyncio.create_task(session.feed(0.4, loud=False))
    await asyncio.sleep(0.2)
    recognizer.gate.set()  # the endpoint is waiting on the speculation by now
    await feeding

    finals = [e for _, e in session.finals()]
    assert len(finals) == 1
    assert (finals[0].speech_final, finals[0].transcript.text) == (True, recognizer.text)


async def test_endpointing_defaults_to_250_ms(recognizer):
    session = Session(recognizer)
    await session.feed(1.0, loud=True)
    await session.feed(0.5, loud=False, settle=0.01)
    (t_end, end) = session.finals()[-1]
    assert end.speech_final and t_end - 1.0 <= 0.25 + VAD_WINDOW / SAMPLE_RATE + 1e-9


async def test_speech_started_comes_after_the_minimum_speech_with_the_onset_time(recognizer):
    session = Session(recognizer, vad_events=True)
    await session.feed(0.64, loud=False)
    await session.feed(0.5, loud=True)
    started = [(t, e) for t, e in session.events if isinstance(e, SpeechStarted)]
    assert len(started) == 1
    at, event = started[0]
    assert event.timestamp == pytest.approx(0.64, abs=1e-3)  # when the voice began
    # Six windows of voice still sounding at the end (engine/voice_onset.py).
    assert at - 0.64 == pytest.approx(EARLY_SAMPLES / SAMPLE_RATE, abs=1e-3)


async def test_a_voice_that_stops_sounding_in_its_sixth_window_waits_for_the_seventh(recognizer):
    """Silero's state lags a sound's end; a sound over before the sixth window's last 10 ms
    is announced only if the VAD still calls it voice a window later."""
    session = Session(recognizer, vad_events=True)
    await session.feed(0.64, loud=False)
    await session.feed(5 * VAD_WINDOW / SAMPLE_RATE, loud=True)
    fading = np.full(VAD_WINDOW, LOUD, dtype=np.float32)
    fading[-TAIL_SAMPLES:] = 0.0  # still "voice" to the scripted VAD, but silent at the end
    await session.live.feed(fading)
    assert not any(isinstance(e, SpeechStarted) for _, e in session.events)
    await session.live.feed(fading)
    (at, event), = [(t, e) for t, e in session.events if isinstance(e, SpeechStarted)]
    assert at - 0.64 == pytest.approx(SURE_SAMPLES / SAMPLE_RATE, abs=1e-3)


@pytest.mark.parametrize("noise_ms", [64, 150])
async def test_a_short_noise_is_neither_announced_nor_transcribed(recognizer, noise_ms):
    session = Session(recognizer, vad_events=True, interim_results=True, utterance_end_ms=1000)
    await session.feed(0.5, loud=False)
    await session.feed(noise_ms / 1000, loud=True)
    await session.feed(1.5, loud=False, settle=0.005)
    await session.live.close()
    assert session.events == []
    assert recognizer.calls == []


async def test_no_speech_started_without_vad_events(recognizer):
    session = Session(recognizer)
    await session.feed(0.5, loud=True)
    assert not any(isinstance(e, SpeechStarted) for _, e in session.events)


async def test_finalize_after_a_speculative_final_sends_an_empty_from_finalize_result(recognizer):
    session = Session(recognizer, endpointing_ms=1000)
    await session.feed(1.0, loud=True)
    await session.feed(0.2, loud=False, settle=0.01)
    await session.live.finalize()
    finals = [e for _, e in session.finals()]
    assert [(f.transcript.text, f.speech_final, f.from_finalize) for f in finals] == [
        (recognizer.text, False, False),
        ("", False, True),
    ]
    assert len(recognizer.calls) == 1
    # Finalize settled the utterance: a later noise owes no empty speech_final.
    count = len(session.events)
    await session.feed(0.1, loud=True)
    await session.feed(1.2, loud=False, settle=0.005)
    assert len(session.events) == count


async def test_the_final_is_transcribed_from_the_first_silent_window(recognizer):
    """One VAD window (32 ms) into a silence the utterance's transcription starts; its result
    goes out only if the silence is still on when it is ready."""
    session = Session(recognizer, endpointing_ms=250)
    await session.feed(1.0, loud=True)
    assert recognizer.calls == []
    await session.feed(VAD_WINDOW / SAMPLE_RATE, loud=False, settle=0.01)
    assert len(recognizer.calls) == 1


async def test_a_one_window_dip_inside_speech_sends_no_final(recognizer):
    """The speaker only paused: the early transcription is dropped, and the utterance's words
    come once, in its finals, after it really ends."""
    recognizer.gate.clear()  # the early transcription is still running when speech resumes
    session = Session(recognizer, endpointing_ms=250)
    await session.feed(0.6, loud=True)
    await session.feed(VAD_WINDOW / SAMPLE_RATE, loud=False, settle=0.01)
    await session.feed(0.4, loud=True)
    recognizer.gate.set()
    await asyncio.sleep(0.05)
    assert session.finals() == []
    await session.feed(0.6, loud=False, settle=0.01)
    finals = [e for _, e in session.finals()]
    assert [f.transcript.text for f in finals if f.transcript.text] == [recognizer.text]
    assert finals[-1].speech_final
