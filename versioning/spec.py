"""The workflow spec: a YAML document describing a workflow as steps, plus its schedule and metadata.

The JSON Schema of this model is committed as ``workflows/spec.schema.json`` (``python -m versioning.spec``
rewrites it). Structure is checked here; names (state fields, tools, step targets, cycles) are checked by
:mod:`versioning.checks` against a tool registry, before anything is compiled or published.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from versioning.errors import SpecError, SpecProblem
from versioning.source import format_path, line_of, load_yaml, locate

ID_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
END = "end"
SCHEMA_FILE = Path(__file__).resolve().parents[1] / "workflows" / "spec.schema.json"

FieldType = Literal["string", "number", "integer", "boolean", "object", "array", "any"]
Strategy = Literal["cost", "performance", "balanced"]
TaskType = Literal["summary", "classification", "extraction", "explanation", "chat"]
_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")


def check_cron(value: str) -> str:
    """A 5-field cron expression that Airflow's ``CronTriggerTimetable`` accepts, or a ValueError saying why.

    Airflow 3.3 parses cron with croniter (``airflow/timetables/_cron.py``: ``croniter(expression)``), so a
    spec published here never becomes a DAG Airflow refuses (``61 * * * *``, ``* * 32 * *``).
    """
    from croniter import CroniterBadTypeRangeError, CroniterError, croniter

    expected = f"expected a 5-field cron expression like '30 7 * * 1-5', got {value!r}"
    parts = value.split()
    if len(parts) != 5 or not all(_CRON_FIELD.match(p) for p in parts):
        raise ValueError(expected)
    try:
        croniter(value)
    except (CroniterError, CroniterBadTypeRangeError) as exc:
        raise ValueError(f"{expected}: {exc}") from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_attribute_docstrings=True)


class FieldSpec(_Strict):
    """A typed field: of the input, the context (a knob), the state, or a model's JSON answer."""

    type: FieldType = "any"
    """JSON type of the value; 'any' accepts every value."""
    description: str = ""
    """What the field holds (Studio shows it)."""
    enum: list[str | int | float] | None = None
    """The only values allowed."""
    items: FieldType | None = None
    """Type of the items of an array."""
    required: bool = True
    """Input fields only: whether a caller must send it."""
    default: Any = None
    """Context knobs only: the value when a run does not set it."""

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"description": value} if isinstance(value, str) else value


class StateField(FieldSpec):
    """A field of the workflow's internal state."""

    reducer: Literal["replace", "append"] = "replace"
    """'append' concatenates lists written by parallel steps (a fan-out's results)."""


class Schedule(_Strict):
    """When the Airflow bridge runs the workflow (see the cross-issue contract)."""

    cron: str | None = None
    """5-field cron expression."""
    timezone: str = "UTC"
    """IANA time zone of the cron expression."""
    assets: list[str] = Field(default_factory=list)
    """Airflow asset URIs whose events start a run (all of them)."""
    label: str = "production"
    """The label scheduled runs resolve."""
    input: dict[str, Any] | None = None
    """The input scheduled runs send (may hold Jinja templates for Airflow)."""
    context: dict[str, Any] | None = None
    """Per-run context of scheduled runs."""
    retries: int = Field(default=0, ge=0, le=20)
    """Airflow retries."""
    retry_delay_s: int = Field(default=300, ge=0)
    """Delay between retries, seconds."""
    sla_s: int | None = Field(default=None, gt=0)
    """Most seconds a run may take."""
    emits: list[str] = Field(default_factory=list)
    """Asset URIs a successful run emits."""

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return check_cron(value) if value is not None else None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"expected an IANA time zone like 'Europe/London', got {value!r}") from None
        return value

    @model_validator(mode="after")
    def _trigger(self) -> Schedule:
        if self.cron is None and not self.assets:
            raise ValueError("a schedule needs a cron expression, assets, or both")
        return self


class Routing(_Strict):
    """Routing hints for one model call (see docs/routing.md)."""

    task_type: TaskType = "chat"
    """Sets the expected answer length."""
    strategy: Strategy | None = None
    """cost, performance or balanced; empty uses the context knob 'strategy' when there is one."""
    backend: str | None = None
    """Pin the call to one backend; empty uses the context knob 'backend' when there is one."""
    required_capabilities: list[str] = Field(default_factory=list)
    """Capability tags every candidate backend must have."""
    max_tokens: int | None = Field(default=None, gt=0)
    """Most tokens the answer may have."""
    max_cost_usd: float | None = Field(default=None, gt=0)
    """Refuse backends whose expected cost is higher."""
    latency_budget_s: float | None = Field(default=None, gt=0)
    """Refuse backends whose measured p95 latency is higher."""


class Prompt(_Strict):
    """Prompt templates: ``{field}``, ``{field.sub}``, ``{context.knob}``, ``{value|json}``; ``{{`` for a brace."""

    system: str = ""
    user: str


class Answer(_Strict):
    """What a model step expects back."""

    format: Literal["text", "json"] = "text"
    """text (stripped) or a JSON object with the fields below."""
    name: str = "Answer"
    """Name of the JSON object (the schema's title)."""
    description: str = ""
    """What the object is (the schema's description)."""
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    """Fields of the JSON object (all required)."""

    @model_validator(mode="after")
    def _json_needs_fields(self) -> Answer:
        if self.format == "json" and not self.fields:
            raise ValueError("a json answer needs at least one field")
        return self


