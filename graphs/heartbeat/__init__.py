"""Heartbeat: a one-node graph for uptime probes and server benchmarks; it calls no model."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graphs.heartbeat.graph import builder, graph

__all__ = ["builder", "graph"]


def __getattr__(name: str) -> Any:
    # The compiled graph (and the model stack behind it) loads on first use, so reading this package's input
    # schema (the registry, `tradeflow graphs`) does not pay for it.
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.graph")
    # Importing the submodule bound its name here; the package's graph is the compiled graph.
    globals().update(builder=module.builder, graph=module.graph)
    return globals()[name]
