"""One conversation of 8 turns with the engine's LLM alone, as the product sends them (the demo
persona's prompt, fitted by engine/chat_tuning.py): per turn, the first token and how long the
model's thread stays busy after the last text (llama.cpp saving the state for the next turn).

    PYTHONPATH=. .venv/bin/python -m scripts.llm_turn_probe [--batch N]

`--batch` overrides engine/llm.py's BATCH_TOKENS (llama-cpp-python's own default is 512).
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

import django

from avatars.demo import DEMO_PERSONA
from engine import llm
from engine.chat_tuning import ChatTuning
from engine.llm import ChatModel, ReplyStats, Sampling

QUESTIONS = (
    "How many legs does a spider have?",
    "What is the capital of France?",
    "Which planet is closest to the Sun?",
    "Tell me about the Moon.",
    "How far away is Mars?",
    "What do astronauts eat?",
    "Why is the sky blue?",
    "What is gravity?",
)


def system_prompt() -> str:
    """The demo persona's prompt, as the product writes it (an unsaved Persona: no database)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from avatars.models import Persona  # Django is set up only now

    return Persona(**DEMO_PERSONA).system_prompt()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=llm.BATCH_TOKENS)
    args = parser.parse_args()
    # one thread, as in the engine's LLM child
    model = ChatModel.load(batch_tokens=args.batch, threads=1)
    tuning = ChatTuning.from_env({})
    history = [{"role": "system", "content": system_prompt()}]
    firsts, tails = [], []
    for question in QUESTIONS:
        history.append({"role": "user", "content": question})
        messages, sampling = tuning.apply(history, Sampling(max_tokens=60))
        stats, pieces = ReplyStats(), []
        started = last = time.perf_counter()
        for piece in model.generate(messages, sampling, stats, threading.Event()):
            last = time.perf_counter()
            pieces.append(piece)
        tail = (time.perf_counter() - last) * 1000
        firsts.append(stats.first_token_seconds * 1000)
        tails.append(tail)
        print(f"{stats.prompt_tokens} prompt tokens ({stats.cached_tokens} reused): first token "
              f"{firsts[-1]:.0f} ms, busy {tail:.0f} ms after the last text "
              f"({(last - started) * 1000:.0f} ms in all)")
        history.append({"role": "assistant", "content": "".join(pieces).strip()})
    later = firsts[1:]  # the first turn reads the whole system prompt
    print(f"batch {args.batch}: first turn {firsts[0]:.0f} ms; later turns' first token p50 "
          f"{statistics.median(later):.0f} ms; busy after the last text p50 "
          f"{statistics.median(tails):.0f} ms")


if __name__ == "__main__":
    main()
