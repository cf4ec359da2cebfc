"""Regression: /router/backends and `tradeflow backends` showed a backend URL with its credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import settings_from_mapping
from router.runtime import router_for
from router.status import backend_status
from tests.conftest import PRICES_DOUBLE


def test_backend_urls_are_shown_without_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = tmp_path / "table.yaml"
    table.write_text(
        "backends:\n"
        "  - {name: gw, kind: openai, model: test-model, base_url: 'https://svc:test-pw-81f@gw.internal/v1?api_key=q-77e',\n"
        "     api_key_env: OPENAI_API_KEY, context_window: 8000, max_output_tokens: 1000}\n"
    )
    settings = settings_from_mapping({
        "TRADEFLOW_ROUTER_CONFIG": str(table), "TRADEFLOW_PRICES_FILE": str(PRICES_DOUBLE),
        "OPENAI_API_KEY": "test-key-for-double", "TRADEFLOW_DATA_DIR": str(tmp_path),
    })  # fmt: skip
    [row] = backend_status(router_for(settings))
    assert row["base_url"] == "https://svc:***@gw.internal/v1?api_key=***"
