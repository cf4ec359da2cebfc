"""Overhead of a LangGraphRunOperator task over a direct langgraph-sdk call for the same run.

Run: ``make bench`` (or ``cd airflow_bridge && .venv/bin/python benchmarks/airflow_operator.py``).

The run is the ``heartbeat`` graph (no model call), so the figures are the bridge's and Airflow's own cost.
Three clients, each in its own process, each asked for one round at a time, rounds interleaved:

* ``sdk``: ``threads.create`` + ``runs.wait`` with one reused client (what a script would do): the baseline;
* ``sdk_create_join``: the requests the operator makes (``threads.create``, ``runs.create``, ``runs.join``,
  ``runs.get``), with one reused client, to separate the call pattern from Airflow's own cost;
* ``operator_sync``: a DAG of ``--tasks`` LangGraphRunOperator tasks run by ``dag.test()``;
* ``operator_deferrable``: the same with ``deferrable=True`` (the trigger runs in-process under dag.test).

A task's time is Airflow's own ``task_instance`` start → end (templating, the run, XCom push, state
update), which for a deferred task spans the deferral. Medians per round, then the median of rounds.
Prints ``name value unit`` lines and each operator's ratio to the ``sdk`` baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BRIDGE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BRIDGE))

CLIENTS = ("sdk", "sdk_create_join", "operator_sync", "operator_deferrable")

DAG_FILE = """
# airflow benchmark DAG
from airflow.sdk import DAG
from tradeflow_airflow.operators.run import LangGraphRunOperator

with DAG("{dag_id}", schedule=None) as dag:
    for i in range({tasks}):
        LangGraphRunOperator(
            task_id=f"t{{i}}", graph_id="heartbeat", input={{"message": "bench"}}, deferrable={deferrable}
        )
"""


def worker(client: str, url: str, tasks: int) -> None:
    """One client's process: for each line on stdin, run one round and print its per-call seconds."""
    if client.startswith("sdk"):
        from langgraph_sdk import get_sync_client

        with get_sync_client(url=url, api_key=None) as sdk:
            for _ in sys.stdin:
                times = []
                for _ in range(tasks):
                    started = time.perf_counter()
                    thread = sdk.threads.create()
                    if client == "sdk":
                        sdk.runs.wait(thread["thread_id"], "heartbeat", input={"message": "bench"})
                    else:
                        run = sdk.runs.create(thread["thread_id"], "heartbeat", input={"message": "bench"})
                        sdk.runs.join(thread["thread_id"], run["run_id"])
                        sdk.runs.get(thread["thread_id"], run["run_id"])
                    times.append(time.perf_counter() - started)
                print(json.dumps(times), flush=True)
        return
    import importlib.util

    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    dags = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    dag_id = f"bench_{client}"
    path = dags / f"{dag_id}.py"
    path.write_text(DAG_FILE.format(dag_id=dag_id, tasks=tasks, deferrable=client == "operator_deferrable"))
    spec = importlib.util.spec_from_file_location(dag_id, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for _ in sys.stdin:
        run = module.dag.test()
        with create_session() as session:
            tis = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
            times = [(ti.end_date - ti.start_date).total_seconds() for ti in tis if ti.state == "success"]
        if len(times) != tasks:
            raise SystemExit(f"{client}: {tasks - len(times)} task(s) did not succeed")
        print(json.dumps(times), flush=True)


def main() -> None:
    """Start the server and Airflow, run the interleaved rounds, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tasks", type=int, default=10, help="calls (tasks) per round")
    parser.add_argument("--worker", choices=CLIENTS)
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.url, args.tasks)
        return

    from tests.support.airflow import configure, migrate
    from tests.support.servers import LLMDouble, TradeflowServer

    home = Path(tempfile.mkdtemp(prefix="tradeflow-airflow-bench-"))
    env_overrides = configure(home)
    double = LLMDouble(home)
    (home / "server").mkdir()
    server = TradeflowServer(home / "server", double.model_env())
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        migrate()
        env = {
            **os.environ,
            **env_overrides,
            "AIRFLOW_CONN_LANGGRAPH_DEFAULT": json.dumps({"conn_type": "langgraph", "host": server.url}),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
        for client in CLIENTS:
            procs[client] = subprocess.Popen(
                [sys.executable, __file__, "--worker", client, "--url", server.url, "--tasks", str(args.tasks)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=env,
            )
        medians: dict[str, list[float]] = {client: [] for client in CLIENTS}
        for round_no in range(args.rounds + 1):  # round 0 warms up (Airflow's first task starts its task API)
            for client in CLIENTS:
                proc = procs[client]
                assert proc.stdin is not None
                assert proc.stdout is not None
                proc.stdin.write("round\n")
                proc.stdin.flush()
                line = proc.stdout.readline()
                if not line:
                    raise SystemExit(f"{client} worker exited with {proc.wait()}")
                if round_no:
                    medians[client].append(statistics.median(json.loads(line)))
        report(medians, args.rounds * args.tasks)
    finally:
        for proc in procs.values():
            if proc.stdin:
                proc.stdin.close()
            proc.wait(timeout=60)
        server.stop()
        double.stop()
        shutil.rmtree(home, ignore_errors=True)


def report(medians: dict[str, list[float]], calls: int) -> None:
    """``name value unit`` lines: per-client median (ms), overhead over the baseline, ratio."""
    figures: dict[str, Any] = {client: statistics.median(values) for client, values in medians.items()}
    print(f"calls_per_client {calls} count")
    for client in CLIENTS:
        print(f"{client}_task_start_to_result_median {figures[client] * 1000:.1f} ms")
    base = figures["sdk"]
    print(f"sdk_create_join_ratio_to_sdk {figures['sdk_create_join'] / base:.2f} x")
    for client in CLIENTS[2:]:
        print(f"{client}_overhead_over_sdk {(figures[client] - base) * 1000:.1f} ms")
        print(f"{client}_ratio_to_sdk {figures[client] / base:.2f} x")


if __name__ == "__main__":
    main()
