"""``tradeflow run`` as a user runs it: a subprocess, against the LLM double, on SQLite and Postgres."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import MODEL, PRICES_DOUBLE, model_env
from tests.doubles.llm_server import Behaviour, LLMServerDouble

REPO = Path(__file__).resolve().parents[2]
TRADEFLOW = str(Path(sys.executable).parent / "tradeflow")
EXAMPLES = REPO / "examples"


def _env(double: LLMServerDouble, tmp_path: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {**os.environ, **model_env(double), "TRADEFLOW_DATA_DIR": str(tmp_path / "data"), **extra}
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def tradeflow(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TRADEFLOW, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _result(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str | None:
    return str(request.getfixturevalue("postgres_url")) if request.param == "postgres" else None


@pytest.mark.parametrize("graph_id", ["market_brief", "eod_reconciliation", "heartbeat"])
def test_each_graph_runs_end_to_end(
    graph_id: str, database_url: str | None, llm_double: LLMServerDouble, tmp_path: Path
) -> None:
    env = _env(llm_double, tmp_path, database_url)
    result = _result(tradeflow(["run", graph_id, "--input", str(EXAMPLES / f"{graph_id}.json")], env, tmp_path))
    assert result["status"] == "done"
    assert result["graph"] == graph_id
    if graph_id == "market_brief":
        assert result["values"]["brief"].startswith(f"[{MODEL}:")
    elif graph_id == "eod_reconciliation":
        assert len(result["values"]["ranked"]) == 3
    if database_url is None:
        assert (tmp_path / "data" / "checkpoints.sqlite").is_file()


def test_triage_interrupts_then_resumes_on_the_same_thread(
    database_url: str | None, llm_double: LLMServerDouble, tmp_path: Path
) -> None:
    env = _env(llm_double, tmp_path, database_url)
    args = ["run", "trade_break_triage", "--thread", f"cli-triage-{database_url is None}"]
    first = _result(tradeflow([*args, "--input", str(EXAMPLES / "trade_break_triage.json")], env, tmp_path))
    assert first["status"] == "interrupted"
    assert first["interrupts"][0]["break_id"] == "BRK-2026-11-24-0042"
    waiting = tradeflow(args, env, tmp_path)
    assert waiting.returncode == 2
    assert "--resume" in waiting.stderr
    assert "waiting for input" in waiting.stderr
    done = _result(tradeflow([*args, "--resume", '{"approved": true}'], env, tmp_path))
    assert done["status"] == "done"
    assert (done["values"]["decision"], done["values"]["approver"]) == ("approved", "local")
    assert len(llm_double.requests) == 2


def test_context_knobs_are_passed_and_checked(llm_double: LLMServerDouble, tmp_path: Path) -> None:
    env = _env(llm_double, tmp_path)
    args = ["run", "trade_break_triage", "--input", str(EXAMPLES / "trade_break_triage.json")]
    auto = _result(tradeflow([*args, "--context", '{"approval_threshold": 1e9}'], env, tmp_path))
    assert auto["values"]["decision"] == "auto_approved"
    bad = tradeflow([*args, "--context", '{"threshold": 5}'], env, tmp_path)
    assert bad.returncode == 2
    assert "--context.threshold" in bad.stderr
    assert "approval_threshold" in bad.stderr


def _count_checkpoints(database_url: str | None, tmp_path: Path, thread: str) -> int:
    if database_url:
        with psycopg.connect(database_url) as conn:
            row = conn.execute("SELECT count(*) FROM checkpoints WHERE thread_id = %s", (thread,)).fetchone()
            return int(row[0]) if row else 0
    import sqlite3

    path = tmp_path / "data" / "checkpoints.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "checkpoints" not in tables:
            return 0
        return int(conn.execute("SELECT count(*) FROM checkpoints WHERE thread_id = ?", (thread,)).fetchone()[0])


def test_bad_input_names_the_field_exits_non_zero_and_leaves_no_checkpoint(
    database_url: str | None, llm_double: LLMServerDouble, tmp_path: Path
) -> None:
    payload = json.loads((EXAMPLES / "market_brief.json").read_text())
    payload["positions"][1]["price"] = "high"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(payload))
    env = _env(llm_double, tmp_path, database_url)
    thread = f"bad-input-{database_url is None}"
    proc = tradeflow(["run", "market_brief", "--input", str(bad), "--thread", thread], env, tmp_path)
    assert proc.returncode == 2
    assert "positions.1.price: Input should be a valid number" in proc.stderr
    assert proc.stdout == ""
    assert _count_checkpoints(database_url, tmp_path, thread) == 0
    assert llm_double.requests == []


def test_missing_or_broken_input_file(llm_double: LLMServerDouble, tmp_path: Path) -> None:
    env = _env(llm_double, tmp_path)
    missing = tradeflow(["run", "heartbeat", "--input", str(tmp_path / "nope.json")], env, tmp_path)
    assert missing.returncode == 2
    assert "--input: file" in missing.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    bad = tradeflow(["run", "heartbeat", "--input", str(broken)], env, tmp_path)
    assert bad.returncode == 2
    assert "is not valid JSON" in bad.stderr


def test_bad_setting_stops_the_cli_naming_the_variable(llm_double: LLMServerDouble, tmp_path: Path) -> None:
    env = _env(llm_double, tmp_path, TRADEFLOW_ROUTING_STRATEGY="soon")
    proc = tradeflow(["run", "heartbeat", "--input", str(EXAMPLES / "heartbeat.json")], env, tmp_path)
    assert proc.returncode == 2
    assert "TRADEFLOW_ROUTING_STRATEGY" in proc.stderr


def test_model_settings_in_dotenv_reach_the_backend_table_and_its_clients(
    llm_double: LLMServerDouble, tmp_path: Path
) -> None:
    """Regression: the CLI read .env into Settings only; the backend table's ${VAR} and the clients' keys came
    from os.environ, so `tradeflow backends` said OPENAI_API_KEY is not set and `tradeflow run` failed."""
    (tmp_path / ".env").write_text(
        f"OPENAI_API_KEY=key-from-dotenv\nOPENAI_BASE_URL={llm_double.openai_base_url}\nTRADEFLOW_OPENAI_MODEL={MODEL}\n"
        f"TRADEFLOW_LLM_PROVIDER=openai\nTRADEFLOW_PRICES_FILE={PRICES_DOUBLE}\n"
    )
    env = {**os.environ, "TRADEFLOW_DATA_DIR": str(tmp_path / "data")}
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "TRADEFLOW_OPENAI_MODEL",
        "TRADEFLOW_ROUTER_CONFIG",
        "TRADEFLOW_PRICES_FILE",
        "DATABASE_URL",
    ):
        env.pop(name, None)
    backends = tradeflow(["backends"], env, tmp_path)
    assert backends.returncode == 0, backends.stderr
    mini = next(line for line in backends.stdout.splitlines() if line.startswith("openai-mini"))
    assert MODEL in mini
    assert " up " in mini
    assert "OPENAI_API_KEY is not set" not in backends.stdout
    result = _result(tradeflow(["run", "market_brief", "--input", str(EXAMPLES / "market_brief.json")], env, tmp_path))
    assert result["values"]["brief"].startswith(f"[{MODEL}:")
    assert any(r.authorization == "Bearer key-from-dotenv" for r in llm_double.requests)


def test_no_model_reachable_fails_fast_with_advice(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TRADEFLOW_DATA_DIR": str(tmp_path),
        "TRADEFLOW_LLM_PROVIDER": "ollama",
        "OLLAMA_BASE_URL": "http://127.0.0.1:9",
    }
    proc = tradeflow(["run", "market_brief", "--input", str(EXAMPLES / "market_brief.json")], env, tmp_path)
    assert proc.returncode == 1
    # Fast because nothing listens: one refused connection, no retry, no wait for a first-token limit (the
    # subprocess timeout of 60 s is the only clock here; start-up time varies with the machine's load).
    assert "tried ollama model" in proc.stderr
    assert "connect_refused" in proc.stderr
    assert "Configure a model in .env" in proc.stderr


def _prompts(double: LLMServerDouble, marker: str) -> int:
    return sum(marker in r.prompt for r in double.requests)


@pytest.mark.postgres
@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_continues_without_repeating_steps(
    postgres_url: str, llm_double: LLMServerDouble, tmp_path: Path
) -> None:
    """A run killed with SIGKILL continues from its last completed step on the same thread."""
    llm_double.set_behaviour("slow-model", Behaviour(latency_s=1.5))
    env = _env(llm_double, tmp_path, postgres_url, TRADEFLOW_OPENAI_MODEL="slow-model")
    thread = "kill-and-resume"
    args = ["run", "trade_break_triage", "--thread", thread, "--input", str(EXAMPLES / "trade_break_triage.json")]
    with subprocess.Popen([TRADEFLOW, *args], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as proc:  # fmt: skip
        deadline = time.monotonic() + 30
        # classify_break has finished (and, with durability="sync", been checkpointed) once the
        # propose_resolution request arrives.
        while _prompts(llm_double, "Classification:") == 0:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "propose_resolution never started"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert _prompts(llm_double, "Classify the settlement break") == 1

    llm_double.set_behaviour("slow-model", Behaviour())
    again = tradeflow(args, env, tmp_path)
    result = _result(again)
    assert "has an unfinished run; continuing it" in again.stderr
    assert "done: classify_break" not in again.stderr
    assert "done: propose_resolution" in again.stderr
    assert result["status"] == "interrupted"
    assert _prompts(llm_double, "Classify the settlement break") == 1  # not re-run
    assert _prompts(llm_double, "Classification:") == 2  # the killed attempt and the rerun
    done = _result(tradeflow([*args[:4], "--resume", '{"approved": true}'], env, tmp_path))
    assert done["values"]["status"] == "resolution_approved"


def test_an_empty_csv_report_prints_its_header(tmp_path: Path) -> None:
    """Regression: `tradeflow report --format csv` with no rows printed nothing, not even the header."""
    env = {**os.environ, "TRADEFLOW_DATA_DIR": str(tmp_path / "data")}
    env.pop("DATABASE_URL", None)
    proc = tradeflow(["report", "--format", "csv", "--by", "model,day"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["model,day,calls,input_tokens,output_tokens,cost_usd"]
