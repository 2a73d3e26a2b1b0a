"""Memory of the serving worker: free heap pages back to the OS, long-lived objects out of GC.

`freeze_long_lived`: the worker holds ~430,000 objects that live as long as the model does
(libraries, the champion, Feast). Python's full collections walk all of them: one paused the
worker for 250 ms every ~12 s of traffic (measured in-process), the c16 p99 of the service.
`gc.freeze` moves them out of the collector's generations; what requests allocate later is
collected as before.

`release_free_memory`: hand the C heap's free pages back to the OS, so RSS follows live data.

`MemoryGovernor`: the memos behind normalization, rules and the model's vectorizers are sized
for statement files (up to 100,000-200,000 entries each), so a service that keeps seeing new
descriptors grows by ~1 MB per 1,000 distinct transactions until they fill (measured
in-process: 505 -> 550 MB over 10,000 -> 60,000 transactions, and still rising). The governor,
run after each reload check, empties them once the worker has grown `limit_mb` past its size
after start-up.

CPython frees small objects into glibc's malloc, which keeps the freed pages inside its heaps
for reuse: after a model load, a first Feast read or a batch of 1,000 the worker's RSS stays
at its high-water mark. `malloc_trim(0)` returns those pages. Measured in-process on the
benchmark's state: 467 MB after warm-up and batches, 431 MB after one trim, and 436 MB after
more traffic; a call takes 0.1-0.4 ms. The reload thread calls it after each check.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import logging
import os
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the C library has none (macOS, musl)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)  # ctypes releases the GIL for the call
    except OSError:
        return None
    trim: Callable[[int], int] | None = getattr(libc, "malloc_trim", None)
    return trim


def release_free_memory() -> bool:
    """Return the C heap's free pages to the OS; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def freeze_long_lived() -> int:
    """Collect, then freeze what survives (call once the model is loaded and warmed up).

    A frozen object is never collected, even as part of a cycle that dies later: call
    `thaw` before replacing what was frozen (a reload), then freeze again.

    Returns:
        How many objects are frozen.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def thaw() -> None:
    """Undo `freeze_long_lived`: every frozen object is collectable again."""
    gc.unfreeze()


def rss_mb() -> float | None:
    """This process's resident memory in MB (Linux /proc), None where it cannot be read."""
    try:
        pages = int(Path("/proc/self/statm").read_text(encoding="ascii").split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class MemoryGovernor:
    """Empties the worker's memos when it has grown `limit_mb` past its size at start.

    Call it periodically (the reload thread does, after each check). When clearing does not
    bring the worker back down (the heap keeps some pages), the next clear waits until it has
    grown another half of `limit_mb`, so it never clears on every call.
    """

    def __init__(
        self,
        limit_mb: float,
        clear: Callable[[], None],
        *,
        rss: Callable[[], float | None] = rss_mb,
    ) -> None:
        """Args:
        limit_mb: growth allowed before the memos are emptied (0: never).
        clear: empties them.
        rss: the process's memory in MB (tests pass a fake).
        """
        self.limit_mb = limit_mb
        self._clear = clear
        self._rss = rss
        start = rss()
        self.threshold_mb = None if start is None or limit_mb <= 0 else start + limit_mb
        self.clears = 0

    def __call__(self) -> bool:
        """Clear when over the threshold; True when it cleared."""
        if self.threshold_mb is None:
            return False
        before = self._rss()
        if before is None or before <= self.threshold_mb:
            return False
        self._clear()
        gc.collect()
        release_free_memory()
        after = self._rss() or before
        self.threshold_mb = max(self.threshold_mb, after + self.limit_mb / 2)
        self.clears += 1
        logger.info(
            "memos emptied at %.0f MB (now %.0f MB, next at %.0f MB)",
            before,
            after,
            self.threshold_mb,
        )
        return True
