"""Market brief: figures from a market snapshot, and a brief a model writes from them."""
