"""Coalescer: items that arrive while a call runs are handled together, each gets its result."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from serving.coalesce import Coalescer


class GatedHandler:
    """Doubles numbers; its first call waits for `release` so that others can queue up."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, items: list[int]) -> list[int]:
        self.calls.append(list(items))
        if len(self.calls) == 1:
            self.entered.set()
            assert self.release.wait(10), "the test never released the first call"
        if any(i < 0 for i in items):
            raise ValueError("negative")
        return [2 * i for i in items]


async def _wait_for(event: threading.Event) -> None:
    while not event.is_set():
        await asyncio.sleep(0.001)


async def _queue_behind_first(
    coalescer: Coalescer[int, int], handler: GatedHandler, first: int, rest: Sequence[int]
) -> list[int | BaseException]:
    """Submit `first`, then `rest` while the first call is held; the results of all."""
    head = asyncio.ensure_future(coalescer.submit(first))
    await _wait_for(handler.entered)
    tail = [asyncio.ensure_future(coalescer.submit(i)) for i in rest]
    await asyncio.sleep(0)  # every submit has queued its item
    handler.release.set()
    return list(await asyncio.gather(head, *tail, return_exceptions=True))


def _coalescer(handler: GatedHandler, max_batch: int = 16) -> Coalescer[int, int]:
    return Coalescer(handler, max_batch=max_batch, executor=ThreadPoolExecutor(max_workers=1))


def test_a_lone_item_is_handled_at_once_on_its_own() -> None:
    handler = GatedHandler()
    handler.release.set()
    coalescer = _coalescer(handler)
    assert asyncio.run(coalescer.submit(21)) == 42
    assert handler.calls == [[21]]


def test_items_arriving_during_a_call_are_handled_together_in_order() -> None:
    handler = GatedHandler()
    coalescer = _coalescer(handler)
    results = asyncio.run(_queue_behind_first(coalescer, handler, 1, [2, 3, 4, 5]))
    assert results == [2, 4, 6, 8, 10]
    assert handler.calls == [[1], [2, 3, 4, 5]]
    assert coalescer.calls == 2


def test_a_call_takes_at_most_max_batch_items() -> None:
    handler = GatedHandler()
    coalescer = _coalescer(handler, max_batch=3)
    results = asyncio.run(_queue_behind_first(coalescer, handler, 0, list(range(1, 8))))
    assert results == [2 * i for i in range(8)]
    assert handler.calls == [[0], [1, 2, 3], [4, 5, 6], [7]]


def test_a_failing_call_fails_its_own_items_only() -> None:
    handler = GatedHandler()
    coalescer = _coalescer(handler, max_batch=2)
    results = asyncio.run(_queue_behind_first(coalescer, handler, 1, [2, -3, 4, 5]))
    assert results[:1] == [2]
    assert all(isinstance(r, ValueError) for r in results[1:3])  # the call of [2, -3]
    assert results[3:] == [8, 10]


def test_a_handler_returning_the_wrong_number_of_results_fails_its_items() -> None:
    coalescer: Coalescer[int, int] = Coalescer(
        lambda items: items[:-1], max_batch=4, executor=ThreadPoolExecutor(max_workers=1)
    )
    with pytest.raises(RuntimeError, match="0 results for 1 items"):
        asyncio.run(coalescer.submit(1))


def test_the_item_of_a_client_that_left_is_not_handled() -> None:
    handler = GatedHandler()
    coalescer = _coalescer(handler)

    async def scenario() -> list[int]:
        head = asyncio.ensure_future(coalescer.submit(1))
        await _wait_for(handler.entered)
        gone = asyncio.ensure_future(coalescer.submit(2))
        kept = asyncio.ensure_future(coalescer.submit(3))
        await asyncio.sleep(0)
        gone.cancel()
        handler.release.set()
        return [await head, await kept]

    assert asyncio.run(scenario()) == [2, 6]
    assert handler.calls == [[1], [3]]


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Coalescer(GatedHandler(), max_batch=0, executor=ThreadPoolExecutor(max_workers=1))
