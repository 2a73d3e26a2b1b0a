"""Returning the C heap's free pages to the operating system."""

from __future__ import annotations

import gc
import platform
from pathlib import Path

import pytest

from serving.memory import MemoryGovernor, freeze_long_lived, release_free_memory, rss_mb, thaw


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="malloc_trim is glibc's; elsewhere release_free_memory does nothing",
)
def test_freed_small_objects_go_back_to_the_os_after_a_release() -> None:
    # 1 KB objects come from malloc's heap, not from mappings of their own. One in 64 stays
    # alive, as live objects do amid a server's garbage: free() cannot shrink the heap, but
    # whole free pages between the survivors can go back.
    chunks = [bytes(1000) + bytes([i % 256]) for i in range(150_000)]
    survivors = chunks[::64]
    del chunks
    held = _rss_mb()

    assert release_free_memory() is True
    released = _rss_mb()

    assert held - released > 75  # of the ~145 MB freed
    assert len(survivors) == 2344  # alive until here


def test_freezing_takes_live_objects_out_of_collection_and_thaw_undoes_it() -> None:
    survivor = {"kept": [1, 2, 3]}
    try:
        frozen = freeze_long_lived()
        assert frozen == gc.get_freeze_count() > 0
        assert not any(o is survivor for o in gc.get_objects())  # out of every generation
    finally:
        thaw()
    assert gc.get_freeze_count() == 0
    assert any(o is survivor for o in gc.get_objects())


class FakeRss:
    """Memory readings a test sets, in MB."""

    def __init__(self, mb: float) -> None:
        self.mb = mb

    def __call__(self) -> float:
        return self.mb


def test_the_governor_empties_the_memos_only_past_its_growth_limit() -> None:
    rss = FakeRss(500.0)
    cleared: list[float] = []

    def clear() -> None:
        cleared.append(rss.mb)
        rss.mb = 510.0  # the heap keeps some pages: not back to 500

    governor = MemoryGovernor(40, clear, rss=rss)
    rss.mb = 539.0
    assert governor() is False
    rss.mb = 541.0
    assert governor() is True
    assert cleared == [541.0]
    # Cleared down to 510 only: the next clear waits for another half limit (530), not 540.
    assert governor.threshold_mb == 540.0
    rss.mb = 535.0
    assert governor() is False
    rss.mb = 541.0
    assert governor() is True
    assert governor.clears == 2


def test_a_zero_limit_or_an_unreadable_rss_never_clears() -> None:
    calls: list[int] = []
    never = MemoryGovernor(0, lambda: calls.append(1), rss=FakeRss(10_000.0))
    blind = MemoryGovernor(40, lambda: calls.append(1), rss=lambda: None)
    assert never() is False
    assert blind() is False
    assert calls == []


@pytest.mark.skipif(platform.system() != "Linux", reason="reads /proc/self/statm")
def test_rss_mb_reads_this_process() -> None:
    measured = rss_mb()
    assert measured is not None
    assert abs(measured - _rss_mb()) < 20
