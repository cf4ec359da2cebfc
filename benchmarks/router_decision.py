"""Decision overhead: ranking a request over 3 and 100 backends (no I/O), vs LiteLLM's deployment pick.

Baseline: LiteLLM ``Router.get_available_deployment`` over the same number of deployments, measured in the
same run when litellm is installed (``make bench`` installs it). Prints ``name value unit`` lines.

    .venv/bin/python benchmarks/router_decision.py [--iterations 20000]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from router.config import BackendConfig, Weights
from router.policy import BackendTable, rank, weights_for
from router.request import RouteRequest


def _table(n: int, rng: random.Random) -> list[BackendConfig]:
    return [
        BackendConfig.model_validate(
            {
                "name": f"backend-{i:03d}",
                "kind": "openai_compatible",
                "model": f"model-{i}",
                "base_url": "http://127.0.0.1:9/v1",
                "context_window": rng.choice([8192, 32768, 128000]),
                "max_output_tokens": 4096,
                "capabilities": rng.sample(["json", "tools", "long-context"], 2),
                "quality_tier": rng.randint(1, 5),
                "prices": {"input_per_1m": rng.uniform(0, 5), "output_per_1m": rng.uniform(0, 15)},
                "latency_prior": {"ttft_s": rng.uniform(0.1, 1.5), "tokens_per_s": rng.uniform(20, 120)},
            }
        )
        for i in range(n)
    ]


def _percentiles(call: Callable[[], object], iterations: int) -> tuple[float, float]:
    for _ in range(min(1000, iterations)):
        call()
    samples = []
    for _ in range(iterations):
        started = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - started)
    samples.sort()
    return statistics.median(samples) / 1000, samples[int(0.99 * (len(samples) - 1))] / 1000


def _litellm_select(n: int, strategy: str) -> Callable[[], object] | None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        from litellm import Router as LiteLLMRouter
    except ImportError:
        return None
    model_list = [
        {"model_name": "desk-model", "litellm_params": {"model": f"openai/model-{i}", "api_base": "http://127.0.0.1:9/v1",
                                                        "api_key": "unused"}}
        for i in range(n)
    ]  # fmt: skip
    router = LiteLLMRouter(model_list=model_list, routing_strategy=strategy)
    messages = [{"role": "user", "content": "explain the settlement break"}]
    return lambda: router.get_available_deployment(model="desk-model", messages=messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20000)
    args = parser.parse_args()
    rng = random.Random(7)
    request = RouteRequest(prompt_tokens=1200, max_tokens=512, required_capabilities=frozenset({"json"}))
    for n in (3, 100):
        table = BackendTable(_table(n, rng))
        for strategy in ("cost", "balanced"):
            weights = weights_for(strategy, Weights())  # type: ignore[arg-type]
            p50, p99 = _percentiles(lambda t=table, w=weights: rank(request, t, w, 0.0).order, args.iterations)
            print(f"tradeflow_rank_{strategy}_{n}_backends_p50 {p50:.1f} us")
            print(f"tradeflow_rank_{strategy}_{n}_backends_p99 {p99:.1f} us")
        ours, _ = _percentiles(lambda t=table: rank(request, t, weights_for("balanced", Weights()), 0.0).order, 5000)
        for litellm_strategy in ("simple-shuffle", "latency-based-routing"):
            label = litellm_strategy.replace("-", "_")
            select = _litellm_select(n, litellm_strategy)
            if select is None:
                print(f"litellm_{label}_{n}_backends_p50 nan us  # litellm not installed: make bench installs it")
                continue
            lp50, lp99 = _percentiles(select, max(args.iterations // 10, 500))
            print(f"litellm_{label}_{n}_backends_p50 {lp50:.1f} us")
            print(f"litellm_{label}_{n}_backends_p99 {lp99:.1f} us")
            print(f"litellm_{label}_over_tradeflow_balanced_{n}_backends_p50 {lp50 / ours:.1f} x")


if __name__ == "__main__":
    main()
