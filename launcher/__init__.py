"""One launcher for the whole product: `make run` (`python -m launcher`), the browser tests and
the benchmarks start the Procfile's processes through `Stack`; `launcher.page`,
`launcher.live_page`, `launcher.page_recorder` and `launcher.microphone` drive the live page in
Chromium for both."""

from .stack import PROCESSES, Stack, StackError

__all__ = ["PROCESSES", "Stack", "StackError"]
