"""Base error for tradeflow's ground floor.

Hierarchy::

    TradeflowError                 every error tradeflow raises on purpose
    ├── SettingsError              a bad or missing environment variable (names it)
    └── PersistenceError           a checkpointer could not be opened or set up

Each package (``graphs``, ``router``, ...) derives its own base from ``TradeflowError``.
"""

from __future__ import annotations


class TradeflowError(Exception):
    """Base class of every error tradeflow raises on purpose."""


class SettingsError(TradeflowError):
    """A setting read from the environment or ``.env`` is invalid."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable}: {problem}")


class PersistenceError(TradeflowError):
    """A checkpointer could not be opened or its tables could not be set up."""
