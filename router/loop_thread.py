"""An event loop in a daemon thread: how synchronous callers use the async router.

Library code never calls ``asyncio.run``: a sync ``invoke`` from a plain script, from a thread pool or from
inside a running loop (a Jupyter cell, a sync node in an async graph) hands its coroutine to this one loop and
waits. Clients bound to a loop stay bound to this one, so the second call works like the first.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_END = object()


class LoopThread:
    """One event loop, started on first use, running in a daemon thread for the life of the process."""

    def __init__(self, name: str = "tradeflow-router-loop") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop (started if needed)."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=serve, name=self.name, daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def _check_caller(self) -> None:
        if threading.current_thread() is self._thread:
            raise RuntimeError("a synchronous router call was made from the router's own event loop; await it")

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result (its exception is raised here)."""
        self._check_caller()
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop())
        try:
            return future.result()
        finally:
            future.cancel()  # the caller went away (KeyboardInterrupt): the coroutine must not run on

    def iterate(self, stream: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
        """Iterate, in the calling thread, over an async iterator that runs on the loop."""
        self._check_caller()
        items: queue.SimpleQueue[Any] = queue.SimpleQueue()

        async def pump() -> None:
            try:
                async for item in stream():
                    items.put(item)
            except asyncio.CancelledError:
                items.put((_END, None))
                raise
            except BaseException as exc:
                # Handed to the calling thread, which raises it there.
                items.put((_END, exc))
                return
            items.put((_END, None))

        future = asyncio.run_coroutine_threadsafe(pump(), self.loop())
        try:
            while True:
                item = items.get()
                if isinstance(item, tuple) and len(item) == 2 and item[0] is _END:
                    if item[1] is not None:
                        raise item[1]
                    return
                yield item
        finally:
            future.cancel()


ROUTER_LOOP = LoopThread()
"""The process's loop for synchronous router calls."""
