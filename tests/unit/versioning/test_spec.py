"""Workflow specs: the committed JSON Schema, the shipped specs, and bad input named by file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graphs.workflows import TRADING_WORKFLOWS, registry, spec_file
from versioning.compile import load_workflow
from versioning.errors import SpecError
from versioning.expressions import ExpressionEvalError, ExpressionSyntaxError, parse_expression, parse_template
from versioning.spec import SCHEMA_FILE, json_schema

GOOD = """\
id: brief_check
input:
  as_of: {type: string}
  book: {type: string, required: false}
state:
  note: {type: string}
  flagged: {type: boolean}
steps:
  - id: write_note
    type: llm
    prompt:
      user: "Write a note for {as_of}"
    into: note
  - id: route
    type: branch
    cases:
      - when: "len(note) > 3"
        goto: done
    default: end
  - id: done
    type: tool
    tool: emit_asset_event
    args: {uri: "tradeflow://notes", extra: {as_of: "{as_of}"}}
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_workflow(text, registry(), file="brief_check.yaml")
    return [str(p) for p in info.value.problems]


def test_the_committed_json_schema_is_the_models() -> None:
    """Regenerate with `python -m versioning.spec` after changing versioning/spec.py."""
    assert json.loads(SCHEMA_FILE.read_text()) == json.loads(json.dumps(json_schema(), sort_keys=True))


@pytest.mark.parametrize("workflow", TRADING_WORKFLOWS)
def test_the_shipped_trading_specs_validate(workflow: str) -> None:
    compiled = load_workflow(spec_file(workflow).read_text(), registry(), file=spec_file(workflow).name)
    assert compiled.spec.id == workflow


def test_a_sound_spec_compiles() -> None:
    compiled = load_workflow(GOOD, registry(), file="brief_check.yaml")
    assert compiled.output_keys[:2] == ["as_of", "book"]


def test_invalid_yaml_names_the_line() -> None:
    [problem] = problems_of(GOOD.replace("    into: note", "    into: [note"))
    assert problem.startswith("brief_check.yaml:14: (yaml): invalid YAML")


def test_unknown_step_type_names_file_line_and_field() -> None:
    [problem] = problems_of(GOOD.replace("type: llm", "type: llmm"))
    assert problem == (
        "brief_check.yaml:9: steps[0]: unknown step type 'llmm'; expected llm, tool, approval, branch or fan_out"
    )


def test_unknown_tool_is_named() -> None:
    [problem] = problems_of(GOOD.replace("tool: emit_asset_event", "tool: send_email"))
    assert problem.startswith("brief_check.yaml:22: steps[2].tool: unknown tool 'send_email'; registered:")


def test_prompt_variable_not_in_state() -> None:
    [problem] = problems_of(GOOD.replace('{as_of}"\n    into', '{as_off}"\n    into'))
    assert problem.startswith("brief_check.yaml:12: steps[0].prompt.user: variable 'as_off' is not in state")


def test_cycle_without_an_exit() -> None:
    text = GOOD.replace("    default: end", "    default: write_note").replace(
        "        goto: done", "        goto: route"
    )
    found = problems_of(text)
    assert any("cycle" in p and "steps[0].id" in p for p in found), found


def test_a_cycle_with_an_exit_is_allowed() -> None:
    load_workflow(GOOD.replace("    default: end", "    default: write_note"), registry(), file="loop.yaml")


def test_unknown_goto_target_and_duplicate_key() -> None:
    assert problems_of(GOOD.replace("goto: done", "goto: nowhere")) == [
        "brief_check.yaml:18: steps[1].cases[0].goto: unknown step 'nowhere'; expected a step id or 'end'",
        "brief_check.yaml:20: steps[2].id: step 'done' is never reached from the first step",
    ]
    [problem] = problems_of(GOOD.replace("    into: note", "    into: note\n    into: flagged"))
    assert problem == "brief_check.yaml:14: steps[0].into: duplicate key"


def test_every_problem_is_reported_at_once() -> None:
    text = GOOD.replace("tool: emit_asset_event", "tool: nope").replace('{as_of}"\n', '{missing}"\n', 1)
    assert len(problems_of(text)) == 2


def test_expressions_refuse_anything_but_reading_state() -> None:
    for source in ("__import__('os')", "x.__class__", "open('f')", "[a for a in b]", "x.lower()"):
        with pytest.raises(ExpressionSyntaxError):
            parse_expression(source)
    expression = parse_expression("abs(trade.notional) > context.limit and 'USD' in trade.ccys")
    assert expression.names == {"trade", "context"}
    assert expression.evaluate({"trade": {"notional": -5, "ccys": ["USD"]}, "context": {"limit": 1}}) is True
    with pytest.raises(ExpressionEvalError, match="no field 'notional'"):
        expression.evaluate({"trade": {}, "context": {"limit": 1}})


def test_templates_fill_values_and_keep_braces() -> None:
    template = parse_template('Figures {f|json} for {d.name}; answer {{"ok": true}}')
    assert template.render({"f": {"b": 1, "a": 2}, "d": {"name": "rates"}}) == (
        'Figures {"a": 2, "b": 1} for rates; answer {"ok": true}'
    )
    assert parse_template("{n}").value({"n": 2.5}) == 2.5


def test_the_schema_file_is_where_docs_say() -> None:
    assert SCHEMA_FILE == Path(__file__).resolve().parents[3] / "workflows" / "spec.schema.json"


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        ("x > 0 or " * 400 + "True", "characters long; at most 2,000 allowed"),
        ("-" * 1_500 + "1 > 0", "nests deeper than 32 levels"),
        ("not " * 300 + "True", "nests deeper than 32 levels"),
        ("len(note) in [" + "1," * 450 + "]", "more than 400 parts"),
    ],
)
def test_a_huge_or_too_deep_branch_condition_is_refused_naming_the_field(condition: str, problem: str) -> None:
    """Broke: a long or deeply nested `when` crashed validation with RecursionError or MemoryError (or spent
    seconds), instead of an error naming the step's field."""
    text = GOOD.replace('"len(note) > 3"', json.dumps(condition))
    [found] = problems_of(text)
    assert found.startswith("brief_check.yaml:17: steps[1].cases[0].when: expression ")
    assert problem in found


@pytest.mark.parametrize("cron", ["61 * * * *", "* * 32 * *", "0 0 * * 8", "0 25 * * 1-5"])
def test_a_cron_airflow_would_refuse_is_refused_at_publish(cron: str) -> None:
    """Five well-formed fields with a value out of range used to pass, and the DAG factory failed on them later."""
    schedule = f"schedule: {{cron: '{cron}', timezone: Europe/London}}\nsteps:"
    [problem] = problems_of(GOOD.replace("steps:", schedule, 1))
    assert problem.startswith(
        f"brief_check.yaml:8: schedule.cron: expected a 5-field cron expression like '30 7 * * 1-5', got '{cron}': "
    ), problem
    assert "out of range" in problem


@pytest.mark.parametrize("cron", ["30 7 * * 1-5", "*/5 * * * *", "0 18 L * *", "0 9 * * MON#2", "0 0 1 JAN,JUL *"])
def test_crons_airflow_accepts_are_published(cron: str) -> None:
    schedule = f"schedule: {{cron: '{cron}'}}\nsteps:"
    assert load_workflow(GOOD.replace("steps:", schedule, 1), registry(), file="brief_check.yaml").spec.schedule
