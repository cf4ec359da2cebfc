# tradeflow: `make run` serves the graphs, `make test` runs the whole suite. `make` lists the targets.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Compile site-packages to bytecode at install: where PYTHONDONTWRITEBYTECODE is set (as on CI machines here)
# nothing would ever be cached, and every process would compile openai, langchain & co. from source at start-up.
export UV_COMPILE_BYTECODE := 1
# The Airflow bridge has its own project and environment (Airflow and the server cannot share one), on 3.12.
BRIDGE := airflow_bridge
BRIDGE_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) $(shell command -v python3.12))
# Aegra (the licence-free server) has its own project too: aegra-api needs Python 3.12 and its own FastAPI stack.
AEGRA := deploy/aegra

.DEFAULT_GOAL := help
.PHONY: help env bridge-env airflow-image-env aegra-env run test lint type fmt bench lock dockerfile compose-check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-17s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

env: $(VENV)/.synced ## create or update the virtualenv from uv.lock

$(BRIDGE)/.venv/.synced: $(BRIDGE)/pyproject.toml $(BRIDGE)/uv.lock | $(UV)
	@test -n "$(BRIDGE_PYTHON)" || { echo "the Airflow bridge needs Python 3.12 (set BRIDGE_PYTHON)"; exit 1; }
	cd $(BRIDGE) && UV_PROJECT_ENVIRONMENT=.venv ../$(UV) sync --frozen --python $(BRIDGE_PYTHON)
	@touch $@

bridge-env: $(BRIDGE)/.venv/.synced ## create or update the Airflow bridge's virtualenv from its uv.lock

# What the compose stack's Airflow image installs (deploy/docker/airflow.Dockerfile: the bridge's lock with its deploy
# group, Celery and the Postgres driver), so the tests can run the image's commands here without Docker.
$(BRIDGE)/.venv-image/.synced: $(BRIDGE)/pyproject.toml $(BRIDGE)/uv.lock | $(UV)
	@test -n "$(BRIDGE_PYTHON)" || { echo "the Airflow image's environment needs Python 3.12 (set BRIDGE_PYTHON)"; exit 1; }
	cd $(BRIDGE) && UV_PROJECT_ENVIRONMENT=.venv-image ../$(UV) sync --frozen --no-dev --group deploy --python $(BRIDGE_PYTHON)
	@touch $@

airflow-image-env: $(BRIDGE)/.venv-image/.synced ## the compose Airflow image's environment, for the compose tests

$(AEGRA)/.venv/.synced: $(AEGRA)/pyproject.toml $(AEGRA)/uv.lock pyproject.toml | $(UV)
	@test -n "$(BRIDGE_PYTHON)" || { echo "Aegra needs Python 3.12 (set BRIDGE_PYTHON)"; exit 1; }
	cd $(AEGRA) && UV_PROJECT_ENVIRONMENT=.venv ../../$(UV) sync --frozen --python $(BRIDGE_PYTHON)
	@touch $@

aegra-env: $(AEGRA)/.venv/.synced ## create or update Aegra's virtualenv (aegra-api + tradeflow) from its uv.lock

run: env ## start the LangGraph server on the embedded default (no Postgres needed)
	$(VENV)/bin/tradeflow serve

test: env bridge-env airflow-image-env aegra-env ## run the whole test suite, then the Airflow bridge's (starts the servers the tests need)
	$(VENV)/bin/pytest; status=$$?; \
	(cd $(BRIDGE) && .venv/bin/pytest) || status=1; \
	exit $$status

lint: env ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

type: env bridge-env ## mypy (strict for product code; the bridge in its own environment)
	$(VENV)/bin/mypy
	cd $(BRIDGE) && .venv/bin/mypy

fmt: env ## format the code
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: env bridge-env aegra-env ## run the benchmarks (installs the bench group: litellm, for side-by-side figures)
	$(UV) sync --frozen --python $(PYTHON) --group bench
	LITELLM_LOCAL_MODEL_COST_MAP=True $(VENV)/bin/python benchmarks/router_decision.py
	LITELLM_LOCAL_MODEL_COST_MAP=True $(VENV)/bin/python benchmarks/router_overhead.py
	$(VENV)/bin/python benchmarks/startup.py
	$(VENV)/bin/python benchmarks/server_throughput.py
	$(VENV)/bin/python benchmarks/server_load.py
	$(VENV)/bin/python benchmarks/analytics_callbacks.py
	$(VENV)/bin/python benchmarks/analytics_ingest.py
	$(VENV)/bin/python benchmarks/analytics_report.py
	$(VENV)/bin/python benchmarks/versioning_store.py
	$(VENV)/bin/python benchmarks/versioning_resolve.py
	$(VENV)/bin/python benchmarks/versioning_overhead.py
	cd $(BRIDGE) && .venv/bin/python benchmarks/airflow_operator.py
	$(UV) sync --frozen --python $(PYTHON)

lock: $(UV) ## refresh uv.lock (and the bridge's) after editing a pyproject.toml
	$(UV) lock --python $(PYTHON)
	cd $(BRIDGE) && ../$(UV) lock --python $(BRIDGE_PYTHON)
	cd $(AEGRA) && ../../$(UV) lock --python $(BRIDGE_PYTHON)

dockerfile: env ## regenerate deploy/docker/langgraph-api.Dockerfile (the licensed server's image) from langgraph.json
	$(VENV)/bin/python deploy/docker/langgraph_api_dockerfile.py

# No Docker here: compose-spec (the Rust compose_spec crate's Python bindings) validates the merged configuration.
compose-check: env ## validate the compose files (interpolated with .env.example) against the compose spec
	test -x .tools/compose-spec/bin/python || $(PYTHON) -m venv .tools/compose-spec
	.tools/compose-spec/bin/pip install --quiet --disable-pip-version-check compose-spec==0.2.1
	$(VENV)/bin/python -m tests.support.compose_config > .tools/compose-config.yml
	.tools/compose-spec/bin/python -c "import sys; from compose_spec import PyCompose; \
		c = PyCompose.from_yaml(open(sys.argv[1]).read()); print('valid:', len(c.service_names()), 'services')" \
		.tools/compose-config.yml
