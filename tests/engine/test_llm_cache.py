"""The LLM's state cache is bounded by the memory its states really hold (the logits included),
not only by their KV data: the LLM process grew by 1 GB over a 30-minute soak without this."""

from types import SimpleNamespace

import numpy as np
from llama_cpp import LlamaRAMCache

from engine.llm import counted_ram_cache, state_bytes


def fake_state(kv_bytes: int, logits: int) -> SimpleNamespace:
    return SimpleNamespace(llama_state_size=kv_bytes,
                           scores=np.zeros((logits,), dtype=np.float32),
                           input_ids=np.zeros((10,), dtype=np.intc))


def test_a_state_counts_its_logits_and_ids_as_well_as_its_kv_data():
    state = fake_state(1_000, 250)
    assert state_bytes(state) == 1_000 + 250 * 4 + 10 * np.dtype(np.intc).itemsize


def test_the_cache_evicts_by_what_its_states_really_hold():
    cache = counted_ram_cache(LlamaRAMCache, capacity_bytes=10_000)
    for n in range(5):  # each state: 1 kB of KV data, 4 kB of logits
        cache[(n,)] = fake_state(1_000, 1_000)
    # llama-cpp-python's own count (KV data only) would keep all five (5 kB < 10 kB).
    assert len(cache.cache_state) == 1
    assert cache.cache_size <= 10_000
