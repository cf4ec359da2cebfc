"""Prompts of the reconciliation workflow."""

EXPLAIN_SYSTEM = (
    "You are a middle-office reconciliation analyst. Explain the position mismatch between our books and "
    "the custodian for {as_of}: the most likely cause, a two-sentence explanation, and the next action."
)

MISMATCH = "Mismatch:\n{mismatch_json}"
