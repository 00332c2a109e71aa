"""A Piper voice cut in two: a sentence's audio comes in chunks, the same audio it was whole."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from engine.piper_stream import CONTEXT_FRAMES, chunk_bounds, phoneme_samples


def test_chunks_start_short_grow_and_cover_every_frame_once():
    assert chunk_bounds(200, first=16, growth=3) == [(0, 16), (16, 64), (64, 200)]
    assert chunk_bounds(10, first=16) == [(0, 10)]
    # At most `largest` frames a chunk, so the decoder's memory is bounded.
    assert chunk_bounds(500, first=16, growth=3, largest=144) == [
        (0, 16), (16, 64), (64, 208), (208, 352), (352, 496), (496, 500),
    ]
    assert chunk_bounds(300, first=200, largest=144)[0] == (0, 200)  # the first may be longer
    assert chunk_bounds(0) == []


def test_phonemes_get_the_samples_of_their_ids_and_the_pad_after_them():
    id_map = {"^": [1], "$": [2], "_": [0], "h": [20], "a": [14]}
    ids = [1, 0, 20, 0, 14, 0, 2]
    per_id = [512, 0, 768, 256, 1024, 0, 256]
    assert phoneme_samples(id_map, ["h", "a"], ids, per_id) == (
        ("^", 512), ("h", 1024), ("a", 1024), ("$", 256),
    )
    assert phoneme_samples(id_map, ["a", "h"], ids, per_id) is None  # ids of other phonemes


@pytest.mark.engine
def test_a_sentence_decoded_in_chunks_is_the_sentence_decoded_at_once(speaker):
    split, voice = speaker.split, speaker.voice
    assert split is not None  # the bundled voice can be cut
    ids = voice.phonemes_to_ids(voice.phonemize("The capital of France is Paris, on the Seine.")[0])
    latent, per_id = split.encode(ids, (0.667, 1.0, 0.8))
    frames = latent.shape[2]
    assert per_id.sum() == frames * split.hop
    whole = split.decode(latent, 0, frames)
    chunked = np.concatenate([split.decode(latent, a, b) for a, b in chunk_bounds(frames)])
    assert len(chunked) == len(whole) == frames * split.hop
    assert np.abs(chunked - whole).max() < 1e-5
    # Without the context the joins are heard: the context is what makes them equal.
    assert CONTEXT_FRAMES > 0


@pytest.mark.engine
def test_speech_comes_in_chunks_that_join_into_the_sentence_with_its_mouth(speaker):
    text = "The capital of France is Paris, a city on the river Seine."
    chunks = list(speaker.chunks(text, first_clause=False, sample_rate=48_000))
    assert len(chunks) >= 3 and [c.ends_sentence for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert chunks[0].duration < 0.35  # the first words, not the sentence
    assert all(c.sample_rate == 48_000 for c in chunks)
    # Each chunk reads the sentence's mouth from where its audio begins.
    starts = np.cumsum([0, *(len(c.pcm) for c in chunks[:-1])]) / 48_000
    assert [c.mouth_start for c in chunks] == pytest.approx(list(starts))
    mouth = chunks[0].mouth
    assert all(c.mouth is mouth for c in chunks)
    joined = np.concatenate([c.pcm for c in chunks])
    whole = replace(chunks[0], pcm=joined, ends_sentence=True)
    for chunk in chunks[1:]:
        for t in np.linspace(0, chunk.duration, 7, endpoint=False):
            assert chunk.mouth_at(t) == whole.mouth_at(chunk.mouth_start + t)
    assert len(joined) / 48_000 == pytest.approx(len(mouth) / 25, abs=0.04)


@pytest.mark.engine
def test_chunked_speech_is_as_loud_from_sentence_to_sentence_and_never_clips(speaker):
    text = (
        "Yes. A spider has eight legs. Mount Everest is the highest mountain on Earth. "
        "Hello there! Cats are mammals, and so are whales."
    )
    levels = []
    for sentence in speaker.sentences(text, first_clause=False):
        audio = sentence.pcm.astype(np.float32) / 32768
        levels.append(float(np.sqrt(np.mean(audio**2))))
        assert np.abs(audio).max() < 0.999
    assert max(levels) < 2.0 * min(levels)
    assert min(levels) > 0.04
