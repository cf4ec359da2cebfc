"""YAML with the line of every key and list item, so a spec error can name file, line and field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from versioning.errors import SpecError, SpecProblem

Path = tuple[str | int, ...]


def load_yaml(text: str, file: str) -> tuple[Any, dict[Path, int]]:
    """Parse ``text``; return the data and a map from each key path to its (1-based) line."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError([SpecProblem(file, 1, "(document)", "the file is empty; expected a workflow spec")])
        lines: dict[Path, int] = {}
        _walk(node, (), lines, file)
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark is not None else None
        raise SpecError([SpecProblem(file, line, "(yaml)", f"invalid YAML: {problem}")]) from None
    finally:
        loader.dispose()
    return data, lines


def _walk(node: yaml.Node, path: Path, lines: dict[Path, int], file: str) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise SpecError(
                    [SpecProblem(file, key_node.start_mark.line + 1, format_path((*path, key)), "duplicate key")]
                )
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, file)


def format_path(path: Sequence[str | int]) -> str:
    """``('steps', 1, 'prompt')`` as ``steps[1].prompt``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(document)"


def locate(data: Any, loc: Sequence[str | int]) -> Path:
    """The longest prefix of a validation error's ``loc`` that exists in ``data`` (drops union tags)."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
    return tuple(path)


def line_of(lines: dict[Path, int], path: Path) -> int | None:
    """The line of ``path``, or of its nearest ancestor that has one."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None
