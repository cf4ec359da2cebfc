"""Trade-break triage: classify a settlement break, propose a fix, ask a human above a threshold."""
