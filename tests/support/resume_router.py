"""Resume a paused llm_router run from a checkpoint in a fresh process; print its final state as JSON.

    python -m tests.support.resume_router sqlite PATH THREAD
    python -m tests.support.resume_router postgres URL THREAD

Run with LANGGRAPH_STRICT_MSGPACK=true: the checkpoint must hold plain data, no pickled classes.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any


async def main(kind: str, where: str, thread: str) -> dict[str, Any]:
    from router.subgraph import builder

    config: Any = {"configurable": {"thread_id": thread}}
    if kind == "sqlite":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async with AsyncSqliteSaver.from_conn_string(where) as saver:
            result: dict[str, Any] = await builder.compile(checkpointer=saver).ainvoke(None, config)
            return result
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    async with AsyncPostgresSaver.from_conn_string(where) as saver:
        result = await builder.compile(checkpointer=saver).ainvoke(None, config)
        return result


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:4])), default=str))
