"""Server start-up and persistence: Postgres checkpoints, restarts on the embedded default, no model."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import PRICES_DOUBLE, model_env
from tests.doubles.llm_server import LLMServerDouble
from tests.support.examples import example_input
from tests.support.langgraph_server import DevServer, free_port, write_config
from tests.support.sdk import get_client

pytestmark = [pytest.mark.server, pytest.mark.slow]

TRADEFLOW = str(Path(sys.executable).parent / "tradeflow")
REPO = Path(__file__).resolve().parents[2]


def _base_env(workdir: Path) -> dict[str, str]:
    env = {**os.environ, "TRADEFLOW_DATA_DIR": str(workdir / "data")}
    env.pop("DATABASE_URL", None)
    return env


@pytest.mark.postgres
async def test_server_checkpoints_land_in_postgres(
    tmp_path: Path, postgres_url: str, llm_double: LLMServerDouble
) -> None:
    env = {**_base_env(tmp_path), **model_env(llm_double), "DATABASE_URL": postgres_url}
    server = DevServer(tmp_path, env).start()
    try:
        client = get_client(url=server.url)
        thread = await client.threads.create()
        flat = {"book": "B", "symbol": "S", "quantity": 1.0, "price": 10.0, "prev_close": 10.0}
        await client.runs.wait(thread["thread_id"], "market_brief", input={"as_of": "2026-11-24", "positions": [flat]})
        state = await client.threads.get_state(thread["thread_id"])
    finally:
        server.stop()
    assert "server checkpointer: AsyncPostgresSaver" in server.output()
    assert state["values"]["figures"]["total_pnl"] == 0
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT checkpoint_ns) FROM checkpoints WHERE thread_id = %s",
            (thread["thread_id"],),
        ).fetchone()
    assert row is not None
    assert row[0] >= 3
    assert not (tmp_path / "data" / "checkpoints.sqlite").exists()


async def test_embedded_default_keeps_threads_across_a_restart_and_starts_without_a_model(tmp_path: Path) -> None:
    env = {**_base_env(tmp_path), "TRADEFLOW_LLM_PROVIDER": "ollama", "OLLAMA_BASE_URL": "http://127.0.0.1:9"}
    port = free_port()
    server = DevServer(tmp_path, env, port=port).start()
    try:
        output = server.output()
        assert "WARNING: LLM not reachable: tried ollama model 'llama3.1' at http://127.0.0.1:9" in output
        assert f"Studio: https://smith.langchain.com/studio/?baseUrl=http://127.0.0.1:{port}" in output
        assert f"API docs: http://127.0.0.1:{port}/docs" in output
        client = get_client(url=server.url)
        thread = await client.threads.create()
        await client.runs.wait(thread["thread_id"], "heartbeat", input={"message": "before restart"})
        # a run that needs the model fails fast (one refused connection, no retry), naming what was tried
        brief_thread = await client.threads.create()
        run = await client.runs.create(brief_thread["thread_id"], "market_brief", input=example_input("market_brief"))
        joined = await asyncio.wait_for(client.runs.join(brief_thread["thread_id"], run["run_id"]), timeout=30)
        failed = await client.runs.get(brief_thread["thread_id"], run["run_id"])
    finally:
        server.stop()
    assert failed["status"] == "error"
    assert "tried ollama model 'llama3.1' at http://127.0.0.1:9" in joined["__error__"]["message"]
    assert joined["__error__"]["message"].count("connect_refused") == 1

    again = DevServer(tmp_path, env, port=port).start()
    try:
        state = await get_client(url=again.url).threads.get_state(thread["thread_id"])
    finally:
        again.stop()
    assert state["values"]["message"] == "before restart"


def test_taken_port_stops_start_up_naming_the_setting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**_base_env(tmp_path), "TRADEFLOW_PORT": str(port)}
        config = str(write_config(tmp_path))
        proc = subprocess.run(
            [TRADEFLOW, "serve", "--config", config], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
    assert proc.returncode == 2
    assert f"TRADEFLOW_PORT: port {port} on 127.0.0.1 is not free" in proc.stderr


def test_bad_setting_stops_the_server_naming_the_variable(tmp_path: Path) -> None:
    env = {**_base_env(tmp_path), "DATABASE_URL": "sqlite:///nope.db"}
    proc = subprocess.run([TRADEFLOW, "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "DATABASE_URL: expected a URL starting with postgres:// or postgresql://" in proc.stderr


def test_make_run_serves_the_api(tmp_path: Path) -> None:
    """The README's first command: `make run` answers GET /ok on the configured port."""
    port = free_port()
    env = {
        **_base_env(tmp_path),
        "TRADEFLOW_PORT": str(port),
        "TRADEFLOW_LLM_PROVIDER": "ollama",
        "OLLAMA_BASE_URL": "http://127.0.0.1:9",
    }
    log = tmp_path / "make-run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["make", "run"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 90
        answered = False
        while time.monotonic() < deadline and proc.poll() is None and not answered:
            try:
                answered = httpx.get(f"http://127.0.0.1:{port}/ok", timeout=1).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    output = log.read_text(errors="replace")
    assert answered, output[-3000:]
    assert f"API: http://127.0.0.1:{port}" in output


