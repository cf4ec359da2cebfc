"""Added latency of RoutedChatModel and of the router subgraph over a direct ChatOpenAI call, vs LiteLLM.

All clients call the same LLM server double, which runs in its own process. Each client runs in its own
worker process, interleaved with a direct ``ChatOpenAI.ainvoke`` baseline measured in that same process,
so every "added" figure is client minus baseline under the same conditions, in the same run.
Prints ``name value unit`` lines. LiteLLM is measured when installed (``make bench`` installs it).

    .venv/bin/python benchmarks/router_overhead.py [--calls 300]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PROMPT = "Summarise the settlement break in one sentence."


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _measure(client: Callable[[], Awaitable[object]], baseline: Callable[[], Awaitable[object]], calls: int
                   ) -> dict[str, list[float]]:  # fmt: skip
    for _ in range(20):
        await client()
        await baseline()
    times: dict[str, list[float]] = {"client": [], "baseline": []}
    for i in range(calls):
        order = (("client", client), ("baseline", baseline)) if i % 2 else (("baseline", baseline), ("client", client))
        for name, call in order:
            started = time.perf_counter()
            await call()
            times[name].append(time.perf_counter() - started)
    return times


def _chat_openai(base_url: str):  # type: ignore[no-untyped-def]
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    return ChatOpenAI(model="test-model", api_key=SecretStr("k"), base_url=base_url, max_retries=0)


async def _worker(kind: str, base_url: str, calls: int) -> dict[str, list[float]]:
    from langchain_core.messages import HumanMessage

    direct = _chat_openai(base_url)
    messages = [HumanMessage(PROMPT)]

    async def baseline() -> object:
        return await direct.ainvoke(messages)

    if kind == "litellm":
        os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        from litellm import Router as LiteLLMRouter

        lite = LiteLLMRouter(model_list=[{"model_name": "desk", "litellm_params": {
            "model": "openai/test-model", "api_base": base_url, "api_key": "k"}}], num_retries=0)  # fmt: skip
        payload = [{"role": "user", "content": PROMPT}]

        async def client() -> object:
            return await lite.acompletion(model="desk", messages=payload)

        return await _measure(client, baseline, calls)
    table = Path(tempfile.mkdtemp()) / "table.yaml"
    backend = {
        "name": "double", "kind": "openai_compatible", "model": "test-model", "base_url": base_url,
        "context_window": 32000, "max_output_tokens": 2048, "prices": {"input_per_1m": 1, "output_per_1m": 1},
    }  # fmt: skip
    table.write_text(json.dumps({"backends": [backend]}))
    os.environ["TRADEFLOW_ROUTER_CONFIG"] = str(table)
    from router.chat_model import RoutedChatModel
    from router.runtime import process_router

    if kind == "routed":
        routed = RoutedChatModel(router=process_router(), workflow="bench")

        async def client() -> object:
            return await routed.ainvoke(messages)

        return await _measure(client, baseline, calls)
    from router.subgraph import graph

    async def client() -> object:
        return await graph.ainvoke({"prompt": PROMPT})

    return await _measure(client, baseline, calls)


def _report(name: str, times: dict[str, list[float]]) -> dict[str, float]:
    figures = {}
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        client, base = _percentile(times["client"], q), _percentile(times["baseline"], q)
        figures[label] = (client - base) * 1000
        print(f"{name}_call_{label} {client * 1000:.3f} ms")
        print(f"{name}_baseline_chatopenai_{label} {base * 1000:.3f} ms")
        print(f"{name}_added_{label} {figures[label]:.3f} ms")
    print(f"{name}_added_mean {(statistics.mean(times['client']) - statistics.mean(times['baseline'])) * 1000:.3f} ms")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--worker", choices=["routed", "subgraph", "litellm"], help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(asyncio.run(_worker(args.worker, args.base_url, args.calls))))
        return
    port = _free_port()
    double = subprocess.Popen([sys.executable, "-m", "tests.doubles.llm_server", "--port", str(port)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert double.stdout is not None
        double.stdout.readline()  # "listening on ..."
        base_url = f"http://127.0.0.1:{port}/v1"
        results = {}
        for kind in ("routed", "subgraph", "litellm"):
            if kind == "litellm" and importlib.util.find_spec("litellm") is None:
                print("litellm_router_added_p50 nan ms  # litellm not installed: make bench installs it")
                continue
            proc = subprocess.run([sys.executable, __file__, "--worker", kind, "--base-url", base_url, "--calls",
                                   str(args.calls)], capture_output=True, text=True, cwd=REPO, check=True)  # fmt: skip
            label = {"routed": "routed_chat_model", "subgraph": "router_subgraph", "litellm": "litellm_router"}[kind]
            results[kind] = _report(label, json.loads(proc.stdout.splitlines()[-1]))
        if "litellm" in results:
            for label in ("p50", "p99"):
                ratio = results["litellm"][label] / max(results["routed"][label], 1e-6)
                print(f"litellm_added_over_routed_chat_model_added_{label} {ratio:.1f} x")
    finally:
        double.terminate()
        double.wait(timeout=10)


if __name__ == "__main__":
    main()
