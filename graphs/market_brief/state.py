"""State of the market-brief workflow: a snapshot in, figures computed in code and a written brief out."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, NotRequired

from pydantic import AfterValidator, ConfigDict, Field, with_config
from typing_extensions import TypedDict

_STRICT = ConfigDict(extra="forbid", use_attribute_docstrings=True)


def _iso_date_or_time(value: str) -> str:
    try:
        (date if len(value) == 10 else datetime).fromisoformat(value)
    except ValueError:
        raise ValueError(f"expected an ISO date or timestamp such as 2026-11-24, got {value!r}") from None
    return value


IsoDate = Annotated[str, AfterValidator(_iso_date_or_time)]
"""A date ('2026-11-24') or an ISO 8601 timestamp, kept as the text the caller sent."""


@with_config(_STRICT)
class Position(TypedDict):
    """One holding in the snapshot."""

    book: str
    """Trading book that owns the position, e.g. 'RATES-EU'."""
    symbol: str
    """Instrument identifier (ticker, ISIN or contract code)."""
    quantity: float
    """Signed quantity held: negative for a short position."""
    price: float
    """Latest price, in the snapshot currency."""
    prev_close: float
    """Previous close price, in the snapshot currency."""


@with_config(_STRICT)
class BookLimit(TypedDict):
    """A gross exposure limit for one book."""

    book: str
    """Book the limit applies to."""
    gross_limit: float
    """Maximum gross exposure (sum of |quantity x price|), in the snapshot currency."""


@with_config(_STRICT)
class MarketBriefInput(TypedDict):
    """What a caller sends: a market snapshot."""

    as_of: IsoDate
    """Snapshot date or timestamp, e.g. '2026-11-24'."""
    positions: Annotated[list[Position], Field(min_length=1)]
    """Every position to cover in the brief (at least one)."""
    limits: NotRequired[list[BookLimit]]
    """Optional gross exposure limits per book."""
    currency: NotRequired[str]
    """Currency of prices and figures; defaults to USD."""


class BookFigures(TypedDict):
    """Figures for one book."""

    book: str
    """Book name."""
    pnl: float
    """Day P&L: sum of quantity x (price - prev_close)."""
    gross_exposure: float
    """Sum of |quantity x price|."""
    gross_limit: float | None
    """The book's gross limit, when one was given."""
    utilisation: float | None
    """gross_exposure / gross_limit, when a limit was given."""


class Mover(TypedDict):
    """An instrument with a large day move."""

    symbol: str
    """Instrument identifier."""
    move_pct: float
    """Day move in percent: (price / prev_close - 1) x 100."""
    pnl: float
    """Day P&L across all books for this instrument."""


class MarketFigures(TypedDict):
    """Everything computed in code, before any model is asked."""

    currency: str
    """Currency of the figures."""
    total_pnl: float
    """Day P&L across all books."""
    books: list[BookFigures]
    """Per-book figures, sorted by book."""
    top_movers: list[Mover]
    """Largest absolute day moves, biggest first."""
    limit_warnings: list[str]
    """Books at or above the warning utilisation."""
