"""The analytics callback handler: graph, node and model events become metrics and queued rows.

Attached to every graph run (the served graphs carry it in their config; the CLI passes it too). It runs
inline on the event loop and does no I/O: counters and histograms in memory, rows onto the writer's queue.
Per node it only reads the clock twice; the rest waits for :meth:`AnalyticsHandler.drain`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult
from langgraph.errors import GraphInterrupt

from analytics.ingest import DECISION_EVENT, as_decision, decision_rows, llm_rows, record_llm_metrics
from analytics.metrics import Metrics
from analytics.rows import NodeRunRow, Row, WorkflowRunRow
from core.prices import PriceTable

UNVERSIONED = "unversioned"
# The custom event a versioned run sends once it has resolved its version (versioning.subgraph.VERSION_EVENT).
VERSION_EVENT = "tradeflow.workflow_version"
MAX_PENDING = 50_000


def _key(run_id: UUID | str) -> int:
    """A run id as the int the handler keys runs by.

    langgraph-api passes UUIDs; Aegra puts the run id into the config as a string, so a served graph's root
    run (and its nodes' parent) arrives as ``str``. Both name the same run.
    """
    return run_id.int if isinstance(run_id, UUID) else UUID(run_id).int


class _Root:
    """A workflow run, as every chain run inside it (its nodes, their runnables) points to it."""

    __slots__ = ("arm", "experiment", "interrupted", "pair_id", "root_id", "run_id", "started", "thread_id",
                 "version", "workflow")  # fmt: skip

    def __init__(self, run_id: int, workflow: str, version: str, thread_id: str | None,
                 metadata: dict[str, Any]) -> None:  # fmt: skip
        self.run_id = run_id
        self.root_id = str(UUID(int=run_id))
        self.workflow = workflow
        self.version = version
        self.thread_id = thread_id
        self.experiment: str | None = metadata.get("experiment")
        self.arm: str | None = metadata.get("arm")
        self.pair_id: str | None = metadata.get("pair_id")
        self.interrupted = False
        self.started = time.perf_counter()


# A finished node, kept as plain values until drain(): (workflow run, node, started, ended, wall clock, status).
_NodeEnd = tuple[_Root, str, float, float, float, str]


class AnalyticsHandler(BaseCallbackHandler):
    """Turns LangGraph/LangChain callback events into Prometheus metrics and analytics rows.

    Workflow runs and model calls are recorded as their events arrive. Node runs, the frequent events, only
    note two clock readings on the workflow's path; :meth:`drain` turns them into histogram observations and
    rows. The writer's thread drains every flush interval and ``/metrics`` drains before each scrape, so
    neither the rows nor the metrics lag behind what a reader sees.
    """

    run_inline = True

    def __init__(
        self, metrics: Metrics, enqueue: Callable[[Row], None], prices: PriceTable | Callable[[], PriceTable]
    ) -> None:
        self.metrics = metrics
        self.enqueue = enqueue
        # A loader is accepted so a graph module can attach the handler at import without reading settings.
        self._prices = prices
        # Open chain runs, keyed by ``run_id.int`` (UUID's own __hash__ is a Python call, and this is the hot
        # path): nodes -> (start, name, workflow run); workflow runs and the runnables inside nodes -> theirs.
        self._nodes: dict[int, tuple[float, str, _Root]] = {}
        self._owners: dict[int, _Root] = {}
        self._pending: deque[_NodeEnd] = deque()
        self._llm_runs: dict[int, tuple[_Root | None, str, str, float]] = {}
        self._node_histograms: dict[tuple[str, str], Any] = {}
        self._workflow_metrics: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    @property
    def prices(self) -> PriceTable:
        """The price table (loaded on first use when a loader was given)."""
        if not isinstance(self._prices, PriceTable):
            self._prices = self._prices()
        return self._prices

    @property
    def open_runs(self) -> int:
        """Chain and model runs started and not yet ended (0 between workflow runs)."""
        return len(self._owners) + len(self._nodes) + len(self._llm_runs)

    def _root_of(self, run_id: UUID | str | None) -> _Root | None:
        """The workflow run a chain run belongs to (None for runs outside any tracked workflow)."""
        if run_id is None:
            return None
        key = _key(run_id)
        node = self._nodes.get(key)
        return node[2] if node is not None else self._owners.get(key)

    # --- graph and node runs ---------------------------------------------------------------------
    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID | str,
        parent_run_id: UUID | str | None = None,
        metadata: dict[str, Any] | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Open a workflow run (no parent) or a node run (named like its ``langgraph_node``)."""
        if parent_run_id is None:
            metadata = metadata or {}
            thread_id = metadata.get("thread_id")
            key = _key(run_id)
            self._owners[key] = _Root(
                key, str(metadata.get("graph_id") or name or "unknown"),
                str(metadata.get("workflow_version") or UNVERSIONED), str(thread_id) if thread_id is not None else None,
                metadata,
            )  # fmt: skip
            return
        root = self._owners.get(_key(parent_run_id))
        if root is None:
            parent = self._nodes.get(_key(parent_run_id))
            if parent is None:
                return
            root = parent[2]
        if metadata is not None and name and name == metadata.get("langgraph_node"):
            self._nodes[_key(run_id)] = (time.perf_counter(), name, root)
        else:
            self._owners[_key(run_id)] = root

    def on_chain_end(self, outputs: Any, *, run_id: UUID | str, **kwargs: Any) -> None:
        """Close a run as a success, or a workflow run as interrupted when a node paused for a human."""
        key = _key(run_id)
        node = self._nodes.pop(key, None)
        if node is not None:  # the hot path: two clock readings and an append
            self._pending.append((node[2], node[1], node[0], time.perf_counter(), time.time(), "success"))
            if len(self._pending) >= MAX_PENDING:  # nobody is draining: keep memory bounded, lose nothing
                self.drain()
            return
        root = self._owners.pop(key, None)
        if root is not None and root.run_id == key:
            # A graph that returns its failure instead of raising it (the llm_router graph: ``error_type``).
            failed = outputs.get("error_type") if isinstance(outputs, dict) else None
            if failed:
                self._finish_workflow(root, "error", str(failed))
            else:
                self._finish_workflow(root, "interrupted" if root.interrupted else "success", None)

    def on_chain_error(self, error: BaseException, *, run_id: UUID | str, **kwargs: Any) -> None:
        """Close a run as an error; an ``interrupt()`` marks its workflow run as interrupted instead."""
        interrupted = isinstance(error, GraphInterrupt)
        key = _key(run_id)
        node = self._nodes.pop(key, None)
        if node is not None:
            if interrupted:
                node[2].interrupted = True
            self._pending.append((node[2], node[1], node[0], time.perf_counter(), time.time(),
                                  "interrupted" if interrupted else "error"))  # fmt: skip
            return
        root = self._owners.pop(key, None)
        if root is None:
            return
        if interrupted:
            root.interrupted = True
        if root.run_id == key:
            self._finish_workflow(root, "interrupted" if interrupted else "error",
                                  None if interrupted else type(error).__name__)  # fmt: skip

    def _finish_workflow(self, root: _Root, status: str, error_type: str | None) -> None:
        duration = time.perf_counter() - root.started
        key = (root.workflow, root.version, status)
        children = self._workflow_metrics.get(key)
        if children is None:
            children = self._workflow_metrics[key] = (
                self.metrics.workflow_runs.labels(*key), self.metrics.workflow_duration.labels(*key[:2]),
            )  # fmt: skip
        children[0].inc()
        children[1].observe(duration)
        self.enqueue(WorkflowRunRow(datetime.now(UTC), root.root_id, root.thread_id, root.workflow, root.version,
                                    status, duration, error_type, root.experiment, root.arm, root.pair_id))  # fmt: skip

    def drain(self) -> int:
        """Record the node runs finished since the last drain (histograms and rows); returns how many.

        Safe to call from any thread: each finished node is taken off the queue exactly once.
        """
        drained = 0
        pending = self._pending
        while True:
            try:
                root, name, started, ended, wall, status = pending.popleft()
            except IndexError:
                return drained
            duration = ended - started
            key = (root.workflow, name)
            histogram = self._node_histograms.get(key)
            if histogram is None:
                histogram = self._node_histograms[key] = self.metrics.node_duration.labels(*key)
            histogram.observe(duration)
            self.enqueue(NodeRunRow(datetime.fromtimestamp(wall, UTC), root.root_id, root.workflow, name, status,
                                    duration))  # fmt: skip
            drained += 1

    # --- model calls ---------------------------------------------------------------------------------
    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: Any,
        *,
        run_id: UUID | str,
        parent_run_id: UUID | str | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Remember which workflow a model call belongs to."""
        metadata = metadata or {}
        root = self._root_of(parent_run_id)
        workflow = root.workflow if root is not None else str(metadata.get("graph_id") or "adhoc")
        provider = str(metadata.get("ls_provider") or "unknown")
        self._llm_runs[_key(run_id)] = (root, workflow, provider, time.perf_counter())

    def on_llm_end(self, response: LLMResult, *, run_id: UUID | str, **kwargs: Any) -> None:
        """One row per attempt (and one per routing decision), and the GenAI metrics."""
        root, workflow, provider, started = self._llm_runs.pop(
            _key(run_id), (None, "adhoc", "unknown", time.perf_counter())
        )
        rows, decision = llm_rows(response, workflow, root.root_id if root is not None else None,
                                  time.perf_counter() - started, provider, self.prices)  # fmt: skip
        record_llm_metrics(self.metrics, rows, decision, workflow)
        for row in rows:
            self.enqueue(row)

    def on_custom_event(
        self, name: str, data: Any, *, run_id: UUID | str, tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        """A decision record sent by the router subgraph, or the version a versioned run resolved."""
        if not isinstance(data, dict):
            return
        if name == VERSION_EVENT:
            self._versioned(run_id, data)
            return
        if name != DECISION_EVENT:
            return
        root = self._root_of(run_id)
        workflow = root.workflow if root is not None else str((metadata or {}).get("graph_id") or "llm_router")
        rows = decision_rows(data, workflow, root.root_id if root is not None else None, datetime.now(UTC))
        record_llm_metrics(self.metrics, rows, data, workflow)
        for row in rows:
            self.enqueue(row)

    def _versioned(self, run_id: UUID | str, data: dict[str, Any]) -> None:
        """From here on the run counts as the workflow and version it resolved (with its experiment and arm)."""
        root = self._root_of(run_id)
        if root is None:
            return
        root.workflow = str(data.get("workflow") or root.workflow)
        root.version = str(data.get("version") or root.version)
        root.experiment, root.arm, root.pair_id = data.get("experiment"), data.get("arm"), data.get("pair_id")

    def on_llm_error(self, error: BaseException, *, run_id: UUID | str, **kwargs: Any) -> None:
        """A failed call: rows and metrics for every attempt when the error carries the router's decision."""
        root, workflow, _, _ = self._llm_runs.pop(_key(run_id), (None, "adhoc", "unknown", 0.0))
        decision = as_decision(getattr(error, "decision", None))
        if decision is None:
            return
        rows = decision_rows(decision, workflow, root.root_id if root is not None else None, datetime.now(UTC))
        record_llm_metrics(self.metrics, rows, decision, workflow)
        for row in rows:
            self.enqueue(row)
