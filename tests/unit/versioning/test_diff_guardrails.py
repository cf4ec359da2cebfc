"""Diffs between versions, and guardrail decisions."""

from __future__ import annotations

from graphs.workflows import spec_file
from versioning.diff import structural_diff, unified_diff
from versioning.guardrails import Guardrail, WindowFigures, breaches
from versioning.spec import parse_spec


def test_structural_diff_names_prompts_routing_steps_edges_and_schedule() -> None:
    old_text = spec_file("market_brief").read_text()
    new_text = (
        old_text.replace("at most 150 words", "at most 120 words")
        .replace("task_type: summary", "task_type: summary\n      strategy: cost")
        .replace(
            "description: Morning", "schedule: {cron: '30 7 * * 1-5', timezone: Europe/London}\ndescription: Morning"
        )
        + "\n  - id: announce\n    type: tool\n    tool: emit_asset_event\n    args: {uri: 'tradeflow://briefs/market'}\n"
    )
    old, _ = parse_spec(old_text)
    new, _ = parse_spec(new_text)
    diff = structural_diff(old, new)
    assert diff["steps"]["added"] == ["announce"]
    assert diff["prompts"] == ["write_brief"]
    assert diff["routing"] == ["write_brief"]
    assert diff["steps"]["changed"]["write_brief"]["routing.strategy"] == {"from": None, "to": "cost"}
    assert diff["edges"] == {
        "added": [["announce", "end"], ["write_brief", "announce"]],
        "removed": [["write_brief", "end"]],
    }
    assert diff["schedule"]["cron"] == {"from": None, "to": "30 7 * * 1-5"}
    text = unified_diff(old_text, new_text, "a.yaml", "b.yaml")
    assert "-        books that drove it, the biggest movers and any limit warnings, in at most 150 words." in text
    assert text.startswith("--- a.yaml\n+++ b.yaml\n")


def test_guardrails_decide_only_with_enough_runs() -> None:
    guardrail = Guardrail(max_error_rate=0.2, max_p95_s=10, max_cost_per_run_usd=0.05, min_runs=10)
    assert breaches(guardrail, WindowFigures(runs=9, errors=9, p95_s=99, cost_per_run_usd=1)) == []
    found = breaches(guardrail, WindowFigures(runs=10, errors=3, p95_s=12.5, cost_per_run_usd=0.01))
    assert [(b.threshold, b.measured) for b in found] == [("max_error_rate", 0.3), ("max_p95_s", 12.5)]
    assert str(found[0]) == "max_error_rate 0.3 exceeds 0.2"
