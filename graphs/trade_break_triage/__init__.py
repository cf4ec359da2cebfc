"""Trade-break triage: classify a settlement break, propose a fix, ask a human above a threshold."""

from graphs.trade_break_triage.graph import builder, graph

__all__ = ["builder", "graph"]
