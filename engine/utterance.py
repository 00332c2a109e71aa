"""Speech as the talking head plays it: audio plus how open the mouth is on every video frame.

Speech that comes with phonemes and how many samples each lasts (Piper's alignments, tts.py)
gives the mouth shape per video frame exactly (phoneme -> viseme -> openness, smoothed a little
for coarticulation). Audio from elsewhere (a D-ID `audio_url` talk) has no phonemes, so its
mouth follows the loudness instead.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.signal import resample_poly

from .visemes import SILENCE, openness_of, shape_of, visemes_for

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


def to_int16(audio: np.ndarray) -> np.ndarray:
    return np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)


def utterance_from_audio(
    pcm: np.ndarray, sample_rate: int, *, fps: int = FPS, text: str = ""
) -> Utterance:
    """An utterance from recorded speech (int16 or float, mono or multi-channel); mouth by energy."""
    if sample_rate <= 0:
        raise ValueError("sample_rate must be positive")
    audio = _as_float_mono(pcm)
    return Utterance(
        pcm=to_int16(audio),
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
