"""langgraph-sdk clients for the tests, closed when the session ends.

Each client holds an HTTP connection pool; one dropped without ``aclose()`` leaves its sockets to the garbage
collector, which warns (``ResourceWarning``), and the suite turns warnings into errors. Tests import
``get_client`` from here; ``tests/conftest.py`` closes every client it made at the end of the session.
"""

from __future__ import annotations

from typing import Any

import langgraph_sdk
from langgraph_sdk.client import LangGraphClient

_opened: list[LangGraphClient] = []


def get_client(**kwargs: Any) -> LangGraphClient:
    """``langgraph_sdk.get_client(**kwargs)``, kept until :func:`close_all`."""
    client = langgraph_sdk.get_client(**kwargs)
    _opened.append(client)
    return client


async def close_all() -> None:
    """Close every client :func:`get_client` made."""
    while _opened:
        await _opened.pop().aclose()
