"""langgraph.json, docker-compose.yml and .env.example agree with each other and with the code."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from graphs.registry import GRAPHS

REPO = Path(__file__).resolve().parents[2]
CONFIG = json.loads((REPO / "langgraph.json").read_text())


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def test_langgraph_json_serves_every_registered_graph() -> None:
    assert CONFIG["$schema"].startswith("https://")
    assert CONFIG["dependencies"] == ["."]
    # No env file: langgraph dev would let .env override the process environment; Settings reads .env itself.
    assert "env" not in CONFIG
    assert set(CONFIG["graphs"]) == set(GRAPHS)
    for spec in [*CONFIG["graphs"].values(), CONFIG["checkpointer"]["path"], CONFIG["auth"]["path"]]:
        path, _, attr = spec.partition(":")
        source = (REPO / path).read_text()
        assert re.search(rf"^(async def |def |){attr}\b", source, re.M), spec
    assert CONFIG["auth"]["disable_studio_auth"] is True


def test_langgraph_dockerfile_is_generated(tmp_path: Path) -> None:
    target = tmp_path / "Dockerfile"
    cli = Path(sys.executable).parent / "langgraph"
    env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1"}
    proc = subprocess.run(
        [str(cli), "dockerfile", "-c", str(REPO / "langgraph.json"), str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    dockerfile = target.read_text()
    assert dockerfile.startswith("FROM langchain/langgraph-api:3.11")
    deps = f"/deps/{REPO.name}"  # the CLI names the folder after the checkout
    assert f"{deps}/core/persistence.py:server_checkpointer" in dockerfile
    assert f"{deps}/graphs/trade_break_triage/graph.py:graph" in dockerfile


def test_env_example_lists_every_setting_the_code_reads() -> None:
    from pydantic import AliasChoices

    from core.settings import Settings

    read = {
        str(name)
        for field in Settings.model_fields.values()
        for name in (
            field.validation_alias.choices
            if isinstance(field.validation_alias, AliasChoices)
            else [field.validation_alias]
        )
    }
    assert read, "no settings found: the pattern no longer matches core/settings.py"
    example = _env_example()
    assert read <= set(example), sorted(read - set(example))
    lines = (REPO / "router" / "backends.default.yaml").read_text().splitlines()
    table = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    from_table = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", table)) | set(re.findall(r"_env: ([A-Z_]+)", table))
    assert from_table <= set(example), sorted(from_table - set(example))
    for secret in ("OPENAI_API_KEY", "TRADEFLOW_API_KEY", "LANGSMITH_API_KEY"):
        assert example[secret] == "", f"{secret} must have no value in .env.example"


def test_compose_services_are_complete_and_agree_with_env_example() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    services = compose["services"]
    assert {"postgres", "redis", "tradeflow"} <= set(services)
    for name, service in services.items():
        assert "healthcheck" in service, f"service {name} has no healthcheck"
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services
            assert condition == {"condition": "service_healthy"}
    build = services["tradeflow"]["build"]
    assert (REPO / build["context"]).is_dir()
    for name, service in services.items():  # every file or folder a service mounts from the repo exists
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name} mounts {source}, which does not exist"
    assert {"prometheus", "grafana"} <= set(services)
    referenced = set(re.findall(r"\$\{([A-Z_]+)", text))
    assert referenced <= set(_env_example()), sorted(referenced - set(_env_example()))
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    assert {"POSTGRES_PASSWORD", "TRADEFLOW_API_KEY"} <= required
    environment = services["tradeflow"]["environment"]
    assert environment["DATABASE_URL"].startswith("postgresql://")
    assert environment["REDIS_URI"] == "redis://redis:6379"
    assert services["tradeflow"]["ports"] == ["${TRADEFLOW_PORT:-2024}:8000"]


def test_readme_quick_start_is_the_ci_command() -> None:
    readme = (REPO / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make run" in quick_start
    assert "make test" in quick_start
    assert "make test" in (REPO / ".ci" / "run").read_text()
