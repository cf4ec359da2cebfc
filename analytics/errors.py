"""Errors raised by analytics.

Hierarchy::

    TradeflowError (core.errors)
    └── AnalyticsError             base for everything in ``analytics``
        ├── StoreUnavailableError  the database cannot be reached (rows wait, then spill)
        ├── RowsRejectedError      the database refused the rows themselves (they are isolated, quarantined)
        └── ReportQueryError       a report request names an unknown column, period or format

The price table's error is core's :class:`~core.errors.PriceTableError` (the table is shared with the router).
"""

from __future__ import annotations

from core.errors import TradeflowError


class AnalyticsError(TradeflowError):
    """Base class of errors raised in ``analytics``."""


class StoreUnavailableError(AnalyticsError):
    """The analytics database cannot be reached right now."""


class RowsRejectedError(AnalyticsError):
    """The database refused the rows themselves (a constraint, a value it cannot store): retrying won't help."""


class ReportQueryError(AnalyticsError):
    """A report request that cannot be answered as asked."""
