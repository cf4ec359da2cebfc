"""Who may do what: API keys (hashed, in tradeflow's database), roles, and the append-only approval audit."""