def _table(path: Path, backend: str, base_url: str) -> Path:
    path.write_text(
        "backends:\n"
        f"  - {{name: {backend}, kind: openai, model: m-{backend}, base_url: '{base_url}', api_key_env: OPENAI_API_KEY,\n"
        "     context_window: 8000, max_output_tokens: 1000}\n"
    )
    return path


async def test_api_key_protects_every_request_and_the_process_environment_wins_over_dotenv(
    tmp_path: Path, llm_server: LLMServerDouble
) -> None:
    """Regression: langgraph dev let .env override the process environment, so the .env key was the one accepted
    (and the .env backend table the one used) while the banner reported the process environment's."""
    base = llm_server.openai_base_url
    (tmp_path / ".env").write_text(
        "TRADEFLOW_API_KEY=dotenv-key-1\n"
        f"TRADEFLOW_ROUTER_CONFIG={_table(tmp_path / 'dotenv.yaml', 'from-dotenv', base)}\n"
        "OPENAI_API_KEY=only-in-dotenv\n"
    )
    env = {
        **_base_env(tmp_path),
        "TRADEFLOW_PRICES_FILE": str(PRICES_DOUBLE),
        "TRADEFLOW_API_KEY": "k-7f3a91",
        "TRADEFLOW_ROUTER_CONFIG": str(_table(tmp_path / "process.yaml", "from-process", base)),
    }
    env.pop("OPENAI_API_KEY", None)
    server = DevServer(tmp_path, env).start()
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            refused = await http.post(f"{server.url}/assistants/search", json={})
            assert refused.status_code == 401
            dotenv_key = await http.post(
                f"{server.url}/assistants/search", json={}, headers={"x-api-key": "dotenv-key-1"}
            )
            assert dotenv_key.status_code == 401
            backends = await http.get(f"{server.url}/router/backends", headers={"x-api-key": "k-7f3a91"})
        # The process's table is used, and its backend is enabled by the key that only .env holds.
        assert [(b["backend"], b["enabled"]) for b in backends.json()] == [("from-process", True)]
        client = get_client(url=server.url, api_key="k-7f3a91")
        assistant = await client.assistants.create("heartbeat", name="probe")
        out = await client.runs.wait(None, assistant["assistant_id"], input={"message": "ok"})
        assert isinstance(out, dict)
        assert out["message"] == "ok"
        with pytest.raises(httpx.HTTPStatusError) as info:
            await client.runs.wait(None, assistant["assistant_id"], input={"message": 7})
        assert info.value.response.status_code == 422
    finally:
        server.stop()
    output = server.output()
    assert "LLM reachable: openai model 'm-from-process'" in output  # the banner agrees with the server
    for secret in ("k-7f3a91", "dotenv-key-1", "only-in-dotenv"):
        assert secret not in output
