"""Python types built from a spec's fields: state TypedDicts, context dataclasses, JSON answer models."""

from __future__ import annotations

import copy
import dataclasses
import functools
import operator
from collections.abc import Mapping
from typing import Annotated, Any, Literal, NotRequired, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model
from typing_extensions import TypedDict

from versioning.spec import Answer, FieldSpec, StateField

_SCALARS: dict[str, Any] = {
    "string": str, "number": float, "integer": int, "boolean": bool, "object": dict[str, Any], "any": Any,
}  # fmt: skip
_STRICT = ConfigDict(extra="forbid")


def python_type(spec: FieldSpec) -> Any:
    """The annotation for one field."""
    if spec.enum:
        return Literal[tuple(spec.enum)]
    if spec.type == "array":
        return list[_SCALARS[spec.items or "any"]]  # type: ignore[misc]
    return _SCALARS[spec.type]


def described(annotation: Any, description: str) -> Any:
    """``annotation`` carrying a description Studio shows (kept out of the way of LangGraph's reducers)."""
    return Annotated[annotation, Field(description=description)] if description else annotation


def typed_dict(name: str, fields: Mapping[str, Any], *, total: bool, strict: bool = False) -> type:
    """A TypedDict named ``name`` with ``fields`` (name -> annotation)."""
    annotations = {key: value if total else NotRequired[value] for key, value in fields.items()}
    made: type = TypedDict(name, annotations)  # type: ignore[misc]
    if strict:
        made.__pydantic_config__ = _STRICT  # type: ignore[attr-defined]
    return made


def input_typed_dict(name: str, fields: Mapping[str, FieldSpec]) -> type:
    """A strict input TypedDict: optional fields are NotRequired, unknown fields refused."""
    annotations = {}
    for key, spec in fields.items():
        annotation = described(python_type(spec), spec.description)
        annotations[key] = annotation if spec.required else NotRequired[annotation]
    made: type = TypedDict(name, annotations)  # type: ignore[misc]
    made.__pydantic_config__ = _STRICT  # type: ignore[attr-defined]
    return made


def state_annotation(spec: StateField) -> Any:
    """The state annotation of one declared field; 'append' fields concatenate parallel writes."""
    if spec.reducer == "append":
        return Annotated[list[Any], Field(description=spec.description), operator.add]
    return described(python_type(spec), spec.description)


def type_hints(schema: type) -> dict[str, Any]:
    """The annotations of a TypedDict or dataclass, with Annotated metadata kept."""
    return get_type_hints(schema, include_extras=True)


def context_dataclass(name: str, knobs: Mapping[str, FieldSpec]) -> type:
    """A frozen dataclass of knobs with their defaults (the graph's ``context_schema``)."""
    specs = []
    for key, spec in knobs.items():
        annotation = python_type(spec) | None if spec.default is None else python_type(spec)
        default = spec.default
        if isinstance(default, dict | list):
            value = dataclasses.field(default_factory=functools.partial(copy.deepcopy, default))
        else:
            value = dataclasses.field(default=default)
        specs.append((key, described(annotation, spec.description), value))
    made = dataclasses.make_dataclass(name, specs, frozen=True)
    made.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]
    return made


def answer_model(answer: Answer) -> type[BaseModel]:
    """The pydantic model of a JSON answer (its JSON Schema is what the model is asked for)."""
    definitions: dict[str, Any] = {
        key: (python_type(spec), Field(description=spec.description) if spec.description else Field())
        for key, spec in answer.fields.items()
    }
    model: type[BaseModel] = create_model(
        answer.name, __config__=_STRICT, __doc__=answer.description or None, **definitions
    )
    return model
