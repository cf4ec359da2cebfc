"""Errors raised by the trading graphs and their model seam.

Hierarchy::

    TradeflowError (core.errors)
    └── GraphError                 base for everything in ``graphs``
        ├── InvalidInputError      input, context or state update does not fit its schema (names the field)
        ├── UnknownGraphError      a graph id that is not served
        ├── LLMUnavailableError    no model answered; says what was tried and how to configure one
        └── LLMResponseError       a model answered with something the graph cannot use
"""

from __future__ import annotations

from collections.abc import Sequence

from core.errors import TradeflowError


class GraphError(TradeflowError):
    """Base class of errors raised in ``graphs``."""


class InvalidInputError(GraphError, ValueError):
    """Input, context or a state update that does not fit a graph's schema; names every bad field.

    A ``ValueError`` too: the server answers a state update it refuses with 400 and this message.
    """

    def __init__(self, graph_id: str, problems: Sequence[tuple[str, str]], *, what: str = "input") -> None:
        self.graph_id = graph_id
        self.problems = list(problems)
        detail = "; ".join(f"{field}: {message}" for field, message in self.problems)
        super().__init__(f"invalid {what} for graph {graph_id!r}: {detail}")

    @property
    def fields(self) -> list[str]:
        """The dotted paths of the offending fields, in order."""
        return [field for field, _ in self.problems]


class UnknownGraphError(GraphError):
    """A graph id that tradeflow does not serve."""


class LLMUnavailableError(GraphError):
    """No model answered; the message names what was tried and how to configure a model."""


class LLMResponseError(GraphError):
    """A model answered with something that does not fit the expected shape."""
