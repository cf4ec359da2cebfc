"""End-of-day reconciliation: books vs custodian, one explanation per mismatch, ranked by risk."""
