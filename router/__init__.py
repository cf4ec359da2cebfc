"""Multi-LLM routing as a LangGraph subgraph (see the routing issue); the model seam lives in graphs.chat_models."""
