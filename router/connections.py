"""The backends' clients on each event loop, and the connections they own: closed before their loop goes.

An async HTTP client's connections belong to the event loop that opened them. langchain-openai and
langchain-ollama keep one process-wide client each, which outlives every loop but the first and is never
closed; the router instead gives each client it builds its own connection pool (``router.clients``) and owns
it: one set of clients per loop, closed when that loop ends (``asyncio.run``, ``asyncio.Runner`` and the
server's loop cancel what is still pending as they finish, and the watcher's ``finally`` closes the pools) or
when the router is retired (settings reset), whichever comes first.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

logger = logging.getLogger(__name__)

Close = Callable[[], Awaitable[None]]


class _OnLoop:
    """One loop's clients, what closes their connections, and the task that closes them when the loop ends."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.models: dict[str, BaseChatModel] = {}
        self.closers: list[Close] = []
        self.closed = False
        self.watcher = loop.create_task(self._close_when_cancelled(), name="tradeflow-router-connections")

    async def _close_when_cancelled(self) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await self.close()
            raise
        # A loop dropped without cancelling its tasks (a process exiting mid-loop) closes this coroutine
        # instead (GeneratorExit): there is no loop left to close connections on, and the process is ending.

    async def close(self) -> None:
        self.closed = True
        while self.closers:
            try:
                await self.closers.pop()()
            except Exception:  # a connection that fails to close must not keep the others open
                logger.warning("closing a backend client's connections failed", exc_info=True)


class LoopClients:
    """Each backend's client, built once per event loop; ``close()`` retires every loop's set."""

    def __init__(self) -> None:
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _OnLoop] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def _here(self) -> _OnLoop:
        loop = asyncio.get_running_loop()
        found = self._loops.get(loop)
        if found is not None and not found.closed:
            return found
        with self._lock:
            found = self._loops.get(loop)
            if found is None or found.closed:
                found = self._loops[loop] = _OnLoop(loop)
            return found

    def get(self, name: str) -> BaseChatModel | None:
        """The client built for ``name`` on the running loop, if any."""
        return self._here().models.get(name)

    def keep(self, name: str, model: BaseChatModel, close: Close) -> BaseChatModel:
        """Keep ``model`` for ``name`` on the running loop (the first one kept wins)."""
        here = self._here()
        here.closers.append(close)  # the loser of a race closes with the loop's others
        return here.models.setdefault(name, model)

    def close(self) -> None:
        """Close every loop's clients: on each loop still open, soon; from any thread."""
        with self._lock:
            loops = list(self._loops.items())
            self._loops.clear()
        for loop, here in loops:
            if not loop.is_closed() and not here.watcher.done():
                try:
                    loop.call_soon_threadsafe(here.watcher.cancel)
                except RuntimeError:  # the loop closed in the meantime: its sockets went with it
                    pass
