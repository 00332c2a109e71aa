"""A Piper voice cut in two, so a sentence's first words can play before the rest is synthesised.

A Piper (VITS) voice is one ONNX graph. A text encoder, a duration predictor and a flow turn the
whole sentence into latent frames (one per `hop_length` = 256 audio samples); a HiFi-GAN decoder
then turns those frames into audio. The decoder takes about 70 % of the time and grows with the
audio's length (scripts/piper_split_probe.py). So the graph is cut at the decoder's input, the
masked latent that `/dec/conv_pre` reads:
- the encoder still runs once over the whole sentence, so the prosody is the sentence's;
- the decoder runs on chunks of frames, each with `CONTEXT_FRAMES` of its neighbours on either
  side for its convolutions, cropped from its output. With 12 frames the stitched audio equals
  a one-shot decode to within 1e-6 (8 frames: -55 dB; tests/engine/test_piper_stream.py).

The same cut as rhasspy/piper's streaming export (https://github.com/rhasspy/piper/pull/255),
made on the shipped model in memory instead of by re-exporting a training checkpoint.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

CONTEXT_FRAMES = 12  # the decoder's reach, measured (see above)
# The first chunk is short so it is ready soon; each next one is longer, so the context costs
# less, and it is still ready long before the chunk before it has been played (a frame of
# audio, 11.6 ms, takes about 0.7 ms to decode on one core).
FIRST_FRAMES = 16
GROWTH = 3
# No chunk is longer: ONNX Runtime's arena keeps the largest tensors a session has run, so this
# bounds the decoder's memory whatever the sentence's length (1.7 s of audio a chunk).
LARGEST_FRAMES = 144

_DECODER_FIRST_NODE = "/dec/conv_pre/Conv"
_BOS, _EOS, _PAD = "^", "$", "_"  # piper.const


def chunk_bounds(
    frames: int, first: int = FIRST_FRAMES, growth: int = GROWTH, largest: int = LARGEST_FRAMES
) -> list[tuple[int, int]]:
    """The [start, end) frame ranges to decode in turn: `first` frames, then `growth` times more
    than the chunk before (at most `largest`), until all `frames` are covered."""
    bounds, start, size = [], 0, max(1, first)
    while start < frames:
        end = min(frames, start + size)
        bounds.append((start, end))
        start, size = end, max(size, min(size * growth, largest))
    return bounds


def phoneme_samples(
    id_map: Mapping[str, Sequence[int]],
    phonemes: Sequence[str],
    ids: Sequence[int],
    samples_per_id: Sequence[int],
) -> tuple[tuple[str, int], ...] | None:
    """(phoneme, samples) for the sentence: each phoneme's ids and the pad after it, as Piper's
    own `PiperVoice.synthesize` counts them (piper/voice.py); None if the ids do not match."""
    pad = list(id_map.get(_PAD, []))
    position, timed = 0, []
    for phoneme in itertools.chain([_BOS], phonemes, [_EOS]):
        expected = list(id_map.get(phoneme, []))
        if phoneme != _EOS:
            expected += pad
        if list(ids[position : position + len(expected)]) != expected:
            return None
        timed.append((phoneme, int(sum(samples_per_id[position : position + len(expected)]))))
        position += len(expected)
    return tuple(timed)


class SplitVoice:
    """The encoder and decoder halves of a single-speaker Piper voice, as two ONNX sessions."""

    def __init__(self, encoder, decoder, latent: str, hop: int) -> None:
        self._encoder = encoder
        self._decoder = decoder
        self._latent = latent
        self.hop = hop

    @classmethod
    def load(cls, model_path: Path | str, hop: int, session_options=None) -> SplitVoice | None:
        """Cut the voice's graph (None if it is not a graph this cut knows: a multi-speaker
        voice, whose decoder also reads the speaker, or another architecture)."""
        import onnx  # heavy: only where a voice is loaded (piper-tts[alignment] needs it too)
        import onnx.utils
        import onnxruntime

        model = onnx.load(str(model_path))
        graph = model.graph
        if {i.name for i in graph.input} != {"input", "input_lengths", "scales"}:
            return None
        first = next((n for n in graph.node if n.name == _DECODER_FIRST_NODE), None)
        durations = [n.output[0] for n in graph.node if n.op_type == "Ceil"]
        if first is None or len(durations) != 1:
            return None
        latent = first.input[0]
        extractor = onnx.utils.Extractor(model)
        encoder = extractor.extract_model(["input", "input_lengths", "scales"], [latent, durations[0]])
        decoder = extractor.extract_model([latent], [graph.output[0].name])
        if {i.name for i in decoder.graph.input} != {latent}:
            return None

        def session(part):
            return onnxruntime.InferenceSession(
                part.SerializeToString(),
                sess_options=session_options or onnxruntime.SessionOptions(),
                providers=["CPUExecutionProvider"],
            )

        return cls(session(encoder), session(decoder), latent, hop)

    def encode(self, ids: Sequence[int], scales: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """The sentence's latent frames (1, channels, frames) and the audio samples per id."""
        latent, durations = self._encoder.run(
            None,
            {
                "input": np.array([ids], np.int64),
                "input_lengths": np.array([len(ids)], np.int64),
                "scales": np.array(scales, np.float32),
            },
        )
        return latent, (durations.reshape(-1) * self.hop).astype(np.int64)

    def decode(self, latent: np.ndarray, start: int, end: int) -> np.ndarray:
        """Float audio of frames [start, end), decoded with their neighbours as context."""
        frames = latent.shape[2]
        a, b = max(0, start - CONTEXT_FRAMES), min(frames, end + CONTEXT_FRAMES)
        audio = self._decoder.run(None, {self._latent: latent[:, :, a:b]})[0].reshape(-1)
        return audio[(start - a) * self.hop : (end - a) * self.hop]
