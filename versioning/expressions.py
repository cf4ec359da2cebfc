"""Conditions and prompt templates over a run's state: a small, safe subset of Python expressions.

``abs(trade_break.notional) > context.approval_threshold`` — names are state fields (or ``context``, or a
fan-out's item); ``a.b`` reads key ``b`` of a mapping (or attribute ``b`` of the context); literals,
comparisons, ``and``/``or``/``not``, arithmetic, ``x if c else y`` and a few functions (abs, len, min, max,
round, str, int, float, bool). Nothing else parses: no imports, no attribute calls, no dunder names.
Templates embed expressions in text as ``{expression}`` or ``{expression|json}``; ``{{`` and ``}}`` are braces.

Size is bounded before and after parsing (characters, then syntax-tree nodes and nesting depth, and the
number of placeholders in a template): a spec cannot make validation, or a run, spend unbounded time or
stack on one condition, and a bound crossed is an ordinary error naming the field.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import CodeType
from typing import Any

MAX_CHARS = 2_000
"""Longest expression, in characters."""
MAX_NODES = 400
"""Most syntax-tree nodes in one expression."""
MAX_DEPTH = 32
"""Deepest nesting of one expression's syntax tree."""
MAX_PLACEHOLDERS = 200
"""Most ``{expression}`` placeholders in one template."""

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs, "len": len, "min": min, "max": max, "round": round, "str": str, "int": int, "float": float,
    "bool": bool,
}  # fmt: skip
FILTERS: dict[str, Callable[[Any], str]] = {"json": lambda value: json.dumps(value, sort_keys=True, default=str)}
_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt,
    ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div,
    ast.FloorDiv, ast.Mod, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd, ast.Name, ast.Load, ast.Attribute,
    ast.Subscript, ast.Constant, ast.List, ast.Tuple, ast.Call, ast.IfExp,
)  # fmt: skip


class ExpressionSyntaxError(ValueError):
    """An expression or template that does not parse, or uses something not allowed."""


class ExpressionEvalError(LookupError):
    """An expression read a field the state does not have at run time."""


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        try:
            return obj[name]
        except KeyError:
            raise ExpressionEvalError(f"no field {name!r} (has: {', '.join(map(str, obj)) or 'none'})") from None
    try:
        return getattr(obj, name)
    except AttributeError:
        raise ExpressionEvalError(f"no field {name!r}") from None


class _Rewrite(ast.NodeTransformer):
    """``a.b`` becomes ``_get(a, 'b')`` so it reads mapping keys as well as attributes."""

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        value = self.visit(node.value)
        call = ast.Call(ast.Name("_get", ast.Load()), [value, ast.Constant(node.attr)], [])
        return ast.copy_location(call, node)


@dataclass(frozen=True)
class Expression:
    """A parsed expression; ``names`` are the root names it reads."""

    source: str
    names: frozenset[str]
    code: CodeType

    def evaluate(self, namespace: Mapping[str, Any]) -> Any:
        """The value over ``namespace`` (state fields, ``context``, ...)."""
        scope = {**FUNCTIONS, **namespace, "_get": _get}
        try:
            return eval(self.code, {"__builtins__": {}}, scope)  # a checked AST, without builtins
        except NameError as exc:
            raise ExpressionEvalError(f"{self.source!r}: {exc}") from None
        except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError) as exc:
            raise ExpressionEvalError(f"{self.source!r}: {type(exc).__name__}: {exc}") from None
        except ExpressionEvalError as exc:
            raise ExpressionEvalError(f"{self.source!r}: {exc}") from None


