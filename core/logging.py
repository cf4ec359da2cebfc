"""Logging set-up for entry points (CLI, server hooks); library modules only call getLogger."""

from __future__ import annotations

import logging
import sys

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """Send tradeflow's loggers to stderr at ``level``; idempotent."""
    root = logging.getLogger()
    if not any(getattr(h, "_tradeflow", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler._tradeflow = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    for name in ("core", "graphs", "router", "versioning", "analytics", "cli"):
        logging.getLogger(name).setLevel(level)
