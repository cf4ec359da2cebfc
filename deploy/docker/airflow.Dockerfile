# syntax=docker/dockerfile:1
# Airflow 3.3 with the tradeflow provider (docker-compose.yml's airflow-* services): installed from
# airflow_bridge/uv.lock with its `deploy` group (the Celery executor on Redis, the Postgres metadata database).
# Build context: the repo root; deploy/docker/airflow.Dockerfile.dockerignore says what is sent.
FROM python:3.12-slim-bookworm

# The uv the Makefile pins (UV_VERSION there).
ARG UV_VERSION=0.13.9
ENV UV_PROJECT_ENVIRONMENT=/opt/airflow-venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    PYTHONUNBUFFERED=1 \
    AIRFLOW_HOME=/opt/airflow \
    PATH=/opt/airflow-venv/bin:$PATH
RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
 && useradd --system --create-home --uid 50000 --gid 0 airflow \
 && install -d -o airflow -g 0 /opt/airflow /opt/airflow/dags /opt/airflow/logs

WORKDIR /opt/tradeflow-airflow
COPY airflow_bridge/pyproject.toml airflow_bridge/uv.lock ./
RUN uv sync --frozen --no-dev --group deploy --no-install-project
COPY airflow_bridge/README.md ./README.md
COPY airflow_bridge/src ./src
RUN uv sync --frozen --no-dev --group deploy --no-editable

# The factory's two DAG files (one DAG per scheduled workflow spec on the server; docs/airflow.md).
RUN python -m tradeflow_airflow.dag_files /opt/airflow/dags && chown -R airflow:0 /opt/airflow/dags
COPY --chmod=0755 deploy/docker/airflow-entrypoint.sh /usr/local/bin/tradeflow-airflow-entrypoint

USER airflow
WORKDIR /opt/airflow
ENTRYPOINT ["/usr/local/bin/tradeflow-airflow-entrypoint"]
CMD ["version"]
