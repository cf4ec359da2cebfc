"""The router closes its backends' connections: when their event loop ends, and when the router is retired.

langchain-openai and langchain-ollama keep one process-wide async HTTP client each; its connections outlived
the loop that opened them (a ResourceWarning for every unclosed socket, seen once the suite stopped ignoring
them). Real clients against the LLM server double; the sockets are read from ``/proc`` (Linux).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from router.config import parse_config
from router.engine import Router
from router.request import RouteRequest
from tests.doubles.llm_server import LLMServerDouble
from tests.integration.test_router_faults import PRICES, _table

ESTABLISHED = "01"


def connections_to(port: int) -> set[int]:
    """This process's established TCP connections to ``port`` on 127.0.0.1 (socket inodes)."""
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            mine.add(int(target[8:-1]))
    found = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port, state, inode = int(fields[2].rsplit(":", 1)[1], 16), fields[3], int(fields[9])
            if remote_port == port and state == ESTABLISHED and inode in mine:
                found.add(inode)
    return found


async def routed_call(router: Router) -> None:
    _, record = await router.execute([HumanMessage("hello")], RouteRequest(prompt_tokens=20, max_tokens=64))
    assert record.outcome == "success"


@pytest.mark.parametrize("kind", ["openai", "ollama"])
def test_each_loops_connections_close_when_the_loop_ends(llm_double: LLMServerDouble, kind: str) -> None:
    router = Router(parse_config(_table(llm_double, kind), "test"), env={}, prices=PRICES)
    before = connections_to(llm_double.port)
    opened: list[set[int]] = []

    async def call() -> None:
        await routed_call(router)
        opened.append(connections_to(llm_double.port) - before)

    for _ in range(2):  # a second loop gets clients of its own (the first loop's are closed, not reused)
        asyncio.run(call())
        assert opened[-1], "the call's connection was not seen while its loop ran"
        assert not (connections_to(llm_double.port) - before), "a connection outlived its event loop"
    assert not opened[0] & opened[1]


async def test_a_retired_router_closes_its_connections_on_the_running_loop(llm_double: LLMServerDouble) -> None:
    before = connections_to(llm_double.port)
    router = Router(parse_config(_table(llm_double), "test"), env={}, prices=PRICES)
    await routed_call(router)
    assert connections_to(llm_double.port) - before
    router.close()  # what a settings reset does to the process's router
    for _ in range(100):
        if not connections_to(llm_double.port) - before:
            break
        await asyncio.sleep(0.01)
    assert not (connections_to(llm_double.port) - before)
    await routed_call(router)  # a retired router still answers: it opens new connections


async def test_a_router_nobody_holds_closes_its_connections(llm_double: LLMServerDouble) -> None:
    before = connections_to(llm_double.port)
    router = Router(parse_config(_table(llm_double), "test"), env={}, prices=PRICES)
    await routed_call(router)
    del router
    gc.collect()
    for _ in range(100):
        if not connections_to(llm_double.port) - before:
            break
        await asyncio.sleep(0.01)
    assert not (connections_to(llm_double.port) - before)


EXITS_MID_LOOP = """
import asyncio, json, sys
from langchain_core.messages import HumanMessage
from router.config import parse_config
from router.engine import Router
from router.request import RouteRequest
from tests.integration.test_router_faults import PRICES
table = json.loads(sys.argv[1])
router = Router(parse_config(table, "test"), env={}, prices=PRICES)
loop = asyncio.new_event_loop()  # run, then exit without closing the loop: its tasks are never cancelled
_, record = loop.run_until_complete(
    router.execute([HumanMessage("hello")], RouteRequest(prompt_tokens=20, max_tokens=64)))
print(record.outcome)
"""


def test_a_process_that_exits_without_closing_its_loop_ends_cleanly(llm_double: LLMServerDouble) -> None:
    """The closer of a loop that is dropped, not closed (the process exits mid-loop), tries no close without a
    loop: no traceback at exit (it used to log 'closing a backend client's connections failed')."""
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", EXITS_MID_LOOP, json.dumps(_table(llm_double))], cwd=repo,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "success"
    assert "Traceback" not in done.stderr, done.stderr
