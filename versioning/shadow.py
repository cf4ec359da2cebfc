"""Shadow runs: a challenger version runs on the same input as the served run, beside it.

Its side-effecting tool steps are skipped and it stops at approval steps (compiled with ``shadow=True``).
It runs as its own root run (no checkpoints, its own analytics row with arm ``shadow`` and the served
run's ``pair_id``), in a fresh context so nothing of the served run's config leaks into it.

A shadow never costs the served run anything:

* the served run never waits for it: its answer goes back as soon as its own steps are done;
* it is bounded: at most :data:`TIMEOUT_S` seconds, and at most :data:`MAX_RUNNING` at once in a process
  (one more is skipped, logged and counted, rather than queued);
* it is cancelled with the served run (a client's cancel, a timeout, a server shutting down): see
  :func:`shadow_scope`; and a shadow still running when its process stops is cancelled by :func:`cancel_all`;
* its failures (including its timeout) are logged and recorded, never raised into the served run.

A shadow that outlives its bound, or whose served run is cancelled, is lost for the paired comparison;
a crash loses the one in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig

from versioning.resolve import Resolution, Resolver

logger = logging.getLogger(__name__)

TIMEOUT_S = 120.0
"""Longest a shadow run may take; it is cancelled then (and logged)."""
MAX_RUNNING = 16
"""Most shadow runs at once in one process; a shadow beyond it is skipped."""

_TASKS: dict[str, asyncio.Task[None]] = {}
outcomes: Counter[str] = Counter()
"""How shadows ended in this process: started, succeeded, failed, timed_out, cancelled, skipped."""


def start_shadow(
    resolver: Resolver, resolution: Resolution, payload: Mapping[str, Any], knobs: Mapping[str, Any] | None,
    pair_id: str, callbacks: Callable[[], list[Any]],
) -> None:  # fmt: skip
    """Start the challenger in the background (call from a running event loop); never raises."""
    if resolution.shadow is None:
        return
    if len(_TASKS) >= MAX_RUNNING:
        outcomes["skipped"] += 1
        logger.warning("shadow of %s v%s skipped: %d shadows already running", resolution.workflow,
                       resolution.shadow, len(_TASKS))  # fmt: skip
        return
    task = asyncio.create_task(
        _run(resolver, resolution, dict(payload), dict(knobs or {}), pair_id, callbacks),
        name=f"shadow-{pair_id}", context=contextvars.Context(),
    )  # fmt: skip
    outcomes["started"] += 1
    _TASKS[pair_id] = task
    task.add_done_callback(lambda _: _TASKS.pop(pair_id, None))


async def _run(
    resolver: Resolver, resolution: Resolution, payload: dict[str, Any], knobs: dict[str, Any], pair_id: str,
    callbacks: Callable[[], list[Any]],
) -> None:  # fmt: skip
    version = resolution.shadow
    assert version is not None
    try:
        async with asyncio.timeout(TIMEOUT_S):
            compiled = await asyncio.to_thread(resolver.compiled, resolution.workflow, version, shadow=True)
            config: RunnableConfig = {
                "callbacks": callbacks(),
                "run_name": f"{resolution.workflow}-shadow",
                "metadata": {"graph_id": resolution.workflow, "workflow_version": str(version),
                             "experiment": resolution.experiment, "arm": "shadow", "pair_id": pair_id},
            }  # fmt: skip
            await compiled.graph.ainvoke(payload, config, context=compiled.make_context(knobs))
    except asyncio.CancelledError:
        outcomes["cancelled"] += 1
        logger.info("shadow run of %s v%s (pair %s) cancelled with its served run", resolution.workflow, version,
                    pair_id)  # fmt: skip
        raise
    except TimeoutError:
        outcomes["timed_out"] += 1
        logger.warning("shadow run of %s v%s (pair %s) cancelled after %.0f s", resolution.workflow, version, pair_id,
                       TIMEOUT_S)  # fmt: skip
    except Exception:
        # The served run must never fail because its challenger did; analytics records the error row.
        outcomes["failed"] += 1
        logger.warning("shadow run of %s v%s (pair %s) failed", resolution.workflow, version, pair_id, exc_info=True)
    else:
        outcomes["succeeded"] += 1


def running(pair_id: str | None) -> asyncio.Task[None] | None:
    """The shadow of ``pair_id`` if it still runs in this process."""
    return _TASKS.get(pair_id or "")


@contextlib.contextmanager
def shadow_scope(pair_id: str | None) -> Iterator[None]:
    """Wrap the served run's work: when it is cancelled, its shadow is cancelled too."""
    try:
        yield
    except asyncio.CancelledError:
        task = running(pair_id)
        if task is not None:
            task.cancel()
        raise


async def wait_all(timeout_s: float = 30.0) -> None:
    """Let the shadows of this process finish (tests, and a server draining before it stops); then cancel."""
    pending = [task for task in _TASKS.values() if not task.done()]
    if pending:
        await asyncio.wait(pending, timeout=timeout_s)
    await cancel_all()


async def cancel_all() -> None:
    """Cancel every shadow still running in this process and wait until they are gone."""
    pending = [task for task in _TASKS.values() if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
