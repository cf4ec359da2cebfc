"""Sensors: wait for a human approval on a tradeflow thread to be given and its run to finish."""
