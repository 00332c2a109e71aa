"""The engine's LLM generating without a pause, as it does while a long reply is written: the
load `scripts/first_audio_trace.py --beside-llm` measures a talk's first audio against.

    ENGINE_THREADS=1 PYTHONPATH=. .venv/bin/python -m scripts.llm_busy_loop
"""

from __future__ import annotations

import sys
import threading

from engine.llm import ChatModel, ReplyStats, Sampling

QUESTION = "Tell me a long story about a lighthouse keeper and the sea."


def main() -> None:
    model = ChatModel.load()
    print("ready", flush=True)  # the parent starts measuring from here
    sampling = Sampling(temperature=0.7, max_tokens=256)
    messages = [{"role": "user", "content": QUESTION}]
    never = threading.Event()
    while True:  # until the parent kills this process
        for _ in model.generate(messages, sampling, ReplyStats(), never):
            pass
        sys.stdout.flush()


if __name__ == "__main__":
    main()
