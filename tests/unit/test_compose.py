"""The compose stack, read without a Docker engine: files, variables, ports, profiles, health and secrets agree.

docker-compose.yml (the licence-free server, Airflow, Postgres, Redis, Prometheus, Grafana, Ollama, vLLM) and
docker-compose.licensed.yml (langgraph-api) are parsed as compose reads them (YAML merge keys included); every file
they name must exist, every ``${VAR}`` must be in .env.example, secrets must never get a value in either file. The
commands the services run are exercised outside Docker in tests/integration/test_compose_commands.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MAIN = REPO / "docker-compose.yml"
LICENSED = REPO / "docker-compose.licensed.yml"
FILES = (MAIN, LICENSED)
PROFILES = {"aegra", "licensed", "gpu"}
SERVERS = ("aegra", "langgraph-api")
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}; $${...} is a literal dollar.
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}")
SECRET = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY)$")


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def _services() -> dict[str, dict[str, Any]]:
    """Both files' services, as `docker compose -f docker-compose.yml -f docker-compose.licensed.yml` sees them."""
    services: dict[str, dict[str, Any]] = {}
    for path in FILES:
        for name, service in _load(path)["services"].items():
            assert name not in services, f"{name} is defined in both compose files"
            services[name] = service
    return services


def _uncommented(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def _references(text: str) -> Iterator[tuple[str, str | None, str]]:
    """(name, operator, argument) for every variable reference outside comments, nested defaults included."""
    for match in VARIABLE.finditer(_uncommented(text)):
        name, operator, argument = match.group(1), match.group(2), match.group(3) or ""
        yield name, operator, argument
        yield from _references(argument)


def _interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation of ``text`` with ``env`` (unset and empty alike fall to the default)."""

    def substitute(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3) or ""
        value = env.get(name, "")
        if operator in (":-", "-"):
            return value or _interpolate(argument, env)
        if operator in (":?", "?"):
            assert value, f"{name} is required: {argument}"
            return value
        return value

    return VARIABLE.sub(substitute, text).replace("$$", "$")


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def test_both_files_parse_and_every_service_has_an_image() -> None:
    services = _services()
    expected = {
        "postgres", "redis", "aegra", "langgraph-api", "airflow-init", "airflow-api-server", "airflow-scheduler",
        "airflow-dag-processor", "airflow-triggerer", "airflow-worker", "prometheus", "grafana", "ollama", "vllm",
    }  # fmt: skip
    assert set(services) == expected
    for name, service in services.items():
        image = service["image"]
        if "build" in service:
            assert image.startswith("tradeflow-"), (name, image)  # our images, tagged TRADEFLOW_IMAGE_TAG
        else:  # third-party images are pinned to a version, never latest
            repository, _, tag = image.rpartition(":")
            assert repository, (name, image)
            assert tag not in ("", "latest"), (name, image)
            assert "$" not in tag, (name, image)
    assert services["postgres"]["image"].startswith("timescale/timescaledb:")


def test_every_file_a_service_names_exists() -> None:
    env = _env_example()
    for path in FILES:
        compose = _load(path)
        for name, service in compose["services"].items():
            if "build" in service:
                context = REPO / service["build"]["context"]
                dockerfile = context / service["build"]["dockerfile"]
                assert context.is_dir(), (name, context)
                assert dockerfile.is_file(), (name, dockerfile)
                for source in _copied_sources(dockerfile):
                    assert (context / source).exists(), f"{dockerfile.name} copies {source}, which does not exist"
            for volume in service.get("volumes", []):
                source = _interpolate(volume.split(":", 1)[0], env)
                if source.startswith("./"):
                    assert (REPO / source).exists(), f"{name} mounts {source}, which does not exist"
        for config in compose.get("configs", {}).values():
            assert (REPO / _interpolate(config["file"], env)).is_file(), config
    init = REPO / "deploy" / "postgres" / "10-tradeflow-databases.sh"
    assert init.stat().st_mode & 0o111, "the Postgres init script must be executable"


def _copied_sources(dockerfile: Path) -> Iterator[str]:
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if words and words[0] in ("COPY", "ADD") and not any(w.startswith("--from") for w in words):
            yield from (w for w in words[1:-1] if not w.startswith("--"))


def test_images_install_from_the_lock_files() -> None:
    uv_version = re.search(r"^UV_VERSION := (\S+)", (REPO / "Makefile").read_text(), re.M)
    assert uv_version
    deploy = REPO / "deploy" / "docker"
    for name, lock_dir in (("aegra.Dockerfile", "deploy/aegra"), ("airflow.Dockerfile", "airflow_bridge")):
        text = (deploy / name).read_text()
        assert f"ARG UV_VERSION={uv_version.group(1)}" in text, name  # the uv the Makefile pins
        syncs = [line for line in text.splitlines() if "uv sync" in line]
        assert syncs, name
        for line in syncs:
            assert "--frozen" in line, line
            assert "--no-dev" in line, line
        assert f"{lock_dir}/uv.lock" in text, name
    airflow = (deploy / "airflow.Dockerfile").read_text()
    assert "--group deploy" in airflow  # Celery and the Postgres driver, from the bridge's lock
    bridge = (REPO / "airflow_bridge" / "pyproject.toml").read_text()
    assert "apache-airflow-providers-celery" in bridge.split("deploy = [", 1)[1]
    # The Airflow image's build context is the repo root, narrowed by its own ignore file to what it copies.
    ignore = (deploy / "airflow.Dockerfile.dockerignore").read_text().splitlines()
    assert "*" in ignore  # everything else stays out (the bridge's .venv, the server's code)
    for source in _copied_sources(deploy / "airflow.Dockerfile"):
        assert f"!{source.rstrip('/')}" in ignore, source


def test_every_variable_is_in_env_example_and_secrets_have_no_value() -> None:
    example = _env_example()
    referenced: set[str] = set()
    required: set[str] = set()
    for path in FILES:
        text = path.read_text()
        for name, operator, argument in _references(text):
            referenced.add(name)
            if operator in (":?", "?"):
                required.add(name)
                assert operator == ":?", f"{path.name}: {name} must be ${{{name}:?message}}"
                assert argument, f"{path.name}: ${{{name}:?}} must say what to set"
            if SECRET.search(name) and operator in (":-", "-"):  # no default, or another variable only
                assert VARIABLE.sub("", argument) == "", f"{path.name}: secret {name} has a default value"
    assert referenced <= set(example), sorted(referenced - set(example))
    for name in sorted(required):
        assert example[name] == "", f"{name} is required: .env.example must leave it empty so compose names it"
    for name, value in example.items():
        if SECRET.search(name):
            assert value == "", f"secret {name} has a value in .env.example"
    secrets = {
        "POSTGRES_PASSWORD", "TRADEFLOW_DB_PASSWORD", "AIRFLOW_DB_PASSWORD", "GRAFANA_DB_PASSWORD",
        "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_SECRET_KEY", "AIRFLOW_ADMIN_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD", "TRADEFLOW_API_KEY", "TRADEFLOW_METRICS_TOKEN", "LANGGRAPH_CLOUD_LICENSE_KEY",
    }  # fmt: skip
    assert secrets <= required, sorted(secrets - required)


def test_licence_variables_are_required_only_by_the_licensed_file() -> None:
    """Compose checks ${VAR:?} in every service of the files it reads, whatever the profiles: a licence variable
    required in docker-compose.yml would stop the licence-free stack from starting."""
    main = {name for name, _, _ in _references(MAIN.read_text())}
    assert not main & {"LANGGRAPH_CLOUD_LICENSE_KEY", "LANGSMITH_API_KEY"}
    licensed = {name for name, operator, _ in _references(LICENSED.read_text()) if operator == ":?"}
    assert "LANGGRAPH_CLOUD_LICENSE_KEY" in licensed
    # With .env.example's values plus the secrets, the main file interpolates without any licence variable.
    env = {**_env_example(), **{name: "x" for name, op, _ in _references(MAIN.read_text()) if op == ":?"}}
    _interpolate(_uncommented(MAIN.read_text()), env)


def test_profiles_are_the_documented_ones() -> None:
    services = _services()
    used = {profile for service in services.values() for profile in service.get("profiles", [])}
    assert used == PROFILES
    assert services["aegra"]["profiles"] == ["aegra"]
    assert services["langgraph-api"]["profiles"] == ["licensed"]
    assert services["vllm"]["profiles"] == ["gpu"]
    default = _env_example()["COMPOSE_PROFILES"].split(",")
    assert default == ["aegra"]  # the licence-free server unless .env says otherwise
    deploy_doc = (REPO / "docs" / "deploy.md").read_text()
    for profile in PROFILES:
        assert f"--profile {profile}" in deploy_doc or f"COMPOSE_PROFILES={profile}" in deploy_doc, profile


def test_depends_on_targets_exist_are_healthy_and_share_the_profile() -> None:
    services = _services()
    for name, service in services.items():
        one_shot = service.get("restart") == "no"
        if not one_shot:
            assert "healthcheck" in service, f"{name} has no healthcheck"
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on must name a condition for each service"
        for target, rule in depends_on.items():
            assert target in services, f"{name} depends on {target}, which does not exist"
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}'s health, it has no check"
            else:
                assert condition == "service_completed_successfully", (name, target, condition)
                assert services[target].get("restart") == "no", f"{target} is not a one-shot service"
            # A service that always runs cannot wait for one that runs only under a profile.
            assert set(services[target].get("profiles", [])) <= set(service.get("profiles", [])), (name, target)


def test_host_ports_do_not_collide_and_bind_to_loopback_by_default() -> None:
    env = _env_example()
    taken: dict[tuple[str, str], str] = {}
    for name, service in _services().items():
        for port in service.get("ports", []):
            host_ip, host_port, container_port = _interpolate(str(port), env).rsplit(":", 2)
            assert host_ip == "127.0.0.1", f"{name} publishes {host_port} beyond this host by default"
            key = (host_ip, host_port)
            # The two servers share the port on purpose: only one of them runs (their profiles differ).
            if key in taken and {taken[key], name} != set(SERVERS):
                pytest.fail(f"{name} and {taken[key]} both publish {host_ip}:{host_port}")
            taken[key] = name
            assert container_port.isdigit()
    assert "postgres" not in {n for n, s in _services().items() if s.get("ports")}  # reached through compose only


def _tradeflow_environment(service: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in service["environment"].items() if k.startswith(("TRADEFLOW_", "OPENAI_", "OLLAMA_"))}


def test_both_servers_get_the_same_tradeflow_settings_and_separate_databases() -> None:
    services = _services()
    aegra, licensed = services["aegra"], services["langgraph-api"]
    shared = {k: v for k, v in _tradeflow_environment(aegra).items() if k != "TRADEFLOW_DATABASE_URL"}
    assert shared == {k: v for k, v in _tradeflow_environment(licensed).items() if k != "TRADEFLOW_DATABASE_URL"}
    assert aegra["environment"]["TRADEFLOW_ENV"] == "production"
    # The server's own tables in one database, tradeflow's in another (deploy/postgres/ creates both).
    assert aegra["environment"]["DATABASE_URL"].endswith("@postgres:5432/langgraph")
    assert aegra["environment"]["TRADEFLOW_DATABASE_URL"].endswith("@postgres:5432/tradeflow")
    assert licensed["environment"]["DATABASE_URI"].endswith("@postgres:5432/langgraph")
    assert licensed["environment"]["DATABASE_URL"].endswith("@postgres:5432/tradeflow")
    assert licensed["environment"]["TRADEFLOW_DATABASE_URL"] == licensed["environment"]["DATABASE_URL"]
    for server in (aegra, licensed):
        assert server["environment"]["TRADEFLOW_ROUTER_CONFIG"] == "/etc/tradeflow/backends.yaml"
        assert server["configs"] == [{"source": "backends", "target": "/etc/tradeflow/backends.yaml"}]
        assert server["networks"]["default"]["aliases"] == ["tradeflow"]  # Airflow and Prometheus use the alias
        assert server["ports"] == ["${TRADEFLOW_BIND:-127.0.0.1}:${TRADEFLOW_PORT:-2024}:8000"]
    script = (REPO / "deploy" / "postgres" / "10-tradeflow-databases.sh").read_text()
    for default in (
        "TRADEFLOW_DB:-tradeflow",
        "SERVER_DB:-langgraph",
        "AIRFLOW_DB:-airflow",
        "GRAFANA_DB_ROLE:-grafana_reader",
    ):
        assert default in script


def test_airflow_components_share_one_image_and_configuration() -> None:
    services = _services()
    airflow = {name: s for name, s in services.items() if name.startswith("airflow-")}
    commands = {name: s["command"][0] for name, s in airflow.items()}
    assert commands == {
        "airflow-init": "db", "airflow-api-server": "api-server", "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer", "airflow-worker": "celery",
    }  # fmt: skip
    images = {s["image"] for s in airflow.values()}
    assert images == {"tradeflow-airflow:${TRADEFLOW_IMAGE_TAG:-latest}"}
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:6379/")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")
    connection = env["AIRFLOW_CONN_LANGGRAPH_DEFAULT"]
    operator = json.loads(_interpolate(connection, {"TRADEFLOW_AIRFLOW_API_KEY": "op", "TRADEFLOW_API_KEY": "admin"}))
    assert operator == {"conn_type": "langgraph", "host": "http://tradeflow:8000", "password": "op"}
    bootstrap = json.loads(_interpolate(connection, {"TRADEFLOW_API_KEY": "admin"}))
    assert bootstrap["password"] == "admin"  # until an operator key is set
    for name, service in airflow.items():
        if name != "airflow-init":
            assert service["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}, name
    assert "AIRFLOW_ADMIN_PASSWORD" in services["airflow-api-server"]["environment"]


def test_prometheus_scrapes_the_server_with_the_token_file() -> None:
    services = _services()
    prometheus = services["prometheus"]
    compose = _load(MAIN)
    secret_name = "tradeflow_metrics_token"
    assert compose["secrets"][secret_name] == {"environment": "TRADEFLOW_METRICS_TOKEN"}
    assert prometheus["secrets"] == [secret_name]
    config = _load(REPO / "analytics" / "prometheus" / "compose.yml")
    (job,) = config["scrape_configs"]
    assert job["authorization"] == {"type": "Bearer", "credentials_file": f"/run/secrets/{secret_name}"}
    assert job["dns_sd_configs"][0]["names"] == ["tradeflow"]
    assert job["dns_sd_configs"][0]["port"] == 8000
    mounts = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"] if v.startswith("./")}
    assert mounts["/etc/prometheus/prometheus.yml"] == "./analytics/prometheus/compose.yml"
    assert mounts["/etc/prometheus/rules.yml"] == "./analytics/prometheus/rules.yml"
    assert config["rule_files"] == ["rules.yml"]  # beside the config file, where compose mounts it


def test_grafana_provisioning_parses_and_points_at_the_mounts() -> None:
    grafana = _services()["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"] if v.startswith("./")}
    provisioning = REPO / mounts["/etc/grafana/provisioning"]
    (datasources,) = (provisioning / "datasources").glob("*.yml")
    sources = yaml.safe_load(datasources.read_text())["datasources"]
    uids = {s["uid"] for s in sources}
    postgres = next(s for s in sources if s["type"] == "grafana-postgresql-datasource")
    assert postgres["user"] == "grafana_reader"
    assert postgres["jsonData"]["database"] == "tradeflow"
    # Grafana fills $VAR in provisioning files from its environment.
    for name in re.findall(r"\$\{?([A-Z_]+)", _uncommented(datasources.read_text())):
        assert name in grafana["environment"], name
    (dashboards,) = (provisioning / "dashboards").glob("*.yml")
    (provider,) = yaml.safe_load(dashboards.read_text())["providers"]
    folder = REPO / mounts[provider["options"]["path"]]
    boards = sorted(folder.glob("*.json"))
    assert boards
    for board in boards:
        used = set(re.findall(r'"uid": "(prometheus|postgres)"', board.read_text()))
        assert json.loads(board.read_text())["uid"]
        assert used <= uids, (board.name, used - uids)


def test_the_mounted_backend_table_loads_with_the_compose_environment() -> None:
    from router.config import load_config

    env = _env_example()
    services = _services()
    table = REPO / _interpolate(_load(MAIN)["configs"]["backends"]["file"], env)
    server_env = {k: _interpolate(str(v), {**env, "TRADEFLOW_API_KEY": "k", "TRADEFLOW_METRICS_TOKEN": "t"})
                  for k, v in services["aegra"]["environment"].items() if not k.endswith("DATABASE_URL")}  # fmt: skip
    config = load_config(table, {k: v for k, v in server_env.items() if v})
    names = {backend.name for backend in config.backends}
    assert {"ollama", "vllm", "openai-mini"} <= names
    ollama = next(b for b in config.backends if b.name == "ollama")
    assert ollama.base_url == "http://ollama:11434"
