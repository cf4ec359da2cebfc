"""End-of-day reconciliation: books vs custodian, one explanation per mismatch, ranked by risk."""

from graphs.eod_reconciliation.graph import builder, graph

__all__ = ["builder", "graph"]
