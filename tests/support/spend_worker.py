"""Fire N concurrent routed calls through this process's router; print how many were answered and refused.

    python -m tests.support.spend_worker N WORKFLOW

Settings come from the environment (the test points them at the LLM double, a budget table and a database).
"""

from __future__ import annotations

import asyncio
import json
import sys

from langchain_core.messages import HumanMessage

from router.chat_model import RoutedChatModel
from router.errors import BudgetExceededError
from router.runtime import process_router


async def main(calls: int, workflow: str) -> dict[str, int]:
    chat = RoutedChatModel(router=process_router(), workflow=workflow)

    async def one(i: int) -> str:
        try:
            await chat.ainvoke([HumanMessage(f"call {i} of {workflow}")])
        except BudgetExceededError:
            return "refused"
        return "answered"

    outcomes = await asyncio.gather(*(one(i) for i in range(calls)))
    return {"answered": outcomes.count("answered"), "refused": outcomes.count("refused")}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(int(sys.argv[1]), sys.argv[2]))))
