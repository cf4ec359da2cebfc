"""/metrics on a real server, scraped by a real Prometheus that evaluates every dashboard and rule expression."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from analytics.dashboards.build import DASHBOARDS
from graphs.workflows import repo_workflow
from tests.conftest import model_env
from tests.doubles.llm_server import LLMServerDouble
from tests.support.examples import example_input
from tests.support.langgraph_server import DevServer, free_port, start_with_double
from tests.support.sdk import get_client

pytestmark = [pytest.mark.server, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = shutil.which("prometheus")
METRICS_TOKEN = "test-scrape-7c1d"
PROMTOOL = shutil.which("promtool")


def _need(binary: str | None, name: str) -> str:
    if binary is None:
        message = f"{name} is not installed (Debian package prometheus; .ci/run installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return binary


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, llm_server: LLMServerDouble) -> Iterator[DevServer]:
    # No API key (a laptop) but a scrape token: Prometheus scrapes with it as its config says.
    dev = start_with_double(
        tmp_path_factory.mktemp("metrics"), {**model_env(llm_server), "TRADEFLOW_METRICS_TOKEN": METRICS_TOKEN}
    )
    yield dev
    dev.stop()


async def _exercise(url: str) -> None:
    client = get_client(url=url)
    await client.runs.wait(None, "market_brief", input=example_input("market_brief"))
    await client.runs.wait(None, "eod_reconciliation", input=example_input("eod_reconciliation"))
    await client.runs.wait(None, "llm_router", input=example_input("llm_router"))
    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], "trade_break_triage", input=example_input("trade_break_triage"))


def test_promtool_accepts_config_and_rules(tmp_path: Path) -> None:
    promtool = _need(PROMTOOL, "promtool")
    # compose.yml (the compose stack's) is checked with its token file in tests/integration/test_compose_commands.py.
    shutil.copy(REPO / "analytics" / "prometheus" / "prometheus.yml", tmp_path / "prometheus.yml")
    shutil.copy(REPO / "analytics" / "prometheus" / "rules.yml", tmp_path / "rules.yml")
    (tmp_path / "tradeflow-metrics-token").write_text("scrape-token\n")  # the file the scrape config names
    check = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    rules = subprocess.run([promtool, "check", "rules", str(REPO / "analytics" / "prometheus" / "rules.yml")],
                           capture_output=True, text=True)  # fmt: skip
    assert rules.returncode == 0
    assert "SUCCESS: 9 rules found" in rules.stdout


async def test_metrics_endpoint_and_reports(server: DevServer) -> None:
    await _exercise(server.url)
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{server.url}/metrics")).text
        brief_version, triage_version = repo_workflow("market_brief")[1], repo_workflow("trade_break_triage")[1]
        assert (
            f'tradeflow_workflow_runs_total{{status="success",version="{brief_version}",workflow="market_brief"}}'
            in text
        )
        assert (
            f'tradeflow_workflow_runs_total{{status="interrupted",version="{triage_version}",workflow="trade_break_triage"}}'
            in text
        )
        assert (
            'tradeflow_node_duration_seconds_bucket{le="0.005",node="compute_market_figures",workflow="market_brief"}'
            in text
        )
        assert 'gen_ai_client_token_usage_count{gen_ai_operation_name="chat",gen_ai_provider_name="openai"' in text
        assert 'tradeflow_router_breaker_state{backend="double-openai"} 0.0' in text
        ours = [line for line in text.splitlines() if line.startswith(("tradeflow_", "gen_ai_"))]
        assert ours
        assert not [line for line in ours if "thread_id" in line or "run_id" in line or "prompt" in line]
        deadline = time.monotonic() + 15
        while True:  # rows reach the store within the writer's flush interval
            cost = (await http.get(f"{server.url}/reports/cost", params={"since": "1d", "by": "workflow,model"})).json()
            flows = (await http.get(f"{server.url}/reports/workflows", params={"since": "1d"})).json()
            if {r["workflow"] for r in cost} >= {"market_brief", "eod_reconciliation", "llm_router"} and {
                f["workflow"] for f in flows
            } >= {"market_brief", "trade_break_triage"}:
                break
            assert time.monotonic() < deadline, (cost, flows)
            time.sleep(0.5)
        csv_text = (await http.get(f"{server.url}/reports/cost", params={"since": "1d", "format": "csv"})).text
        assert csv_text.splitlines()[0] == "model,workflow,calls,input_tokens,output_tokens,cost_usd"
        triage = next(f for f in flows if f["workflow"] == "trade_break_triage")
        assert triage["success_rate"] is None  # only interrupted runs so far: none finished
        bad = await http.get(f"{server.url}/reports/cost", params={"by": "model;drop table llm_calls"})
        assert bad.status_code == 400
        assert bad.json()["error"].startswith("by: expected some of")
        for route in ("cost", "workflows", "trends"):  # regression: format=xml answered JSON
            xml = await http.get(f"{server.url}/reports/{route}", params={"format": "xml"})
            assert xml.status_code == 400
            assert xml.json()["error"] == "format: expected one of json, csv, got 'xml'"
        empty = await http.get(f"{server.url}/reports/cost", params={"format": "csv", "workflow": "no-such"})
        assert empty.text.splitlines() == ["model,workflow,calls,input_tokens,output_tokens,cost_usd"]


def _prometheus_config(workdir: Path, target: str) -> Path:
    config = yaml.safe_load((REPO / "analytics" / "prometheus" / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(REPO / "analytics" / "prometheus" / "rules.yml")]
    config["scrape_configs"][0]["static_configs"] = [{"targets": [target]}]
    assert config["scrape_configs"][0]["authorization"]["type"] == "Bearer"
    (workdir / config["scrape_configs"][0]["authorization"]["credentials_file"]).write_text(METRICS_TOKEN)
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _query(base: str, expr: str) -> dict[str, Any]:
    response = httpx.get(f"{base}/api/v1/query", params={"query": expr}, timeout=10)
    body: dict[str, Any] = response.json()
    return body


def _wait_for(base: str, expr: str, timeout_s: float = 60.0) -> None:
    """Poll until ``expr`` has data (scrapes and rule evaluations run every second here)."""
    deadline = time.monotonic() + timeout_s
    while not _query(base, expr)["data"]["result"]:
        assert time.monotonic() < deadline, f"no data for {expr} within {timeout_s} s"
        time.sleep(0.25)


async def test_real_prometheus_evaluates_every_dashboard_and_rule_expression(server: DevServer, tmp_path: Path) -> None:
    binary = _need(PROMETHEUS, "prometheus")
    port = free_port()
    config = _prometheus_config(tmp_path, server.url.removeprefix("http://"))
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen([binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}"], stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "prometheus.log").read_text()[-2000:]
            time.sleep(0.3)
        await _exercise(server.url)
        # rate() needs two samples that differ: a scrape after the first runs, then more runs.
        _wait_for(base, 'tradeflow_workflow_runs_total{workflow="market_brief"}')
        await _exercise(server.url)
        must_have_data = [
            "sum by (workflow) (rate(tradeflow_workflow_runs_total[5m]))",
            "tradeflow:workflow_success_ratio:rate5m",
            "sum by (model) (rate(tradeflow_llm_cost_usd_total[1h])) * 3600",
            "max by (backend) (tradeflow_router_breaker_state)",
        ]
        for expr in must_have_data:  # scraped and evaluated (recording rules) after the second round
            _wait_for(base, expr)
        up = _query(base, 'up{job="tradeflow"}')
        assert up["data"]["result"][0]["value"][1] == "1"
        rules = yaml.safe_load((REPO / "analytics" / "prometheus" / "rules.yml").read_text())
        expressions = [p.query for _, panels in DASHBOARDS.values() for p in panels if p.source == "prometheus"]
        expressions += [r["expr"] for group in rules["groups"] for r in group["rules"]]
        for expr in expressions:
            result = _query(base, expr)
            assert result["status"] == "success", (expr, result)
        ratio = _query(base, 'tradeflow:workflow_success_ratio:rate5m{workflow="market_brief"}')
        assert float(ratio["data"]["result"][0]["value"][1]) == 1.0
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def test_metrics_are_merged_across_worker_processes(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR set, /metrics sums what every worker process counted."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    worker = textwrap.dedent("""
        from analytics.runtime import metrics
        metrics().workflow_runs.labels("heartbeat", "unversioned", "success").inc(3)
    """)  # fmt: skip
    for _ in range(2):
        subprocess.run([sys.executable, "-c", worker], env=env, check=True, cwd=REPO)
    collect = "from analytics.http import metrics_payload; import sys; sys.stdout.write(metrics_payload().decode())"
    text = subprocess.run([sys.executable, "-c", collect], env=env, capture_output=True, text=True, check=True,
                          cwd=REPO).stdout  # fmt: skip
    assert 'tradeflow_workflow_runs_total{status="success",version="unversioned",workflow="heartbeat"} 6.0' in text
