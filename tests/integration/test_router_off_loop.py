"""The router never blocks its event loop on first use, and a routed call ends before its cancelled caller does.

Real langchain-openai client against the LLM server double.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

import router.engine
from router import tokens
from router.chat_model import RoutedChatModel
from router.config import parse_config
from router.engine import Router
from router.request import RouteRequest
from tests.doubles.llm_server import Behaviour, LLMServerDouble
from tests.integration.test_router_faults import PRICES, PRIMARY, _table
from tests.support.prices import price_table

OPENAI_MODEL = "gpt-4o-mini"  # an OpenAI model: its tokenizer (o200k_base) is loaded on first use


async def test_the_first_client_build_and_tokenizer_load_run_off_the_event_loop(
    llm_double: LLMServerDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: the first call to a backend built its client on the event loop (importing langchain-openai and
    openai: seconds on a cold process) and loaded its tokenizer there, stalling every other run on that loop."""
    threads: dict[str, int] = {}
    build, load = router.engine.build_client, tokens._load

    def recording_build(*args: Any) -> Any:
        threads["build"] = threading.get_ident()
        return build(*args)

    def recording_load(name: str) -> Any:
        threads["tokenizer"] = threading.get_ident()
        return load(name)

    monkeypatch.setattr(router.engine, "build_client", recording_build)
    monkeypatch.setattr(tokens, "_load", recording_load)
    monkeypatch.setattr(tokens, "_loaded", {})
    table = _table(llm_double)
    table["backends"] = [{**table["backends"][0], "model": OPENAI_MODEL}]
    routed = Router(parse_config(table, "test"), env={}, prices=price_table({OPENAI_MODEL: 0.1}))
    _, record = await routed.execute([HumanMessage("hello")], RouteRequest(prompt_tokens=20, max_tokens=256))
    assert record.outcome == "success"
    loop_thread = threading.get_ident()
    assert set(threads) == {"build", "tokenizer"}
    assert loop_thread not in threads.values()


async def test_a_cancelled_streamed_call_ends_before_its_caller_does(llm_double: LLMServerDouble) -> None:
    """RoutedChatModel awaits its inner call's task when its caller goes away (it used to cancel it and leave it:
    an error it raised then was never retrieved). No call of the cancelled caller is left running."""
    routed = Router(parse_config(_table(llm_double), "test"), env={}, prices=PRICES)
    model = RoutedChatModel(router=routed, workflow="cancelled")
    llm_double.set_behaviour(PRIMARY, Behaviour(fault="hang"))

    async def consume() -> None:
        async for _ in model.astream_events([HumanMessage("stream")], version="v2"):
            pass

    task = asyncio.create_task(consume())
    while not llm_double.requests_for(PRIMARY):
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    pending = [t for t in asyncio.all_tasks() if t.get_name().startswith("routed-call-") and not t.done()]
    assert pending == []
