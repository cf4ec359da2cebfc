"""State of the trade-break triage workflow."""

from __future__ import annotations

from typing import Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, with_config
from typing_extensions import TypedDict

_STRICT = ConfigDict(extra="forbid", use_attribute_docstrings=True)

BreakCategory = Literal[
    "price_mismatch",
    "quantity_mismatch",
    "settlement_date_mismatch",
    "ssi_mismatch",
    "missing_trade",
    "duplicate_booking",
    "other",
]
Decision = Literal["approved", "rejected", "auto_approved"]


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


class Assessment(BaseModel):
    """The model's classification of a break."""

    model_config = ConfigDict(extra="forbid")

    category: BreakCategory = Field(description="The kind of break.")
    root_cause: str = Field(description="One sentence on the most likely cause.")
    confidence: float = Field(description="Confidence in the classification, 0 to 1.")


class Proposal(BaseModel):
    """The model's proposed resolution of a break."""

    model_config = ConfigDict(extra="forbid")

    action: str = Field(description="The resolution to carry out, in one sentence.")
    owner: Literal["operations", "front_office", "counterparty", "custodian"] = Field(description="Who has to act.")
    rationale: str = Field(description="Why this resolves the break.")


class ApprovalRequest(TypedDict):
    """What the workflow shows the approver when it pauses."""

    break_id: str
    """The break awaiting approval."""
    notional: float
    """Its notional."""
    currency: str
    """Currency of the notional."""
    threshold: float
    """The approval threshold it exceeded."""
    category: str
    """The model's classification."""
    proposed_action: str
    """The resolution awaiting approval."""
    instructions: str
    """How to answer: resume with {"approved": true|false, "approver": "name", "comment": "..."}."""
    problem: NotRequired[str]
    """What was wrong with the previous answer, when it could not be used."""


class TriageState(TypedDict):
    """Internal state of the trade-break triage workflow."""

    trade_break: TradeBreak
    """The break being triaged."""
    assessment: NotRequired[dict[str, object]]
    """The model's classification (category, root_cause, confidence)."""
    proposal: NotRequired[dict[str, object]]
    """The model's proposed resolution (action, owner, rationale)."""
    requires_approval: NotRequired[bool]
    """True when the notional is above the approval threshold."""
    decision: NotRequired[Decision]
    """approved, rejected or auto_approved."""
    approver: NotRequired[str]
    """Who decided; 'system' for auto-approval."""
    approval_comment: NotRequired[str]
    """The approver's comment, if any."""
    status: NotRequired[Literal["resolution_approved", "resolution_rejected"]]
    """Outcome of the triage."""
