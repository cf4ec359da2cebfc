"""The analytics callback handler: graph, node and model events become metrics and queued rows.

Attached to every graph run (the served graphs carry it in their config; the CLI passes it too). It runs
inline on the event loop and does no I/O: counters and histograms in memory, rows onto the writer's queue.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult
from langgraph.errors import GraphInterrupt

from analytics.ingest import DECISION_EVENT, decision_rows, llm_rows, record_llm_metrics
from analytics.metrics import Metrics
from analytics.prices import PriceTable
from analytics.rows import NodeRunRow, Row, WorkflowRunRow

UNVERSIONED = "unversioned"


class _Run:
    """What the handler remembers about a run between its start and end events."""

    __slots__ = (
        "interrupted", "is_node", "name", "provider", "root", "root_id", "started", "thread_id", "version", "workflow",
    )  # fmt: skip

    def __init__(self, root: UUID, workflow: str, version: str, name: str, *, is_node: bool = False) -> None:
        self.root = root
        self.root_id = str(root)
        self.workflow = workflow
        self.version = version
        self.name = name
        self.is_node = is_node
        self.thread_id: str | None = None
        self.provider = "unknown"
        self.interrupted = False
        self.started = time.perf_counter()


class AnalyticsHandler(BaseCallbackHandler):
    """Turns LangGraph/LangChain callback events into Prometheus metrics and analytics rows."""

    run_inline = True

    def __init__(
        self, metrics: Metrics, enqueue: Callable[[Row], None], prices: PriceTable | Callable[[], PriceTable]
    ) -> None:
        self.metrics = metrics
        self.enqueue = enqueue
        # A loader is accepted so a graph module can attach the handler at import without reading settings.
        self._prices = prices
        self._runs: dict[UUID, _Run] = {}
        # Runnables inside a node (channel writes, parsers) only need to point at their node's run.
        self._aliases: dict[UUID, _Run] = {}
        self._node_histograms: dict[tuple[str, str], Any] = {}

    @property
    def prices(self) -> PriceTable:
        """The price table (loaded on first use when a loader was given)."""
        if not isinstance(self._prices, PriceTable):
            self._prices = self._prices()
        return self._prices

    # --- graph and node runs ---------------------------------------------------------------------
    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open a workflow run (no parent) or a node run (named like its ``langgraph_node``)."""
        metadata = metadata or {}
        name = str(kwargs.get("name") or "")
        if parent_run_id is None:
            workflow = str(metadata.get("graph_id") or name or "unknown")
            run = _Run(run_id, workflow, str(metadata.get("workflow_version") or UNVERSIONED), name)
            thread_id = metadata.get("thread_id")
            run.thread_id = str(thread_id) if thread_id is not None else None
            self._runs[run_id] = run
            return
        parent = self._runs.get(parent_run_id) or self._aliases.get(parent_run_id)
        if parent is None:
            return
        if name and name == metadata.get("langgraph_node"):
            node = _Run(parent.root, parent.workflow, parent.version, name, is_node=True)
            node.root_id = parent.root_id
            self._runs[run_id] = node
        else:
            self._aliases[run_id] = parent

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a run as a success, or as interrupted when one of its nodes paused for a human."""
        if self._aliases.pop(run_id, None) is not None:
            return
        run = self._runs.get(run_id)
        self._finish(run_id, "interrupted" if run is not None and run.interrupted else "success", None)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a run as an error; an ``interrupt()`` marks its workflow run as interrupted instead."""
        if isinstance(error, GraphInterrupt):
            run = self._runs.get(run_id) or self._aliases.get(run_id)
            if run is not None and run.root in self._runs:
                self._runs[run.root].interrupted = True
            self._finish(run_id, "interrupted", None)
        else:
            self._finish(run_id, "error", type(error).__name__)

    def _finish(self, run_id: UUID, status: str, error_type: str | None) -> None:
        run = self._runs.pop(run_id, None)
        if run is None:
            self._aliases.pop(run_id, None)
            return
        duration = time.perf_counter() - run.started
        if run.root == run_id:
            self.metrics.workflow_runs.labels(run.workflow, run.version, status).inc()
            self.metrics.workflow_duration.labels(run.workflow, run.version).observe(duration)
            self.enqueue(WorkflowRunRow(datetime.now(UTC), run.root_id, run.thread_id, run.workflow, run.version,
                                        status, duration, error_type))  # fmt: skip
        elif run.is_node:
            key = (run.workflow, run.name)
            histogram = self._node_histograms.get(key)
            if histogram is None:
                histogram = self._node_histograms[key] = self.metrics.node_duration.labels(*key)
            histogram.observe(duration)
            self.enqueue(NodeRunRow(datetime.now(UTC), run.root_id, run.workflow, run.name, status, duration))

    # --- model calls ---------------------------------------------------------------------------------
    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Remember which workflow a model call belongs to."""
        metadata = metadata or {}
        parent = (
            (self._runs.get(parent_run_id) or self._aliases.get(parent_run_id)) if parent_run_id is not None else None
        )
        if parent is not None:
            run = _Run(parent.root, parent.workflow, parent.version, "llm")
        else:
            run = _Run(run_id, str(metadata.get("graph_id") or "adhoc"), UNVERSIONED, "llm")
        run.provider = str(metadata.get("ls_provider") or "unknown")
        self._runs[run_id] = run

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """One row per attempt (and one per routing decision), and the GenAI metrics."""
        run = self._runs.pop(run_id, None)
        if run is None:
            run = _Run(run_id, "adhoc", UNVERSIONED, "llm")
        duration = time.perf_counter() - run.started
        root = str(run.root) if run.root != run_id else None
        rows, decision = llm_rows(response, run.workflow, root, duration, run.provider, self.prices)
        record_llm_metrics(self.metrics, rows, decision, run.workflow)
        for row in rows:
            self.enqueue(row)

    def on_custom_event(
        self, name: str, data: Any, *, run_id: UUID, tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        """A decision record sent by the router subgraph (which calls backends without a chat model run)."""
        if name != DECISION_EVENT or not isinstance(data, dict):
            return
        run = self._runs.get(run_id) or self._aliases.get(run_id)
        workflow = run.workflow if run is not None else str((metadata or {}).get("graph_id") or "llm_router")
        root = str(run.root) if run is not None else None
        rows = decision_rows(data, workflow, root, datetime.now(UTC), self.prices)
        record_llm_metrics(self.metrics, rows, data, workflow)
        for row in rows:
            self.enqueue(row)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Forget a failed call (the router's decision record, when there is one, arrives on success)."""
        self._runs.pop(run_id, None)
