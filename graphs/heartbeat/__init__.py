"""Heartbeat: a one-node graph for uptime probes and server benchmarks; it calls no model."""

from graphs.heartbeat.graph import builder, graph

__all__ = ["builder", "graph"]
