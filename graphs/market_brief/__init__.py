"""Market brief: figures from a market snapshot, and a brief a model writes from them."""

from graphs.market_brief.graph import builder, graph

__all__ = ["builder", "graph"]
