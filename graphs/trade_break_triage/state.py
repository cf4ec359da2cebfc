"""What a caller sends to the trade-break triage workflow (the rest of its state is declared in its spec)."""

from __future__ import annotations

from typing import NotRequired

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

_STRICT = ConfigDict(extra="forbid", use_attribute_docstrings=True)


@with_config(_STRICT)
class FieldDifference(TypedDict):
    """One field on which our record and the counterparty's disagree."""

    field: str
    """Field name, e.g. 'price' or 'settlement_date'."""
    ours: str
    """Our value, as text."""
    theirs: str
    """The counterparty's value, as text."""


@with_config(_STRICT)
class TradeBreak(TypedDict):
    """A settlement break as the matching system reports it."""

    break_id: str
    """Identifier of the break in the matching system."""
    trade_id: str
    """Our trade reference."""
    counterparty: str
    """Counterparty name or LEI."""
    instrument: str
    """Instrument identifier."""
    notional: float
    """Trade notional, in ``currency``."""
    currency: str
    """ISO currency code of the notional."""
    settlement_date: str
    """Intended settlement date, e.g. '2026-11-26'."""
    description: str
    """Free-text description from the matching system."""
    differences: NotRequired[list[FieldDifference]]
    """Fields that do not match."""


@with_config(_STRICT)
class TriageInput(TypedDict):
    """What a caller sends: one settlement break."""

    trade_break: TradeBreak
    """The break to triage."""
    fx_rates: NotRequired[dict[str, float]]
    """Units of the threshold currency per 1 unit of each currency, e.g. {"EUR": 1.08} for a USD threshold."""
