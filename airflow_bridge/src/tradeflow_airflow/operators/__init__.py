"""Operators: run a served graph or a versioned workflow; make one routed model call."""
