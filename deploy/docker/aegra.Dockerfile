# syntax=docker/dockerfile:1
# The licence-free server (docker-compose.yml's `aegra` service, profile aegra): Aegra (aegra-api, Apache-2.0) serving
# langgraph.json's graphs on Postgres + Redis, installed from deploy/aegra/uv.lock (Python 3.12; tradeflow itself
# from this checkout, at the versions that lock pins). Build context: the repo root (.dockerignore).
FROM python:3.12-slim-bookworm

# The uv the Makefile pins (UV_VERSION there).
ARG UV_VERSION=0.13.9
ENV UV_PROJECT_ENVIRONMENT=/opt/aegra \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/aegra/bin:$PATH
RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
 && useradd --system --create-home --uid 10001 tradeflow \
 && install -d -o tradeflow /var/lib/tradeflow /var/lib/tradeflow-workflows

WORKDIR /app
# Third-party packages first, in a layer that changes only with the lock files; then the code.
COPY pyproject.toml uv.lock /app/
COPY deploy/aegra/pyproject.toml deploy/aegra/uv.lock /app/deploy/aegra/
RUN cd deploy/aegra && uv sync --frozen --no-dev --no-install-package tradeflow
COPY . /app
RUN cd deploy/aegra && uv sync --frozen --no-dev

USER tradeflow
ENV AEGRA_CONFIG=/app/langgraph.json \
    TRADEFLOW_DATA_DIR=/var/lib/tradeflow
EXPOSE 8000
CMD ["uvicorn", "aegra_api.main:app", "--host", "0.0.0.0", "--port", "8000"]
