"""The compose stack's commands, run here without Docker: what each service runs, with the configuration it gets.

- Prometheus: `promtool check config` on the compose config (its rules beside it, the token as a file, as compose
  mounts them), then the service's own command line until its healthcheck URL answers.
- Postgres: the init script on the machine's Postgres (scratch names): databases, owners, who may connect, what
  Grafana's role may read.
- Airflow: the image's environment (`make airflow-image-env`: the bridge's lock with its deploy group) and entry
  point, with the x-airflow configuration read from docker-compose.yml (hosts pointed at this machine's Postgres and
  Redis): `db migrate` (airflow-init), `dags list` over the DAG files the image build writes, then the Celery worker,
  scheduler, DAG processor, triggerer and API server until their compose healthchecks pass.
- Aegra: the aegra image's command with the aegra service's environment (scratch databases, Redis here, the mounted
  backend table): healthy, a run, /metrics with the scrape token, its tables and tradeflow's in separate databases.
The langgraph-api image needs a licence and Docker to run; tests/unit/test_packaging.py checks its Dockerfile.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from langgraph_sdk import get_client
from psycopg import sql

from tests.support.aegra_server import AEGRA_PYTHON, require_aegra, require_redis
from tests.support.examples import example_input
from tests.support.langgraph_server import free_port
from tests.support.postgres import ADMIN_URL, require_postgres, scratch_database
from tests.unit.test_compose import _interpolate

pytestmark = [pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
IMAGE_ENV = REPO / "airflow_bridge" / ".venv-image"
ENTRYPOINT = REPO / "deploy" / "docker" / "airflow-entrypoint.sh"
REDIS_URL = "redis://127.0.0.1:6379/3"  # this suite's Redis database


def _need(path: Path | None, what: str) -> Path:
    if path is None or not path.exists():
        message = f"{what} is missing"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


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
    promtool = _need(_which("promtool"), "promtool (Debian package prometheus; .ci/run installs it)")
    folder = _prometheus_dir(tmp_path)
    check = subprocess.run([promtool, "check", "config", str(folder / "prometheus.yml")], capture_output=True,
                           text=True, timeout=60)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 9 rules found" in check.stdout


def test_prometheus_runs_the_compose_command_line(tmp_path: Path) -> None:
    binary = _need(_which("prometheus"), "prometheus (Debian package prometheus; .ci/run installs it)")
    folder = _prometheus_dir(tmp_path)
    port = free_port()
    service = COMPOSE["services"]["prometheus"]
    flags = [_interpolate(flag, {}) for flag in service["command"]]
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


# --- Airflow ----------------------------------------------------------------------------------------------


def _airflow_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    """docker-compose.yml's x-airflow environment, its hosts pointed at this machine's services."""
    secrets = {
        "AIRFLOW_FERNET_KEY": "3Ch5jZ0pWvYgNdL0w1kO8qfJb6m2Qx4T7sRzUaHcEiA=", "AIRFLOW_JWT_SECRET": "test-jwt-secret",
        "AIRFLOW_SECRET_KEY": "test-secret-key", "AIRFLOW_DB_PASSWORD": "test-unused",
        "TRADEFLOW_AIRFLOW_API_KEY": "test-airflow-key", "AIRFLOW_ADMIN_PASSWORD": "test-admin-password",
    }  # fmt: skip
    compose_env: dict[str, Any] = COMPOSE["x-airflow"]["environment"]
    local = database_url.split("://", 1)[1]
    env = {}
    for name, value in compose_env.items():
        text = _interpolate(str(value), secrets)
        text = text.replace("airflow:test-unused@postgres:5432/airflow", local)
        text = text.replace("redis://redis:6379/2", REDIS_URL)
        env[name] = text
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"postgresql+psycopg2://{local}"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == f"db+postgresql://{local}"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == REDIS_URL
    home = tmp_path / "airflow-home"
    (home / "dags").mkdir(parents=True)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "simple_auth_manager_passwords.json"),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "HOSTNAME": socket.gethostname(),
        "PATH": f"{IMAGE_ENV / 'bin'}:{os.environ['PATH']}",
    })  # fmt: skip
    return {**os.environ, **env}


AIRFLOW_PROBE = """
import json
from airflow.configuration import conf
from airflow.providers_manager import ProvidersManager
from airflow.sdk import Connection
connection = Connection.get("langgraph_default")
print(json.dumps({
    "executor": conf.get("core", "executor"),
    "providers": sorted(ProvidersManager().providers),
    "langgraph_default": {"conn_type": connection.conn_type, "host": connection.host},
}))
"""


def _airflow(env: dict[str, str], *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ENTRYPOINT), *args], env=env, capture_output=True, text=True, timeout=timeout)


def _until_healthy(
    service: str, env: dict[str, str], proc: subprocess.Popen[bytes], log: Path, rewrite: dict[str, str]
) -> None:
    """Run the service's compose healthcheck until it passes (the way Docker would)."""
    test = [_rewrite(part, rewrite) for part in COMPOSE["services"][service]["healthcheck"]["test"]]
    command = ["sh", "-c", test[1].replace("$$", "$")] if test[0] == "CMD-SHELL" else test[1:]
    deadline = time.monotonic() + 300
    while True:
        check = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        if check.returncode == 0:
            return
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, (
            f"{service} never healthy: {check.stdout}{check.stderr}\n{log.read_text()[-3000:]}"
        )
        time.sleep(2)