class _Step(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    """Step id: the node's name in the graph."""
    description: str = ""
    set: dict[str, str] = Field(default_factory=dict)
    """State fields computed after the step: field -> expression over state and context."""
    next: str | None = None
    """The step that follows (a step id or 'end'); empty means the next one in the list."""


class LlmStep(_Step):
    """A model call, compiled to the ``llm_router`` subgraph (rank -> call -> account)."""

    type: Literal["llm"]
    prompt: Prompt
    answer: Answer = Field(default_factory=Answer)
    into: str
    """State field that receives the answer."""
    routing: Routing = Field(default_factory=Routing)


class ToolStep(_Step):
    """A registered Python callable, by name."""

    type: Literal["tool"]
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments; a string holding ``{expression}`` is evaluated against state and context."""


class ApprovalStep(_Step):
    """Pause for a human (``interrupt``); resume with a value the named handler validates."""

    type: Literal["approval"]
    request: dict[str, Any]
    """What the approver sees: field -> value or template."""
    resume: str = "approval"
    """Registered resume handler: validates the answer and turns it into state fields."""


class Case(_Strict):
    """One branch: the first case whose condition holds wins."""

    when: str
    """Condition over state and context, e.g. ``abs(trade_break.notional) > context.approval_threshold``."""
    goto: str
    """Step id or 'end'."""


class BranchStep(_Strict):
    """Route on state: compiled to conditional edges, not a node."""

    type: Literal["branch"]
    id: str = Field(pattern=ID_PATTERN)
    description: str = ""
    cases: list[Case] = Field(min_length=1)
    default: str = END
    """Target when no case holds."""


class FanOutStep(_Step):
    """Run ``steps`` once per item of a list, in parallel (bounded), appending results to ``collect``."""

    type: Literal["fan_out"]
    over: str
    """State field holding the list."""
    item: str = Field(pattern=ID_PATTERN)
    """Name each branch sees its item under."""
    with_: list[str] = Field(default_factory=list, alias="with")
    """State fields every branch also sees."""
    steps: list[Annotated[LlmStep | ToolStep, Field(discriminator="type")]] = Field(min_length=1)
    """The steps of one branch, in order."""
    collect: str
    """List field (reducer 'append') the branches write their results to."""
    max_items: int = Field(default=1000, ge=1, le=100_000)
    """A longer list fails the run before any branch starts."""
    max_concurrency: int = Field(default=8, ge=1, le=256)
    """Most branches running at once."""


Step = Annotated[LlmStep | ToolStep | ApprovalStep | BranchStep | FanOutStep, Field(discriminator="type")]


class WorkflowSpec(_Strict):
    """A workflow: its input, state and steps, plus schedule and metadata."""

    id: str = Field(pattern=ID_PATTERN)
    """Workflow id (the Git store file is ``<id>.yaml``)."""
    description: str = ""
    owner: str = ""
    """Desk or team that owns the workflow."""
    schedule: Schedule | None = None
    input: str | dict[str, FieldSpec]
    """What a caller sends: a registered schema name, or fields."""
    context: str | dict[str, FieldSpec] | None = None
    """Per-run knobs: a registered context name, or knobs with defaults."""
    state: dict[str, StateField] = Field(default_factory=dict)
    """Internal state fields (beyond the input)."""
    output: list[str] | None = None
    """State fields a run returns; empty returns all."""
    steps: list[Step] = Field(min_length=1)


def parse_spec(text: str, file: str = "<spec>") -> tuple[WorkflowSpec, dict[tuple[str | int, ...], int]]:
    """Parse and structurally validate YAML; a :class:`SpecError` names file, line and field."""
    data, lines = load_yaml(text, file)
    if not isinstance(data, dict):
        raise SpecError([SpecProblem(file, 1, "(document)", "expected a mapping with id, input and steps")])
    try:
        spec = WorkflowSpec.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            path = locate(data, error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            extra = [str(p) for p in error["loc"][len(path) :] if not _is_tag(p)]
            if error["type"] == "missing" and extra:
                message = f"'{extra[-1]}' is required"
            elif error["type"] == "extra_forbidden":
                message = "unknown field"
            elif error["type"] in ("union_tag_invalid", "union_tag_not_found"):
                kind = error["input"].get("type") if isinstance(error["input"], dict) else None
                message = f"unknown step type {kind!r}; expected llm, tool, approval, branch or fan_out"
            problems.append(SpecProblem(file, line_of(lines, path), format_path(path), message))
        raise SpecError(problems) from None
    return spec, lines


def _is_tag(part: str | int) -> bool:
    return part in ("llm", "tool", "approval", "branch", "fan_out", "str", "dict[str,FieldSpec]")


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a workflow spec (committed as ``workflows/spec.schema.json``)."""
    schema = WorkflowSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://tradeflow.dev/schemas/workflow-spec.json"
    return schema


def main() -> None:
    """Rewrite ``workflows/spec.schema.json``."""
    SCHEMA_FILE.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")
    sys.stdout.write(f"wrote {SCHEMA_FILE}\n")


if __name__ == "__main__":
    main()
