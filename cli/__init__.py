"""The ``tradeflow`` command line: serve the graphs, run one in-process, list them."""
