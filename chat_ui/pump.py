"""A streamed reply read by a thread of its own and handed to the server's event loop in batches.

Gradio runs a synchronous generator handler in a worker thread and hops there and back for every
update; on a CPU each hop takes the GIL from the thread that is generating. The playground's
handlers are async and read replies through a Pump instead: the event loop is woken for the
first piece, then once per screen update, then at the end, whatever the number of tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any


class Pump:
    """Iterate `items` in a daemon thread; `batches()` yields what arrived since the last batch."""

    def __init__(self, items: Iterator[Any], name: str = "reply-pump") -> None:
        self._items = items
        self._arrived: list[Any] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self.error: BaseException | None = None
        self._name = name

    @property
    def done(self) -> bool:
        """The iterator is exhausted (or failed): nothing runs it any more."""
        return self._done.is_set()

    def _run(self, loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
        first = True
        try:
            for item in self._items:
                with self._lock:
                    self._arrived.append(item)
                if first:  # the first piece is shown at once
                    first = False
                    loop.call_soon_threadsafe(wake.set)
        except BaseException as exc:  # handed to the handler through `error`
            self.error = exc
        finally:
            self._done.set()
            with contextlib.suppress(RuntimeError):  # the loop is closed (server stopped): nobody waits
                loop.call_soon_threadsafe(wake.set)

    def _take(self) -> list[Any]:
        with self._lock:
            arrived, self._arrived = self._arrived, []
        return arrived

    async def batches(self, interval: float) -> AsyncIterator[list[Any]]:
        """Lists of items, one at most every `interval` seconds after the first; ends when the
        iterator does (then check `error`)."""
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        threading.Thread(target=self._run, args=(loop, wake), name=self._name, daemon=True).start()
        await wake.wait()
        while True:
            wake.clear()
            finished = self.done
            arrived = self._take()
            if arrived:
                yield arrived
            if finished:
                return
            # the next batch after `interval`, or at once when the iterator ends
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=interval)
