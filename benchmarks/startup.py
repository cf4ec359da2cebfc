"""Start-up time: ``import router.chat_model`` and ``tradeflow graphs`` in fresh processes.

Targets: ``import router.chat_model`` <= 0.8 s and ``tradeflow graphs`` <= 1.5 s. Baselines in the same rounds:
the bare interpreter (``python -c pass``) and ``from langchain_core.language_models import BaseChatModel`` (the
class RoutedChatModel subclasses: the floor of the first figure, LangChain's own import cost). Rounds interleave
the commands; a figure is the median of rounds.

    .venv/bin/python benchmarks/startup.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRADEFLOW = str(Path(sys.executable).parent / "tradeflow")
COMMANDS = {
    "python_bare": [sys.executable, "-c", "pass"],
    "import_langchain_basechatmodel": [
        sys.executable,
        "-c",
        "from langchain_core.language_models import BaseChatModel",
    ],
    "import_router_chat_model": [sys.executable, "-c", "import router.chat_model"],
    "tradeflow_graphs": [TRADEFLOW, "graphs"],
    # What the model stack loads once a backend of each kind is called (not at start-up any more).
    "import_openai_client_stack": [sys.executable, "-c", "import langchain_openai"],
}
TARGETS = {"import_router_chat_model": 0.8, "tradeflow_graphs": 1.5}
RATIOS = {
    "import_router_chat_model": "import_langchain_basechatmodel",
    "tradeflow_graphs": "python_bare",
    "import_langchain_basechatmodel": "python_bare",
}
"""Each figure's ratio to its named baseline from the same rounds."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for command in COMMANDS.values():  # warm the file cache once
        subprocess.run(command, cwd=REPO, check=True, capture_output=True)
    for _ in range(args.rounds):
        for name, command in COMMANDS.items():
            started = time.perf_counter()
            subprocess.run(command, cwd=REPO, check=True, capture_output=True)
            times[name].append(time.perf_counter() - started)
    for name, samples in times.items():
        median = statistics.median(samples)
        target = TARGETS.get(name)
        note = f"  # target <= {target} s: {'met' if median <= target else 'NOT met'}" if target else "  # baseline"
        print(f"startup_{name}_median {median:.3f} s{note}")
    medians = {name: statistics.median(samples) for name, samples in times.items()}
    for name, baseline in RATIOS.items():
        print(f"startup_{name}_over_{baseline} {medians[name] / medians[baseline]:.2f} x")


if __name__ == "__main__":
    main()
