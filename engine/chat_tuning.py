"""How the engine fits a chat request to its small model before SmolLM2 sees it. Pure.

The product writes its prompt and sampling for a cloud model (Groq's Llama 3.1 8B): a persona
prompt asking for one to three spoken sentences, temperature 0.7. SmolLM2-135M given the same
request guesses and rambles ("A spider's legs are called legs."). Each adjustment below can be
switched off or changed with an `ENGINE_LLM_*` variable; `bench/answer_quality_bench.py`
measures each one against the product's request as sent:

- `ENGINE_LLM_HINT`: a line appended to the system message (last, where a small model weighs
  it most);
- `ENGINE_LLM_EXAMPLES`: one question-and-answer pair put right after the system message;
- `ENGINE_LLM_MAX_TEMPERATURE`: a cap on the request's temperature (0 is greedy decoding);
- `ENGINE_LLM_STOP`: stop sequences added to the request's own (a JSON list of strings).

Each takes `off`. The request's usage counts the tokens the engine added, as it counts any.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from .llm import Sampling

OFF = "off"
# Engine-only request header: the prompt is the engine's own, already written for the small model
# (agents chats put the retrieved passage first), so the hint and example, written for the
# product's cloud-style persona prompt, would only come between the passage and the question.
FITTED_HEADER = "X-Engine-Prompt-Fitted"
# A generic fact, so that it fits any persona; the answer shows the length and directness asked.
EXAMPLES = (("How many days are in a week?", "There are seven days in a week."),)
# The defaults, chosen with bench/answer_quality_bench.py (bench/README.md has the figures).
DEFAULT_HINT = "Answer the question directly in one short sentence. Be factually correct."
DEFAULT_EXAMPLES = True
DEFAULT_MAX_TEMPERATURE: float | None = 0.0  # greedy: the most likely answer is its best
# None: a newline stop cut lists short ("1. Red") and did not make greedy answers more right.
DEFAULT_STOP: tuple[str, ...] = ()


class BadChatTuning(ValueError):
    """An `ENGINE_LLM_*` variable the engine cannot use (said with the variable's name)."""


@dataclass(frozen=True)
class ChatTuning:
    hint: str = ""
    examples: tuple[tuple[str, str], ...] = ()
    max_temperature: float | None = None
    stop: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ChatTuning:
        """The tuning the `ENGINE_LLM_*` variables ask for; unset ones take the defaults."""
        env = os.environ if env is None else env

        def text(name: str) -> str | None:  # None when unset or blank
            return (env.get(name) or "").strip() or None

        hint = text("ENGINE_LLM_HINT")
        examples = (text("ENGINE_LLM_EXAMPLES") or ("on" if DEFAULT_EXAMPLES else OFF)).lower()
        if examples not in ("on", OFF):
            raise BadChatTuning(f"ENGINE_LLM_EXAMPLES={examples[:20]!r} is not 'on' or 'off'")
        return cls(
            hint=DEFAULT_HINT if hint is None else ("" if hint.lower() == OFF else hint),
            examples=EXAMPLES if examples == "on" else (),
            max_temperature=_temperature(text("ENGINE_LLM_MAX_TEMPERATURE")),
            stop=_stop(text("ENGINE_LLM_STOP")),
        )

    def apply(self, messages: Sequence[dict], sampling: Sampling) -> tuple[list[dict], Sampling]:
        """The messages and sampling the model is given for a request's own."""
        messages = [dict(m) for m in messages]
        system = next((i for i, m in enumerate(messages) if m["role"] == "system"), None)
        if self.hint:
            if system is None:
                messages.insert(0, {"role": "system", "content": self.hint})
                system = 0
            else:
                content = messages[system]["content"].rstrip()
                messages[system]["content"] = f"{content}\n{self.hint}" if content else self.hint
        at = 0 if system is None else system + 1
        for question, answer in reversed(self.examples):
            messages[at:at] = [
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
            ]
        temperature = sampling.temperature
        if self.max_temperature is not None:
            temperature = min(temperature, self.max_temperature)
        stop = (*sampling.stop, *(s for s in self.stop if s not in sampling.stop))
        return messages, replace(sampling, temperature=temperature, stop=stop)


def _temperature(raw: str | None) -> float | None:
    if raw is None:
        return DEFAULT_MAX_TEMPERATURE
    if raw.lower() == OFF:
        return None
    try:
        cap = float(raw)
    except ValueError:
        cap = -1.0
    if not 0.0 <= cap <= 2.0:
        raise BadChatTuning(
            f"ENGINE_LLM_MAX_TEMPERATURE={raw[:20]!r} is not 'off' or a number from 0 to 2"
        )
    return cap


def _stop(raw: str | None) -> tuple[str, ...]:
    if raw is None:
        return DEFAULT_STOP
    if raw.lower() == OFF:
        return ()
    try:
        stop = json.loads(raw)
    except json.JSONDecodeError:
        stop = None
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise BadChatTuning(
            f"ENGINE_LLM_STOP={raw[:40]!r} is not 'off' or a JSON list of non-empty strings"
        )
    return tuple(stop)
