"""Triggers that wait on the tradeflow server: for one run to end, or for an interrupted thread to settle.

Each ``run()`` yields exactly one event whose payload is a :class:`~tradeflow_airflow.runs.RunOutcome`
(plain JSON), so ``execute_complete`` needs nothing else (Airflow 3.3.2's ``dags test`` drops the
``kwargs`` of ``defer()``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
from airflow.triggers.base import BaseTrigger, TriggerEvent
from langgraph_sdk.client import LangGraphClient

from tradeflow_airflow.hooks.langgraph import LangGraphHook
from tradeflow_airflow.runs import RunOutcome, await_run, classify

logger = logging.getLogger(__name__)


def _failure(thread_id: str, run_id: str | None, exc: BaseException) -> RunOutcome:
    return RunOutcome(
        status="error",
        thread_id=thread_id,
        run_id=run_id,
        values=None,
        interrupts=[],
        error_class=type(exc).__name__,
        message=f"waiting on the server failed: {exc}",
    )


class LangGraphRunTrigger(BaseTrigger):
    """Waits for one server run to end and yields its outcome.

    Args:
        thread_id: the run's thread.
        run_id: the run.
        langgraph_conn_id: the ``langgraph`` connection.
    """

    def __init__(self, thread_id: str, run_id: str, langgraph_conn_id: str = LangGraphHook.default_conn_name) -> None:
        super().__init__()
        self.thread_id = thread_id
        self.run_id = run_id
        self.langgraph_conn_id = langgraph_conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and arguments, so a triggerer process can rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"thread_id": self.thread_id, "run_id": self.run_id, "langgraph_conn_id": self.langgraph_conn_id},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Join the run (the server keeps the request alive) and yield its outcome, once."""
        client = await LangGraphHook(self.langgraph_conn_id).get_async_client()
        try:
            outcome = await await_run(client, self.thread_id, self.run_id)
        except (httpx.HTTPError, OSError) as exc:
            outcome = _failure(self.thread_id, self.run_id, exc)
        finally:
            await client.aclose()
        yield TriggerEvent(dict(outcome))

    async def on_kill(self) -> None:
        """The user killed the deferred task (mark failed, clear): cancel the run on the server too."""
        client = await LangGraphHook(self.langgraph_conn_id).get_async_client()
        try:
            await client.runs.cancel(self.thread_id, self.run_id)
            logger.info("cancelled run %s on thread %s", self.run_id, self.thread_id)
        finally:
            await client.aclose()


class LangGraphThreadTrigger(BaseTrigger):
    """Waits until an interrupted thread has been resumed and its run has ended, and yields that outcome.

    A thread that stops at another interrupt keeps it waiting: it fires when the thread is idle (the
    workflow finished) or in error.

    Args:
        thread_id: the thread to watch.
        langgraph_conn_id: the ``langgraph`` connection.
        poll_interval: seconds between looks at the thread's status.
    """

    def __init__(
        self, thread_id: str, langgraph_conn_id: str = LangGraphHook.default_conn_name, poll_interval: float = 5.0
    ) -> None:
        super().__init__()
        self.thread_id = thread_id
        self.langgraph_conn_id = langgraph_conn_id
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and arguments, so a triggerer process can rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "thread_id": self.thread_id,
                "langgraph_conn_id": self.langgraph_conn_id,
                "poll_interval": self.poll_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the thread until it settles, then yield the outcome of its latest run, once."""
        client = await LangGraphHook(self.langgraph_conn_id).get_async_client()
        try:
            # polling: the server offers no event to wait on for a thread's status
            while (outcome := await thread_outcome(client, self.thread_id)) is None:  # noqa: ASYNC110
                await asyncio.sleep(self.poll_interval)
        except (httpx.HTTPError, OSError) as exc:
            outcome = _failure(self.thread_id, None, exc)
        finally:
            await client.aclose()
        yield TriggerEvent(dict(outcome))


async def thread_outcome(client: LangGraphClient, thread_id: str) -> RunOutcome | None:
    """The outcome of a settled thread's latest run; None while it is interrupted or busy."""
    thread = await client.threads.get(thread_id)
    status = str(thread["status"])
    if status in ("interrupted", "busy"):
        return None
    runs = await client.runs.list(thread_id, limit=1)
    if not runs:
        return classify(thread_id, None, status, thread.get("values") or {})
    latest = runs[0]
    if latest["status"] in ("pending", "running"):
        return None
    joined = await client.runs.join(thread_id, latest["run_id"])
    return classify(thread_id, latest["run_id"], str(latest["status"]), joined)
