"""Prompts of the trade-break triage workflow."""

CLASSIFY_SYSTEM = (
    "You are a settlements operations analyst. Classify the settlement break you are given into one "
    "category, state its most likely root cause in one sentence, and give your confidence from 0 to 1."
)

PROPOSE_SYSTEM = (
    "You are a settlements operations analyst. Propose one concrete resolution for the classified "
    "settlement break: the action, who must act, and why it resolves the break."
)

BREAK = "Settlement break:\n{break_json}"

CLASSIFIED = "Settlement break:\n{break_json}\nClassification:\n{assessment_json}"

APPROVAL_INSTRUCTIONS = 'Resume with {"approved": true or false, "approver": "<name>", "comment": "<optional>"}.'
