"""Deterministic answers for the LLM server double: free text and JSON-schema instances from a prompt."""

from __future__ import annotations

import hashlib
import json
from typing import Any

_WORDS = (
    "desk exposure settles within tolerance while custodian confirms book quantity across accounts "
    "price moved overnight operations should review limits counterparty instruction matched pending"
).split()


def digest(text: str) -> str:
    """A stable hex digest of ``text``."""
    return hashlib.sha256(text.encode()).hexdigest()


def _pick(seed: str, n: int) -> int:
    return int(digest(seed)[:8], 16) % n


def count_tokens(text: str) -> int:
    """Whitespace token count: what the double reports as usage."""
    return len(text.split())


def text_answer(model: str, prompt: str, words: int = 24) -> str:
    """A free-text answer that depends only on the model and the prompt."""
    seed = digest(f"{model}\n{prompt}")
    chosen = [_WORDS[int(seed[i % 56 : i % 56 + 8], 16) % len(_WORDS)] for i in range(words)]
    return f"[{model}:{seed[:8]}] " + " ".join(chosen) + "."


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node[part]
        return _resolve(node, root)
    return schema


def schema_instance(schema: dict[str, Any], seed: str, root: dict[str, Any] | None = None, path: str = "") -> Any:
    """A value valid for ``schema`` chosen deterministically from ``seed``."""
    root = root if root is not None else schema
    schema = _resolve(schema, root)
    here = f"{seed}/{path}"
    if "enum" in schema:
        return schema["enum"][_pick(here, len(schema["enum"]))]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if _resolve(o, root).get("type") != "null"] or schema[key]
            return schema_instance(options[0], seed, root, path)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: schema_instance(sub, seed, root, f"{path}.{name}") for name, sub in props.items()}
    if kind == "array":
        count = max(int(schema.get("minItems", 1)), 1)
        return [schema_instance(schema.get("items", {}), seed, root, f"{path}[{i}]") for i in range(count)]
    if kind == "string":
        return f"{path.rsplit('.', 1)[-1] or 'value'} {digest(here)[:6]}"
    if kind == "integer":
        return _pick(here, 100)
    if kind == "number":
        return round(_pick(here, 1000) / 1000, 3)
    if kind == "boolean":
        return _pick(here, 2) == 1
    return None


def json_answer(schema: dict[str, Any] | None, model: str, prompt: str) -> str:
    """A JSON document for ``schema`` (or a small generic object when there is none)."""
    seed = digest(f"{model}\n{prompt}")
    if schema is None:
        return json.dumps({"answer": text_answer(model, prompt, words=6)})
    return json.dumps(schema_instance(schema, seed))
