"""The LangGraph graphs tradeflow serves, their model seam and the server hooks."""
