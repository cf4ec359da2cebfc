"""``tradeflow workflows`` and ``tradeflow ab`` as a user runs them: subprocesses on a temporary data folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.versioning import variant

TRADEFLOW = str(Path(sys.executable).parent / "tradeflow")


def tradeflow(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRADEFLOW_DATA_DIR": str(tmp_path / "data")}
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
