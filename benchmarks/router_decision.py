"""Decision cost: ranking alone, and the whole decision a routed call makes, at 3 and 100 backends, vs LiteLLM.

* ``tradeflow_rank_*``: ``rank(...).order`` only (the scoring function).
* ``tradeflow_decision_*``: ``Router.plan`` — what every routed call runs before its first attempt: the ranking,
  the budget hint, the price check, the queue and the opened decision record (its candidate list and exclusion
  reasons are written out only when read).
* ``tradeflow_decision_record_dump_*``: reading the whole record (candidates and reasons) and dumping it to JSON,
  what a call pays when analytics or the decision log reads it.
* LiteLLM: ``await Router.select(model, request_kwargs, messages=...)``, the async pick ``acompletion`` takes
  (in litellm 1.110.2 ``async_get_available_deployment`` is a deprecated alias that forwards to it), with prices
  set on every deployment (measured when litellm is installed; ``make bench`` installs it).

Prints ``name value unit`` lines. Each figure is the median over interleaved rounds of that round's p50 / p99.

    .venv/bin/python benchmarks/router_decision.py [--rounds 5] [--iterations 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.prices import PriceTable
from router.config import BackendConfig, RouterConfig, Weights
from router.engine import Router
from router.policy import rank, weights_for
from router.request import RouteRequest


def _backends(n: int, rng: random.Random) -> tuple[list[BackendConfig], PriceTable]:
    configs, prices = [], []
    for i in range(n):
        configs.append(BackendConfig.model_validate({
            "name": f"backend-{i:03d}", "kind": "openai_compatible", "model": f"model-{i}",
            "base_url": "http://127.0.0.1:9/v1", "context_window": rng.choice([8192, 32768, 128000]),
            "max_output_tokens": 4096, "capabilities": rng.sample(["json", "tools", "long-context"], 2),
            "quality_tier": rng.randint(1, 5),
            "latency_prior": {"ttft_s": rng.uniform(0.1, 1.5), "tokens_per_s": rng.uniform(20, 120)},
        }))  # fmt: skip
        prices.append({"pattern": f"model-{i}", "valid_from": "2024-01-01", "input_per_1m": rng.uniform(0, 5),
                       "output_per_1m": rng.uniform(0, 15)})  # fmt: skip
    return configs, PriceTable.from_data({"version": "bench", "prices": prices})


def _samples(call: Callable[[], object], iterations: int) -> list[float]:
    samples = []
    for _ in range(iterations):
        started = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - started) / 1000)
    return samples


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[int(q * (len(ordered) - 1))]


def _litellm(n: int, strategy: str) -> Callable[[], Any] | None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_LOG", "ERROR")
    try:
        from litellm import Router as LiteLLMRouter
    except ImportError:
        return None
    model_list = [
        {"model_name": "desk-model", "litellm_params": {
            "model": f"openai/model-{i}", "api_base": "http://127.0.0.1:9/v1", "api_key": "unused",
            "input_cost_per_token": 1e-6 * (1 + i % 5), "output_cost_per_token": 3e-6 * (1 + i % 5)}}
        for i in range(n)
    ]  # fmt: skip
    router = LiteLLMRouter(model_list=model_list, routing_strategy=strategy)
    messages = [{"role": "user", "content": "explain the settlement break"}]
    return lambda: router.select("desk-model", {}, messages=messages)


def _async_samples(make: Callable[[], Any], iterations: int) -> list[float]:
    async def run() -> list[float]:
        samples = []
        for _ in range(iterations):
            started = time.perf_counter_ns()
            await make()
            samples.append((time.perf_counter_ns() - started) / 1000)
        return samples

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=4000)
    args = parser.parse_args()
    rng = random.Random(7)
    request = RouteRequest(prompt_tokens=1200, max_tokens=512, required_capabilities=frozenset({"json"}))
    weights = weights_for("balanced", Weights())
    subjects: dict[str, tuple[Callable[[], object] | Callable[[], Any], bool]] = {}
    for n in (3, 100):
        configs, prices = _backends(n, rng)
        router = Router(RouterConfig(backends=tuple(configs)), env={}, prices=prices)

        def dump(r: Router = router) -> object:
            _, record = r.plan(request)
            return record.model_dump_json()

        ranked = lambda t=router.table: rank(request, t, weights, 0.0).order  # noqa: E731
        subjects[f"tradeflow_rank_balanced_{n}_backends"] = (ranked, False)
        subjects[f"tradeflow_decision_balanced_{n}_backends"] = (lambda r=router: r.plan(request), False)
        subjects[f"tradeflow_decision_record_dump_{n}_backends"] = (dump, False)
        for strategy in ("simple-shuffle", "latency-based-routing"):
            lite = _litellm(n, strategy)
            label = f"litellm_select_{strategy.replace('-', '_')}_{n}_backends"
            if lite is None:
                print(f"{label}_p50 nan us  # litellm not installed: make bench installs it")
                continue
            subjects[label] = (lite, True)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in subjects}
    for _ in range(args.rounds):
        for name, (call, is_async) in subjects.items():
            iterations = args.iterations // 4 if name.startswith("litellm") else args.iterations
            samples = _async_samples(call, iterations) if is_async else _samples(call, iterations)
            warm = samples[len(samples) // 10 :]
            results[name].append((_p(warm, 0.5), _p(warm, 0.99)))
    medians = {name: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs))
               for name, rs in results.items()}  # fmt: skip
    for name, (p50, p99) in medians.items():
        print(f"{name}_p50 {p50:.1f} us")
        print(f"{name}_p99 {p99:.1f} us")
    for n in (3, 100):
        ours = medians[f"tradeflow_decision_balanced_{n}_backends"][0]
        for strategy in ("simple_shuffle", "latency_based_routing"):
            key = f"litellm_select_{strategy}_{n}_backends"
            if key in medians:
                print(f"{key}_over_tradeflow_decision_p50 {medians[key][0] / ours:.1f} x")


if __name__ == "__main__":
    main()
