"""Shadow runs: a challenger version runs on the same input as the served run, beside it.

Its side-effecting tool steps are skipped and it stops at approval steps (compiled with ``shadow=True``).
It runs as its own root run (no checkpoints, its own analytics row with arm ``shadow`` and the served
run's ``pair_id``), in a fresh context so nothing of the served run's config leaks into it. A failure
is logged and recorded, never raised into the served run. A crash loses a shadow run in flight.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig

from versioning.resolve import Resolution, Resolver

logger = logging.getLogger(__name__)

_TASKS: dict[str, asyncio.Task[None]] = {}


def start_shadow(
    resolver: Resolver, resolution: Resolution, payload: Mapping[str, Any], knobs: Mapping[str, Any] | None,
    pair_id: str, callbacks: Callable[[], list[Any]],
) -> None:  # fmt: skip
    """Start the challenger in the background (call from a running event loop)."""
    if resolution.shadow is None:
        return
    task = asyncio.create_task(
        _run(resolver, resolution, dict(payload), dict(knobs or {}), pair_id, callbacks),
        name=f"shadow-{pair_id}", context=contextvars.Context(),
    )  # fmt: skip
    _TASKS[pair_id] = task
    task.add_done_callback(lambda _: _TASKS.pop(pair_id, None))


async def _run(
    resolver: Resolver, resolution: Resolution, payload: dict[str, Any], knobs: dict[str, Any], pair_id: str,
    callbacks: Callable[[], list[Any]],
) -> None:  # fmt: skip
    version = resolution.shadow
    assert version is not None
    try:
        compiled = await asyncio.to_thread(resolver.compiled, resolution.workflow, version, shadow=True)
        config: RunnableConfig = {
            "callbacks": callbacks(),
            "run_name": f"{resolution.workflow}-shadow",
            "metadata": {"graph_id": resolution.workflow, "workflow_version": str(version),
                         "experiment": resolution.experiment, "arm": "shadow", "pair_id": pair_id},
        }  # fmt: skip
        await compiled.graph.ainvoke(payload, config, context=compiled.make_context(knobs))
    except asyncio.CancelledError:
        raise
    except Exception:
        # The served run must never fail because its challenger did; analytics records the error row.
        logger.warning("shadow run of %s v%s (pair %s) failed", resolution.workflow, version, pair_id, exc_info=True)


async def wait_for_shadow(pair_id: str | None, timeout_s: float = 30.0) -> None:
    """Let a shadow started in this process finish (bounded), so the pair is recorded together."""
    task = _TASKS.get(pair_id or "")
    if task is not None:
        await asyncio.wait([task], timeout=timeout_s)
