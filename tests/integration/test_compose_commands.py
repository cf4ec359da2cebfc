"""The compose stack's commands, run here without Docker: what each service runs, with the configuration it gets.

- Prometheus: `promtool check config` on the compose config (its rules beside it, the token as a file, as compose
  mounts them), then the service's own command line until its healthcheck URL answers.
- Postgres: the init script on the machine's Postgres (scratch names): databases, owners, who may connect, what
  Grafana's role may read.
- Airflow: tests/integration/test_compose_airflow.py.
- Aegra: the aegra image's command with the aegra service's environment (scratch databases, Redis here, the mounted
  backend table): healthy, a run, /metrics with the scrape token, its tables and tradeflow's in separate databases.
The langgraph-api image needs a licence and Docker to run; tests/unit/test_packaging.py checks its Dockerfile.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml
from psycopg import sql

from tests.support.aegra_server import AEGRA_PYTHON, require_aegra, require_redis
from tests.support.compose import env_example, interpolate, need, stop
from tests.support.examples import example_input
from tests.support.langgraph_server import free_port
from tests.support.postgres import ADMIN_URL, require_postgres, scratch_database
from tests.support.sdk import get_client

pytestmark = [pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
REDIS_URL = "redis://127.0.0.1:6379/3"  # this suite's Redis database


def _which(name: str) -> Path | None:
    found = shutil.which(name)
    return Path(found) if found else None


# --- Prometheus -------------------------------------------------------------------------------------------


def _prometheus_dir(tmp_path: Path) -> Path:
    """The compose config and rules as the container sees them, the secret file written where the config says."""
    config = yaml.safe_load((REPO / "analytics" / "prometheus" / "compose.yml").read_text())
    token = tmp_path / "tradeflow_metrics_token"
    token.write_text("scrape-token-for-the-test")
    config["scrape_configs"][0]["authorization"]["credentials_file"] = str(token)
    folder = tmp_path / "etc-prometheus"
    folder.mkdir()
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    shutil.copy(REPO / "analytics" / "prometheus" / "rules.yml", folder / "rules.yml")
    return folder


def test_promtool_accepts_the_compose_prometheus_config(tmp_path: Path) -> None:
    promtool = need(_which("promtool"), "promtool (Debian package prometheus; .ci/run installs it)")
    folder = _prometheus_dir(tmp_path)
    check = subprocess.run([promtool, "check", "config", str(folder / "prometheus.yml")], capture_output=True,
                           text=True, timeout=60)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 9 rules found" in check.stdout


def test_prometheus_runs_the_compose_command_line(tmp_path: Path) -> None:
    binary = need(_which("prometheus"), "prometheus (Debian package prometheus; .ci/run installs it)")
    folder = _prometheus_dir(tmp_path)
    port = free_port()
    service = COMPOSE["services"]["prometheus"]
    flags = [interpolate(flag, {}) for flag in service["command"]]
    flags = [flag.replace("/etc/prometheus", str(folder)).replace("=/prometheus", f"={tmp_path / 'tsdb'}")
             for flag in flags]  # fmt: skip
    assert f"--config.file={folder}/prometheus.yml" in flags
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen([binary, *flags, f"--web.listen-address=127.0.0.1:{port}"], stdout=log,
                            stderr=subprocess.STDOUT, env=dict(os.environ))  # fmt: skip
    try:
        health = service["healthcheck"]["test"][-1].replace("127.0.0.1:9090", f"127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(health, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
            assert time.monotonic() < deadline, (tmp_path / "prometheus.log").read_text()[-2000:]
            time.sleep(0.3)
        rules = httpx.get(f"http://127.0.0.1:{port}/api/v1/rules", timeout=5).json()
        assert sum(len(group["rules"]) for group in rules["data"]["groups"]) == 9
        targets = httpx.get(f"http://127.0.0.1:{port}/api/v1/targets", timeout=5).json()
        assert targets["status"] == "success"  # DNS discovery of `tradeflow` finds nothing here, and that is fine
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


# --- Postgres ---------------------------------------------------------------------------------------------


@pytest.fixture
def init_names() -> Iterator[dict[str, str]]:
    require_postgres()
    suffix = uuid.uuid4().hex[:8]
    names = {
        "TRADEFLOW_DB": f"compose_tf_{suffix}", "SERVER_DB": f"compose_srv_{suffix}",
        "AIRFLOW_DB": f"compose_af_{suffix}", "TRADEFLOW_DB_ROLE": f"compose_tf_{suffix}",
        "AIRFLOW_DB_ROLE": f"compose_af_{suffix}", "GRAFANA_DB_ROLE": f"compose_gr_{suffix}",
    }  # fmt: skip
    yield names
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        for key in ("TRADEFLOW_DB", "SERVER_DB", "AIRFLOW_DB"):
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(names[key])))
        for key in ("GRAFANA_DB_ROLE", "AIRFLOW_DB_ROLE", "TRADEFLOW_DB_ROLE"):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(names[key])))


def _url(database: str) -> str:
    return f"{ADMIN_URL.rpartition('/')[0]}/{database}"


@pytest.mark.postgres
def test_postgres_init_script_gives_each_owner_its_database(init_names: dict[str, str]) -> None:
    admin = psycopg.conninfo.conninfo_to_dict(ADMIN_URL)
    env = {
        **os.environ, **init_names, "PGHOST": str(admin.get("host", "127.0.0.1")),
        "PGPORT": str(admin.get("port", 5432)), "POSTGRES_USER": str(admin.get("user", "postgres")),
        "POSTGRES_DB": str(admin.get("dbname", "postgres")),
        "TRADEFLOW_DB_PASSWORD": "test-pw-with-'quote", "AIRFLOW_DB_PASSWORD": "test-pw2", "GRAFANA_DB_PASSWORD": "test-pw3",
    }  # fmt: skip
    script = REPO / "deploy" / "postgres" / "10-tradeflow-databases.sh"
    missing = subprocess.run([str(script)], env={k: v for k, v in env.items() if k != "GRAFANA_DB_PASSWORD"},
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert missing.returncode != 0
    assert "GRAFANA_DB_PASSWORD" in missing.stderr  # named, before anything is created
    run = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    n = init_names
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        owners = dict(conn.execute("SELECT datname, pg_get_userbyid(datdba) FROM pg_database").fetchall())
        assert owners[n["TRADEFLOW_DB"]] == n["TRADEFLOW_DB_ROLE"]
        assert owners[n["SERVER_DB"]] == n["TRADEFLOW_DB_ROLE"]
        assert owners[n["AIRFLOW_DB"]] == n["AIRFLOW_DB_ROLE"]

        def may_connect(role: str, database: str) -> bool:
            row = conn.execute("SELECT has_database_privilege(%s, %s, 'CONNECT')", (role, database)).fetchone()
            return bool(row and row[0])

        assert may_connect(n["GRAFANA_DB_ROLE"], n["TRADEFLOW_DB"])
        assert not may_connect(n["GRAFANA_DB_ROLE"], n["AIRFLOW_DB"])
        assert not may_connect(n["GRAFANA_DB_ROLE"], n["SERVER_DB"])
        assert not may_connect(n["AIRFLOW_DB_ROLE"], n["TRADEFLOW_DB"])
        assert not may_connect(n["TRADEFLOW_DB_ROLE"], n["AIRFLOW_DB"])
    with psycopg.connect(_url(n["TRADEFLOW_DB"]), autocommit=True) as conn:
        # A table tradeflow's role creates later (an analytics partition, say) is readable by Grafana's role only.
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(n["TRADEFLOW_DB_ROLE"])))
        conn.execute("CREATE TABLE llm_calls_probe (id int)")
        conn.execute("RESET ROLE")
        grafana = n["GRAFANA_DB_ROLE"]
        can = conn.execute(
            "SELECT has_table_privilege(%s, 'llm_calls_probe', 'SELECT'),"
            " has_table_privilege(%s, 'llm_calls_probe', 'INSERT')",
            (grafana, grafana),
        ).fetchone()
        assert can == (True, False)
        available = conn.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
        installed = conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
        assert installed == available  # created where the server has it (the compose image does)


# --- Aegra ------------------------------------------------------------------------------------------------


def _aegra_command(port: int) -> list[str]:
    """The aegra image's CMD (deploy/docker/aegra.Dockerfile), on loopback and a free port."""
    dockerfile = (REPO / "deploy" / "docker" / "aegra.Dockerfile").read_text()
    cmd = json.loads(next(line for line in dockerfile.splitlines() if line.startswith("CMD ")).removeprefix("CMD "))
    assert cmd[:2] == ["uvicorn", "aegra_api.main:app"]
    cmd = [arg.replace("0.0.0.0", "127.0.0.1") for arg in cmd]
    cmd[cmd.index("--port") + 1] = str(port)
    return [str(AEGRA_PYTHON.parent / cmd[0]), *cmd[1:]]


