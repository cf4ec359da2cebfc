"""Types of the end-of-day reconciliation workflow's input and of what its tool steps compute."""

from __future__ import annotations

from typing import Literal, NotRequired

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

_STRICT = ConfigDict(extra="forbid", use_attribute_docstrings=True)

MismatchKind = Literal["quantity_break", "missing_at_custodian", "missing_in_books"]
LikelyCause = Literal["timing", "corporate_action", "booking_error", "custodian_error", "unknown"]


@with_config(_STRICT)
class Holding(TypedDict):
    """A position in one account, as one side records it."""

    account: str
    """Account or book identifier shared by both sides."""
    symbol: str
    """Instrument identifier."""
    quantity: float
    """Quantity held."""
    price: NotRequired[float]
    """Price used to value a mismatch; give it on the book side."""


@with_config(_STRICT)
class ReconciliationInput(TypedDict):
    """What a caller sends: both sides' end-of-day positions."""

    as_of: str
    """Business date being reconciled, e.g. '2026-11-24'."""
    book_positions: list[Holding]
    """Positions in our books."""
    custodian_positions: list[Holding]
    """Positions the custodian reports."""


class Mismatch(TypedDict):
    """A difference found in code between the books and the custodian."""

    account: str
    """Account of the mismatch."""
    symbol: str
    """Instrument of the mismatch."""
    kind: MismatchKind
    """quantity_break, missing_at_custodian or missing_in_books."""
    book_quantity: float
    """Quantity in our books (0 when missing)."""
    custodian_quantity: float
    """Quantity at the custodian (0 when missing)."""
    difference: float
    """book_quantity - custodian_quantity."""
    exposure: float
    """|difference| x price: the value at risk."""


class ExplainedMismatch(TypedDict):
    """A mismatch with its explanation and risk score."""

    mismatch: Mismatch
    """The mismatch found in code."""
    likely_cause: LikelyCause
    """The model's most likely cause."""
    explanation: str
    """The model's explanation."""
    suggested_action: str
    """What operations should do next."""
    risk_score: float
    """exposure x cause weight; higher is more urgent."""