def _rewrite(text: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        text = text.replace(old, new)
    return text


def _stop(*procs: subprocess.Popen[bytes]) -> None:
    """SIGTERM to each service's process group (each started in a session of its own), as `docker stop` does;
    SIGKILL to what is left a minute later."""
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    for proc in procs:
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.mark.postgres
@pytest.mark.timeout(900)  # Airflow's migrations and six Airflow processes on a 2-core machine
def test_airflow_image_commands_on_postgres_and_redis(tmp_path: Path) -> None:
    _need(IMAGE_ENV / "bin" / "airflow", "the Airflow image's environment (make airflow-image-env)")
    assert ENTRYPOINT.stat().st_mode & stat.S_IXUSR
    with scratch_database("compose_airflow") as database_url:
        env = _airflow_env(tmp_path, database_url)
        home = Path(env["AIRFLOW_HOME"])
        # The image build writes the factory's DAG files into the DAGs folder.
        written = subprocess.run([str(IMAGE_ENV / "bin" / "python"), "-m", "tradeflow_airflow.dag_files",
                                  str(home / "dags")], env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert written.returncode == 0, written.stderr
        assert sorted(p.name for p in (home / "dags").iterdir()) == [
            "tradeflow_workflows.py",
            "tradeflow_workflows_check.py",
        ]

        migrate = _airflow(env, *COMPOSE["services"]["airflow-init"]["command"])
        assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-3000:]
        # One interpreter for what the CLI would need three start-ups for: executor, providers, the connection.
        probe = subprocess.run([str(IMAGE_ENV / "bin" / "python"), "-c", AIRFLOW_PROBE], env=env, capture_output=True,
                               text=True, timeout=180)  # fmt: skip
        assert probe.returncode == 0, probe.stderr[-3000:]
        found = json.loads(probe.stdout.strip().splitlines()[-1])
        assert found["executor"] == "CeleryExecutor"
        assert {"tradeflow-airflow", "apache-airflow-providers-celery", "apache-airflow-providers-postgres"} <= set(
            found["providers"]
        )
        assert found["langgraph_default"] == {"conn_type": "langgraph", "host": "http://tradeflow:8000"}
        dags = _airflow(env, "dags", "list", "-o", "json")
        assert dags.returncode == 0, dags.stderr[-3000:]

        # The API server's entry point writes the admin password file from AIRFLOW_ADMIN_PASSWORD.
        admin = _interpolate(COMPOSE["services"]["airflow-api-server"]["environment"]["AIRFLOW_ADMIN_PASSWORD"],
                             {"AIRFLOW_ADMIN_PASSWORD": "test-admin-password"})  # fmt: skip
        version = _airflow({**env, "AIRFLOW_ADMIN_PASSWORD": admin}, "version")
        assert version.returncode == 0
        passwords = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
        assert json.loads(passwords.read_text()) == {"admin": "test-admin-password"}
        assert stat.S_IMODE(passwords.stat().st_mode) == 0o600

        # Every long-running Airflow service, started together as compose would, until its healthcheck passes.
        api_port = free_port()
        services = ("airflow-worker", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-api-server")  # fmt: skip
        running: dict[str, tuple[subprocess.Popen[bytes], Path, list[str]]] = {}
        try:
            for service in services:
                log = tmp_path / f"{service}.log"
                command = [arg.replace("8080", str(api_port)) for arg in COMPOSE["services"][service]["command"]]
                extra = {"AIRFLOW_ADMIN_PASSWORD": admin} if service == "airflow-api-server" else {}
                with log.open("wb") as out:
                    proc = subprocess.Popen([str(ENTRYPOINT), *command], env={**env, **extra}, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
                running[service] = (proc, log, command)
            for service, (proc, log, _) in running.items():
                _until_healthy(service, env, proc, log, {"127.0.0.1:8080": f"127.0.0.1:{api_port}"})
            # The admin password the entry point wrote is the one Airflow's API accepts (airflow_api_default).
            token = httpx.post(f"http://127.0.0.1:{api_port}/auth/token", timeout=30,
                               json={"username": "admin", "password": admin})  # fmt: skip
            assert token.status_code == 201, token.text
            wrong = httpx.post(f"http://127.0.0.1:{api_port}/auth/token", timeout=30,
                               json={"username": "admin", "password": "test-wrong"})  # fmt: skip
            assert wrong.status_code == 401
        finally:
            _stop(*(proc for proc, _, _ in running.values()))


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
            text = _interpolate(str(value), {**_env_defaults(), **secrets})
            text = text.replace("postgresql://tradeflow:test-unused@postgres:5432/langgraph", server_db)
            text = text.replace("postgresql://tradeflow:test-unused@postgres:5432/tradeflow", tradeflow_db)
            text = text.replace("redis://redis:6379/0", REDIS_URL)
            env[name] = text
        assert env["DATABASE_URL"] == server_db
        assert env["TRADEFLOW_DATABASE_URL"] == tradeflow_db
        assert env["AEGRA_CONFIG"] == "/app/langgraph.json"  # the image's WORKDIR is the repo: /app here is REPO
        (mount,) = service["configs"]
        backends = REPO / _interpolate(COMPOSE["configs"][mount["source"]]["file"], _env_defaults())
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
                deadline = time.monotonic() + 30
                while not (tradeflow_tables := _public_tables(tradeflow_db)):
                    assert time.monotonic() < deadline, "tradeflow wrote no table into its own database"
                    time.sleep(0.5)
                server_tables = _public_tables(server_db)
                assert server_tables, "Aegra wrote no table into its database"
                assert not server_tables & tradeflow_tables, sorted(server_tables & tradeflow_tables)
            finally:
                _stop(proc)


def _env_defaults() -> dict[str, str]:
    from tests.unit.test_compose import _env_example

    return _env_example()