def _public_tables(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        return {row[0] for row in rows.fetchall()}


@pytest.mark.postgres
@pytest.mark.server
async def test_aegra_runs_with_the_compose_environment(tmp_path: Path) -> None:
    """The aegra service as compose starts it: its image's command, its environment (hosts pointed here), the
    mounted backend table; Aegra's tables and tradeflow's land in separate databases; Prometheus's token reads
    /metrics."""
    require_aegra()
    require_redis()
    secrets = {"TRADEFLOW_API_KEY": uuid.uuid4().hex, "TRADEFLOW_METRICS_TOKEN": uuid.uuid4().hex,
               "TRADEFLOW_DB_PASSWORD": "test-unused"}  # fmt: skip
    service = COMPOSE["services"]["aegra"]
    prefix = f"compose-{uuid.uuid4().hex[:8]}"
    with scratch_database("compose_srv") as server_db, scratch_database("compose_tf") as tradeflow_db:
        env: dict[str, str] = {}
        for name, value in service["environment"].items():
            text = interpolate(str(value), {**env_example(), **secrets})
            text = text.replace("postgresql://tradeflow:test-unused@postgres:5432/langgraph", server_db)
            text = text.replace("postgresql://tradeflow:test-unused@postgres:5432/tradeflow", tradeflow_db)
            text = text.replace("redis://redis:6379/0", REDIS_URL)
            env[name] = text
        assert env["DATABASE_URL"] == server_db
        assert env["TRADEFLOW_DATABASE_URL"] == tradeflow_db
        assert env["AEGRA_CONFIG"] == "/app/langgraph.json"  # the image's WORKDIR is the repo: /app here is REPO
        (mount,) = service["configs"]
        backends = REPO / interpolate(COMPOSE["configs"][mount["source"]]["file"], env_example())
        assert env["TRADEFLOW_ROUTER_CONFIG"] == mount["target"]
        env.update({
            "AEGRA_CONFIG": str(REPO / "langgraph.json"),
            "TRADEFLOW_ROUTER_CONFIG": str(backends),
            "TRADEFLOW_DATA_DIR": str(tmp_path / "data"),
            "TRADEFLOW_WORKFLOWS_REPO": str(tmp_path / "workflows" / "workflows.git"),
            "REDIS_CHANNEL_PREFIX": f"{prefix}:run:",
            "WORKER_QUEUE_KEY": f"{prefix}:jobs",
        })  # fmt: skip
        port = free_port()
        log = tmp_path / "aegra.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(_aegra_command(port), cwd=REPO, env={**os.environ, **env}, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
            try:
                health = service["healthcheck"]["test"]
                probe = [str(AEGRA_PYTHON), *health[2:]]
                probe[-1] = probe[-1].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
                deadline = time.monotonic() + 120
                while subprocess.run(probe, capture_output=True, timeout=30).returncode != 0:
                    assert proc.poll() is None, log.read_text()[-4000:]
                    assert time.monotonic() < deadline, log.read_text()[-4000:]
                    time.sleep(1)
                base = f"http://127.0.0.1:{port}"
                client = get_client(url=base, api_key=secrets["TRADEFLOW_API_KEY"])
                run = await client.runs.wait(None, "heartbeat", input=example_input("heartbeat"))
                assert run, log.read_text()[-4000:]
                async with httpx.AsyncClient(timeout=10) as http:
                    bearer = {"Authorization": f"Bearer {secrets['TRADEFLOW_METRICS_TOKEN']}"}
                    metrics = await http.get(f"{base}/metrics", headers=bearer)
                    assert metrics.status_code == 200, metrics.text
                    assert "tradeflow_workflow_runs_total" in metrics.text
                    assert (await http.get(f"{base}/metrics")).status_code == 401
                    wrong = {"Authorization": "Bearer test-not-the-token"}
                    assert (await http.get(f"{base}/metrics", headers=wrong)).status_code == 401
                deadline = time.monotonic() + 30
                while not (tradeflow_tables := _public_tables(tradeflow_db)):
                    assert time.monotonic() < deadline, "tradeflow wrote no table into its own database"
                    time.sleep(0.5)
                server_tables = _public_tables(server_db)
                assert server_tables, "Aegra wrote no table into its database"
                assert not server_tables & tradeflow_tables, sorted(server_tables & tradeflow_tables)
            finally:
                stop(proc)
