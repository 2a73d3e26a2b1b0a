"""Hand the C heap's free pages back to the operating system, so RSS follows live data.

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
from collections.abc import Callable


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
