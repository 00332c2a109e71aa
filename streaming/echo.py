"""Echo by content: are the words the recogniser heard the avatar's own, played by the speakers
and picked up again by the microphone?

When the browser's echo canceller misses, a faint copy of the avatar's voice reaches the
microphone; Chromium's auto-gain lifts it and the recogniser transcribes it. Loudness cannot tell
it from a quiet user, but its words can: they are a stretch of the avatar's own recent words, in
order, give or take the recogniser's errors. Pure: the turn state (streaming/turns.py) keeps the
avatar's words and asks `is_echo` about what is heard while the avatar can be heard.
"""

from __future__ import annotations

from collections.abc import Sequence

# The avatar's words an echo is looked for in: the newest this many. A reply is written far
# faster than it is said, so which of its words the avatar is saying at a given moment is not
# known; a reply is at most LLM_MAX_TOKENS (200 tokens, about 150 words), so this holds a whole
# one. Only a contiguous stretch of it can match (below), so its length adds few false echoes.
SAID_WORDS = 200
# At least this share of the heard words must be found, in order, in one stretch of the
# avatar's words. Faint, lifted audio makes the recogniser get some words wrong; a user's own
# sentence rarely repeats four words in five of the avatar's in order. Below five words this
# means every word: one or two common words ("the", "at the") are in nearly any reply, and they
# do not barge in on their own anyway, while "stop" or "wait" barge in unless the avatar said it.
MIN_SHARE_FOUND = 0.8
# A word of that stretch that the recogniser did not hear costs this much of a wrong heard word:
# faint audio loses its short, unstressed words first. So five heard words may skip four of the
# avatar's, or get one wrong; two heard words must be the avatar's with at most one between.
DROPPED_WORD_COST = 0.25
# After the avatar goes quiet (its last sentence said, or cut off), a transcript whose audio
# ended this soon after may still be its echo: a final's audio runs on through the endpointing
# silence (0.25 s), and the speakers play out their buffer after the page hears the talk end.
TAIL_S = 0.75


def is_echo(heard: Sequence[str], said: Sequence[str]) -> bool:
    """`heard` (the transcript's words) is a stretch of `said` (the avatar's recent words),
    allowing for the recogniser's errors. Nothing heard, or nothing said, is no echo."""
    if not heard or not said:
        return False
    return errors_against(heard, said) <= (1 - MIN_SHARE_FOUND) * len(heard) + 1e-9


def errors_against(heard: Sequence[str], said: Sequence[str]) -> float:
    """The fewest errors that make some contiguous stretch of `said` read as `heard`: a heard
    word that is not the avatar's counts 1, a word of the stretch that was not heard counts
    DROPPED_WORD_COST. (Edit distance to the best substring: one row per heard word.)"""
    # row[i]: the cost of the heard words so far against a stretch of `said` ending at i.
    row = [0.0] * (len(said) + 1)  # nothing heard yet: free, wherever the stretch starts
    for j, word in enumerate(heard, start=1):
        previous, row = row, [float(j)] + [0.0] * len(said)
        for i, spoken in enumerate(said, start=1):
            row[i] = min(
                previous[i - 1] + (0.0 if spoken == word else 1.0),  # the avatar's, or misheard
                previous[i] + 1.0,  # a heard word the avatar did not say here
                row[i - 1] + DROPPED_WORD_COST,  # a word the avatar said, not heard
            )
    return min(row)
