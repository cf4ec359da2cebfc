"""Errors raised by analytics.

Hierarchy::

    TradeflowError (core.errors)
    └── AnalyticsError             base for everything in ``analytics``
        ├── StoreUnavailableError  the database cannot be reached (rows wait, then spill)
        ├── ReportQueryError       a report request names an unknown column, period or format
        └── PriceTableError        the price table file is invalid (names entry and field)
"""

from __future__ import annotations

from core.errors import TradeflowError


class AnalyticsError(TradeflowError):
    """Base class of errors raised in ``analytics``."""


class StoreUnavailableError(AnalyticsError):
    """The analytics database cannot be reached right now."""


class ReportQueryError(AnalyticsError):
    """A report request that cannot be answered as asked."""


class PriceTableError(AnalyticsError):
    """The price table is invalid."""
