"""Base error for tradeflow's ground floor.

Hierarchy::

    TradeflowError                 every error tradeflow raises on purpose
    ├── SettingsError              a bad or missing environment variable (names it)
    ├── PersistenceError           a checkpointer could not be opened or set up
    └── PriceTableError            the price table is invalid or misses a model (names file, entry, field)

Each package (``graphs``, ``router``, ...) derives its own base from ``TradeflowError``.

``TradeflowError`` is a ``RuntimeError`` on purpose: every message tradeflow raises is written for the person
who must act on it and carries no secret (URLs are passed through :func:`core.settings.redact_url`), and the
LangGraph server shows SDK clients the message of a run's error only for the built-in error families it
trusts (``RuntimeError`` among them; anything else becomes "An internal error occurred").
"""

from __future__ import annotations


class TradeflowError(RuntimeError):
    """Base class of every error tradeflow raises on purpose; its message is safe to show a client."""


class SettingsError(TradeflowError):
    """A setting read from the environment or ``.env`` is invalid."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable}: {problem}")


class PersistenceError(TradeflowError):
    """A checkpointer could not be opened or its tables could not be set up."""


class PriceTableError(TradeflowError):
    """The price table file is invalid, or a model the router must price is not in it."""