def parse_expression(source: str) -> Expression:
    """Parse and check an expression; :class:`ExpressionSyntaxError` says what is wrong."""
    text = source.strip()
    if len(text) > MAX_CHARS:
        raise ExpressionSyntaxError(f"expression is {len(text):,} characters long; at most {MAX_CHARS:,} allowed "
                                    f"(starts {text[:40]!r})")  # fmt: skip
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionSyntaxError(f"{source!r} is not a valid expression: {exc.msg}") from None
    except (RecursionError, MemoryError):  # the parser's own nesting limit
        raise ExpressionSyntaxError(f"expression nests deeper than {MAX_DEPTH} levels (starts {text[:40]!r})") from None
    _check_size(tree, text)
    names: set[str] = set()
    called: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ExpressionSyntaxError(f"{source!r}: {type(node).__name__} is not allowed in an expression")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
                raise ExpressionSyntaxError(f"{source!r}: only {', '.join(FUNCTIONS)} can be called")
            called.add(id(node.func))
        elif isinstance(node, ast.Name):
            if node.id.startswith("_"):
                raise ExpressionSyntaxError(f"{source!r}: names starting with '_' are not allowed")
            if id(node) not in called:
                names.add(node.id)
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ExpressionSyntaxError(f"{source!r}: names starting with '_' are not allowed")
    rewritten = ast.fix_missing_locations(_Rewrite().visit(tree))
    return Expression(source, frozenset(names), compile(rewritten, "<expression>", "eval"))


def _check_size(tree: ast.AST, text: str) -> None:
    """At most :data:`MAX_NODES` nodes and :data:`MAX_DEPTH` levels (walked without recursion)."""
    count = 0
    todo: list[tuple[ast.AST, int]] = [(tree, 1)]
    while todo:
        node, depth = todo.pop()
        count += 1
        if count > MAX_NODES:
            raise ExpressionSyntaxError(f"expression has more than {MAX_NODES} parts; split it over 'set' fields "
                                        f"(starts {text[:40]!r})")  # fmt: skip
        if depth > MAX_DEPTH:
            raise ExpressionSyntaxError(f"expression nests deeper than {MAX_DEPTH} levels (starts {text[:40]!r})")
        todo.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


@dataclass(frozen=True)
class Template:
    """Text with ``{expression}`` / ``{expression|filter}`` placeholders."""

    source: str
    parts: tuple[str | tuple[Expression, str | None], ...]

    @property
    def names(self) -> frozenset[str]:
        """Root names every placeholder reads."""
        found: set[str] = set()
        for part in self.parts:
            if not isinstance(part, str):
                found |= part[0].names
        return frozenset(found)

    def render(self, namespace: Mapping[str, Any]) -> str:
        """The text with every placeholder filled."""
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = part[0].evaluate(namespace)
            out.append(FILTERS[part[1]](value) if part[1] else _text(value))
        return "".join(out)

    def value(self, namespace: Mapping[str, Any]) -> Any:
        """A lone placeholder keeps its value's type (a number stays a number); anything else is text."""
        if len(self.parts) == 1 and not isinstance(self.parts[0], str) and self.parts[0][1] is None:
            return self.parts[0][0].evaluate(namespace)
        return self.render(namespace)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return "" if value is None else str(value)


def parse_template(source: str) -> Template:
    """Split ``source`` into text and parsed placeholders."""
    parts: list[str | tuple[Expression, str | None]] = []
    text: list[str] = []
    i = 0
    while i < len(source):
        char = source[i]
        if source.startswith("{{", i) or source.startswith("}}", i):
            text.append(char)
            i += 2
        elif char == "{":
            end = source.find("}", i)
            if end < 0:
                raise ExpressionSyntaxError(f"unclosed '{{' at position {i} (write '{{{{' for a brace)")
            if text:
                parts.append("".join(text))
                text = []
            body, _, filter_name = source[i + 1 : end].partition("|")
            if filter_name and filter_name.strip() not in FILTERS:
                raise ExpressionSyntaxError(f"unknown filter {filter_name.strip()!r}; known: {', '.join(FILTERS)}")
            parts.append((parse_expression(body), filter_name.strip() or None))
            if len(parts) > 2 * MAX_PLACEHOLDERS:
                raise ExpressionSyntaxError(f"more than {MAX_PLACEHOLDERS} placeholders in one template")
            i = end + 1
        elif char == "}":
            raise ExpressionSyntaxError(f"stray '}}' at position {i} (write '}}}}' for a brace)")
        else:
            text.append(char)
            i += 1
    if text:
        parts.append("".join(text))
    return Template(source, tuple(parts))


def is_template(value: Any) -> bool:
    """Whether a spec value is a template (a string with a placeholder)."""
    return isinstance(value, str) and any(part for part in parse_template(value).parts if not isinstance(part, str))
