"""Mouth shapes for speech sounds: phoneme -> viseme -> how open and how wide the mouth is.

The viseme names are the 15 of the Oculus/Meta lip-sync set (sil, PP, FF, TH, DD, kk, CH, SS, nn,
RR, aa, E, I, O, U). Piper speaks espeak-ng IPA, one codepoint per phoneme; stress and length
marks take the shape of the vowel they belong to.
"""

from __future__ import annotations

SILENCE = "sil"

# viseme -> (openness 0..1, spread -1 rounded .. +1 wide)
SHAPES: dict[str, tuple[float, float]] = {
    "sil": (0.0, 0.0),
    "PP": (0.0, 0.0),
    "FF": (0.15, 0.1),
    "TH": (0.25, 0.1),
    "DD": (0.3, 0.1),
    "kk": (0.35, 0.05),
    "CH": (0.3, -0.5),
    "SS": (0.2, 0.5),
    "nn": (0.3, 0.1),
    "RR": (0.35, -0.4),
    "aa": (1.0, 0.0),
    "E": (0.65, 0.35),
    "I": (0.4, 0.6),
    "O": (0.8, -0.6),
    "U": (0.45, -0.8),
}

_PHONEMES: dict[str, str] = {}
for _viseme, _chars in {
    "PP": "pbm",
    "FF": "fv",
    "TH": "θð",
    "DD": "td",
    "kk": "kgɡŋxh",
    "CH": "ʃʒçʤʧ",
    "SS": "sz",
    "nn": "nlɫɬ",
    "RR": "ɹrɾɚɝ",
    "aa": "aɑæʌɐɒ",
    "E": "ɛeəɜᵻ",
    "I": "iɪjy",
    "O": "oɔ",
    "U": "uʊw",
}.items():
    for _char in _chars:
        _PHONEMES[_char] = _viseme

_STRESS = {"ˈ", "ˌ"}  # belong to the sound after them
_LENGTH = {"ː", "ˑ"}  # belong to the sound before them
_WORD_GAP = " "
WORD_GAP_OPENNESS = 0.1  # lips rarely close fully between words in running speech


def viseme_of(phoneme: str) -> str | None:
    """The viseme of one phoneme, or None for marks that take a neighbour's shape."""
    if phoneme in _STRESS or phoneme in _LENGTH:
        return None
    return _PHONEMES.get(phoneme, SILENCE)


def shape_of(viseme: str | None) -> tuple[float, float]:
    """(openness, spread) of a viseme; unknown names and None are a closed, neutral mouth."""
    return SHAPES.get(viseme or SILENCE, SHAPES[SILENCE])


def visemes_for(phonemes: list[str]) -> list[str]:
    """One viseme per phoneme, with stress and length marks resolved to their vowel's shape."""
    result: list[str | None] = [viseme_of(p) for p in phonemes]
    for i, phoneme in enumerate(phonemes):
        if phoneme in _LENGTH and i > 0:
            result[i] = result[i - 1]
    for i in range(len(phonemes) - 1, -1, -1):
        if result[i] is None:
            result[i] = result[i + 1] if i + 1 < len(phonemes) and result[i + 1] else SILENCE
    return [v or SILENCE for v in result]


def openness_of(phoneme: str, viseme: str) -> float:
    if phoneme == _WORD_GAP:
        return WORD_GAP_OPENNESS
    return shape_of(viseme)[0]
