"""Each published workflow as a LangGraph assistant of ``versioned_workflow`` (context: workflow, production).

Studio and SDK users pick it from the assistants list; its graph draws that workflow's production version.
The server brings the assistants in step at start, after each publish over HTTP, and on every background
tick (a publish from the CLI shows up within one guardrail interval): one search lists what exists, then only
a missing assistant is created and only one whose name, context, metadata or description differs from its
workflow's is updated (a new assistant version); an assistant already in step is not written at all.
Assistant ids are derived from the workflow id, so several replicas creating the same one agree
(``if_exists="do_nothing"``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import httpx
from langgraph_sdk.errors import LangGraphError

from core.errors import TradeflowError
from graphs.registry import ASSISTANT_NAMESPACE
from graphs.server_compat import server_client
from graphs.versioning_service import service

logger = logging.getLogger(__name__)

GRAPH_ID = "versioned_workflow"
_PAGE = 100

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


def wanted() -> dict[str, dict[str, Any]]:
    """Each published workflow's assistant as it should be (Git reads: call from a worker thread)."""
    svc = service()
    found = {}
    for workflow, versions in sorted(svc.store.all_versions().items()):
        summary = svc.spec(workflow, versions[-1].version)[0].description.strip()
        about = f"published workflow {workflow!r} at its production label, run by versioned_workflow"
        found[assistant_id(workflow)] = {
            "name": workflow, "context": {"workflow": workflow, "label": "production"},
            "metadata": {"tradeflow_workflow": workflow},
            "description": f"{summary} ({about})" if summary else about[0].upper() + about[1:],
        }  # fmt: skip
    return found


def _differs(existing: dict[str, Any], want: dict[str, Any]) -> bool:
    metadata = existing.get("metadata") or {}
    return (existing.get("name") != want["name"] or existing.get("context") != want["context"]
            or any(metadata.get(k) != v for k, v in want["metadata"].items())
            or (existing.get("description") or "") != want["description"])  # fmt: skip


async def sync_assistants() -> dict[str, int]:
    """Create missing workflow assistants and update changed ones; counts of created, updated and unchanged."""
    want = await asyncio.to_thread(wanted)
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    if not want:
        return counts
    async with server_client() as client:
        existing: dict[str, dict[str, Any]] = {}
        while True:
            page = await client.assistants.search(graph_id=GRAPH_ID, limit=_PAGE, offset=len(existing))
            existing.update({str(a["assistant_id"]): dict(a) for a in page})
            if len(page) < _PAGE:
                break
        for assistant, spec in want.items():
            found = existing.get(assistant)
            if found is None:
                await client.assistants.create(GRAPH_ID, assistant_id=assistant, if_exists="do_nothing", **spec)
                logger.info("workflow assistant created: %s (%s)", spec["name"], assistant)
                counts["created"] += 1
            elif _differs(found, spec):
                await client.assistants.update(assistant, **spec)
                logger.info("workflow assistant updated: %s (%s)", spec["name"], assistant)
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
    return counts


async def try_sync_assistants() -> None:
    """:func:`sync_assistants`, logging (not raising) when the server's API is not ready or reachable."""
    try:
        counts = await sync_assistants()
    except (LangGraphError, httpx.HTTPError, ImportError, RuntimeError, TradeflowError) as exc:
        logger.info("workflow assistants not synced yet: %s", exc)
        return
    logger.debug("workflow assistants: %s", counts)
