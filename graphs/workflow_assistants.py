"""Each published workflow as a LangGraph assistant of ``versioned_workflow`` (context: workflow, production).

Studio and SDK users pick it from the assistants list; its graph draws that workflow's production version.
The server creates missing ones at start, after each publish over HTTP, and on every background tick (a
publish from the CLI shows up within one guardrail interval). Assistant ids are derived from the workflow id,
so several replicas creating the same one agree (``if_exists="do_nothing"``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import httpx
from langgraph_sdk.errors import LangGraphError

from graphs.registry import ASSISTANT_NAMESPACE
from graphs.server_compat import server_client
from graphs.versioning_service import service

logger = logging.getLogger(__name__)

_poke: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None


def assistant_id(workflow: str) -> str:
    """The assistant id of a published workflow (the same on every replica)."""
    return str(uuid.uuid5(ASSISTANT_NAMESPACE, f"versioned_workflow:{workflow}"))


def listen(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    """Called by the server's background task: :func:`ensure_assistant` sets ``event`` from any thread."""
    global _poke
    _poke = (loop, event)


def ensure_assistant(workflow: str) -> None:
    """Ask the server's background task to create the assistant now (a no-op outside the server)."""
    if _poke is not None:
        loop, event = _poke
        loop.call_soon_threadsafe(event.set)


async def sync_assistants() -> int:
    """Create the assistant of every published workflow that has none; returns how many were ensured."""
    workflows = sorted(await asyncio.to_thread(lambda: list(service().store.all_versions())))
    if not workflows:
        return 0
    client = server_client()
    for workflow in workflows:
        await client.assistants.create(
            "versioned_workflow", context={"workflow": workflow, "label": "production"},
            assistant_id=assistant_id(workflow), name=workflow, if_exists="do_nothing",
            metadata={"tradeflow_workflow": workflow},
            description=f"Published workflow {workflow!r} at its production label (versioned_workflow)",
        )  # fmt: skip
    return len(workflows)


async def try_sync_assistants() -> None:
    """:func:`sync_assistants`, logging (not raising) when the server's API is not ready or reachable."""
    try:
        count = await sync_assistants()
    except (LangGraphError, httpx.HTTPError, ImportError, RuntimeError) as exc:
        logger.info("workflow assistants not synced yet: %s", exc)
        return
    logger.debug("workflow assistants ensured: %d", count)
