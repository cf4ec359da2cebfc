"""The backend table: the default loads, and errors name the file, the entry and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.config import DEFAULT_CONFIG, load_config, parse_config
from router.errors import RouterConfigError


def test_default_table_has_ollama_vllm_and_openai() -> None:
    config = load_config(env={})
    assert {b.kind for b in config.backends} == {"ollama", "vllm", "openai"}
    openai = [b for b in config.backends if b.kind == "openai"]
    assert all(b.api_key_env == "OPENAI_API_KEY" for b in openai)
    assert "sk-" not in DEFAULT_CONFIG.read_text()


def test_environment_fills_the_table() -> None:
    config = load_config(env={"OLLAMA_BASE_URL": "http://gpu-box:11434", "TRADEFLOW_OLLAMA_MODEL": "qwen2.5"})
    ollama = next(b for b in config.backends if b.kind == "ollama")
    assert (ollama.base_url, ollama.model) == ("http://gpu-box:11434", "qwen2.5")


def _entry(**overrides: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "name": "local", "kind": "ollama", "model": "m", "base_url": "http://h:1",
        "context_window": 8192, "max_output_tokens": 1024,
    }  # fmt: skip
    entry.update(overrides)
    return entry


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (_entry(context_window=-1), "backends[1] (local).context_window: Input should be greater than 0"),
        (_entry(kind="azure"), "backends[1] (local).kind: Input should be 'openai', 'ollama', 'vllm'"),
        (_entry(prices={"input_per_1m": 1}), "backends[1] (local): Value error, prices are no longer set per backend"),
        (_entry(base_url=None), "backends[1] (local): Value error, base_url is required for kind 'ollama'"),
        (_entry(api_key_env="sk-123"), "backends[1] (local).api_key_env: String should match pattern"),
        (_entry(colour="red"), "backends[1] (local).colour: Extra inputs are not permitted"),
    ],
)
def test_errors_name_entry_and_field(entry: dict[str, object], message: str) -> None:
    with pytest.raises(RouterConfigError) as info:
        parse_config({"backends": [_entry(name="ok"), entry]}, "table.yaml")
    assert str(info.value).startswith("table.yaml: ")
    assert message in str(info.value)


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(RouterConfigError, match="backend name 'ok' is used twice"):
        parse_config({"backends": [_entry(name="ok"), _entry(name="ok")]}, "t.yaml")


def test_unset_variable_without_default_names_it(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("backends:\n  - name: x\n    base_url: ${MY_URL}\n")
    with pytest.raises(RouterConfigError, match=r"MY_URL is not set and has no default"):
        load_config(path, env={})
    with pytest.raises(RouterConfigError, match="file not found"):
        load_config(tmp_path / "missing.yaml", env={})
