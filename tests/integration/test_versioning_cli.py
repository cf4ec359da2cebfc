"""``tradeflow workflows`` and ``tradeflow ab`` as a user runs them: subprocesses on a temporary data folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import PRICES_DOUBLE, model_env
from tests.doubles.llm_server import LLMServerDouble
from tests.support.examples import example_input
from tests.support.versioning import variant

TRADEFLOW = str(Path(sys.executable).parent / "tradeflow")
READER_FIELDS = "  acknowledged_by: {type: string}\n  acknowledgement_comment: {type: string}\n"
ACKNOWLEDGED = (
    '\n  - id: acknowledge_brief\n    type: approval\n    request: {brief: "{brief}"}\n    resume: acknowledge\n'
)


def tradeflow(tmp_path: Path, *args: str, model: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(model or {}), "TRADEFLOW_DATA_DIR": str(tmp_path / "data")}
    env.pop("DATABASE_URL", None)
    return subprocess.run([TRADEFLOW, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_a_conflicting_or_badly_described_change_exits_non_zero_with_a_message(tmp_path: Path) -> None:
    """Broke: a stale rollback or ramp from the CLI silently overwrote what someone else had done, and publish took
    an empty or multi-line message as it was."""
    specs = []
    for marker in ("v1", "v2", "v3"):
        specs.append(tmp_path / f"market_brief_{marker}.yaml")
        specs[-1].write_text(variant("market_brief", marker))
    refused = tradeflow(tmp_path, "workflows", "publish", str(specs[0]))
    assert refused.returncode == 2
    assert "error: message: required" in refused.stderr
    done = tradeflow(tmp_path, "workflows", "publish", *map(str, specs), "-m", "three versions", "--label",
                     "production", "--author", "jane")  # fmt: skip
    assert [v["label"] for v in json.loads(done.stdout)] == [{"production": 1}, {"production": 2}, {"production": 3}]
    stale = tradeflow(tmp_path, "workflows", "rollback", "market_brief", "--reason", "bad", "--expect", "2")
    assert stale.returncode != 0
    assert "points at version 3, not version 2" in stale.stderr
    rolled = tradeflow(tmp_path, "workflows", "rollback", "market_brief", "--reason", "bad", "--expect", "3")
    assert json.loads(rolled.stdout)["to"] == 2
    started = tradeflow(tmp_path, "ab", "start", "market_brief", "--name", "cli-ab", "--arm", "control=2@0.5",
                        "--arm", "shorter=3@0.5")  # fmt: skip
    assert json.loads(started.stdout)["revision"] == 0
    assert tradeflow(tmp_path, "ab", "ramp", "cli-ab", "--weight", "control=0.2", "--weight", "shorter=0.8",
                     "--revision", "0").returncode == 0  # fmt: skip
    late = tradeflow(tmp_path, "ab", "ramp", "cli-ab", "--weight", "control=0.5", "--weight", "shorter=0.5",
                     "--revision", "0")  # fmt: skip
    assert late.returncode != 0
    assert "at revision 1, not 0" in late.stderr
    stop = tradeflow(tmp_path, "ab", "stop", "cli-ab", "--reason", "done", "--revision", "0")
    assert stop.returncode != 0
    assert "at revision 1, not 0" in stop.stderr


def test_a_versioned_resume_from_the_cli_is_checked_against_the_waiting_step(
    tmp_path: Path, llm_double: LLMServerDouble
) -> None:
    """Broke: `tradeflow run versioned_workflow --resume` checked every answer as a triage approval."""
    model = {**model_env(llm_double), "TRADEFLOW_PRICES_FILE": str(PRICES_DOUBLE)}
    spec = tmp_path / "read_brief.yaml"
    spec.write_text(
        variant("market_brief", "read")
        .replace("id: market_brief", "id: read_brief", 1)
        .replace("output: [figures, brief]", "output: [figures, brief, acknowledged_by]")
        .replace("  brief: {type: string", READER_FIELDS + "  brief: {type: string")
        + ACKNOWLEDGED
    )
    published = tradeflow(tmp_path, "workflows", "publish", str(spec), "-m", "read it", "--label", "production")
    assert published.returncode == 0, published.stderr
    (tmp_path / "run.json").write_text(json.dumps({"workflow": "read_brief", "input": example_input("market_brief")}))
    paused = tradeflow(tmp_path, "run", "versioned_workflow", "--input", "run.json", "--thread", "t1", model=model)
    assert json.loads(paused.stdout)["status"] == "interrupted", paused.stderr
    wrong = tradeflow(
        tmp_path, "run", "versioned_workflow", "--thread", "t1", "--resume", '{"approved": true}', model=model
    )
    assert wrong.returncode == 2
    expected = "resume.acknowledged: expected true, got None (step 'acknowledge_brief', handler 'acknowledge')"
    assert expected in wrong.stderr
    done = tradeflow(
        tmp_path, "run", "versioned_workflow", "--thread", "t1", "--resume", '{"acknowledged": true}', model=model
    )
    result = json.loads(done.stdout)
    assert (result["status"], result["values"]["output"]["acknowledged_by"]) == ("done", "local"), done.stderr
