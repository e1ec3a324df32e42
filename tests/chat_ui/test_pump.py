"""The pump hands a reply to the event loop: first piece at once, then batches, then the end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from chat_ui.pump import Pump


def slow_pieces(n: int, delay: float, fail_at: int | None = None) -> Iterator[str]:
    for i in range(n):
        if i == fail_at:
            raise RuntimeError("model fell over")
        time.sleep(delay)
        yield f"p{i} "


async def collect(pump: Pump, interval: float) -> list[tuple[float, list[str]]]:
    t0 = time.monotonic()
    return [(time.monotonic() - t0, batch) async for batch in pump.batches(interval)]


def test_every_piece_arrives_once_in_order_batched_per_interval() -> None:
    batches = asyncio.run(collect(Pump(slow_pieces(40, 0.01)), interval=0.1))
    pieces = [p for _, batch in batches for p in batch]
    assert pieces == [f"p{i} " for i in range(40)]
    assert batches[0][0] < 0.08 and len(batches[0][1]) <= 2  # the first piece is not held back
    # ~0.4 s of pieces at one batch per 0.1 s: a handful of updates, not one per piece
    assert 3 <= len(batches) <= 8, [len(b) for _, b in batches]


def test_the_end_is_seen_at_once_not_at_the_next_interval() -> None:
    t0 = time.monotonic()
    batches = asyncio.run(collect(Pump(slow_pieces(3, 0.01)), interval=5.0))
    assert time.monotonic() - t0 < 1.0
    assert [p for _, b in batches for p in b] == ["p0 ", "p1 ", "p2 "]


def test_a_failure_ends_the_batches_and_is_handed_over() -> None:
    pump = Pump(slow_pieces(10, 0.005, fail_at=4))
    batches = asyncio.run(collect(pump, interval=0.02))
    assert [p for _, b in batches for p in b] == ["p0 ", "p1 ", "p2 ", "p3 "]
    assert pump.done and isinstance(pump.error, RuntimeError)
    with pytest.raises(RuntimeError, match="fell over"):
        raise pump.error
