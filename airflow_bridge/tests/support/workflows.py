"""Published workflow specs on the real server: ``POST /workflows``, ``PUT .../labels/...``, ``POST /experiments``.

The specs are the repo's own ``workflows/*.yaml`` (under their own id or a copy's), with a ``schedule``
block appended, published to the session's ``tradeflow serve`` (its Git store and SQLite labels live in the
session's temporary data directory, so every session starts from none).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.servers import REPO


@dataclass(frozen=True)
class Catalog:
    """The server's published workflows after the session's publishing, by id (``GET /workflows`` items)."""

    url: str
    api_key: str
    workflows: dict[str, dict[str, Any]]
    experiment: dict[str, Any]
    """The running A/B experiment of ``ab_brief`` (the server's record)."""

    def sha(self, workflow: str, version: int) -> str:
        versions = WorkflowsClient(self.url, self.api_key).get(f"/workflows/{workflow}/versions")
        return str(next(v["sha"] for v in versions if v["version"] == version))


def spec_text(source: str, workflow_id: str | None = None, *, schedule: dict[str, Any] | None = None,
              description: str | None = None) -> str:  # fmt: skip
    """``workflows/<source>.yaml``, renamed to ``workflow_id``, with ``schedule`` (flow style JSON) appended."""
    text = (REPO / "workflows" / f"{source}.yaml").read_text()
    if workflow_id:
        text = re.sub(r"(?m)^id: .*$", f"id: {workflow_id}", text, count=1)
    if description:
        text = re.sub(r"(?m)^description: .*$", f"description: {description}", text, count=1)
    if schedule is not None:
        text += f"\nschedule: {json.dumps(schedule)}\n"
    return text


class WorkflowsClient:
    """The server's workflow routes, with its API key."""

    def __init__(self, url: str, api_key: str) -> None:
        self.url = url
        self.headers = {"x-api-key": api_key}

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.request(method, f"{self.url}{path}", json=body, headers=self.headers, timeout=60)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: HTTP {response.status_code} {response.text}")
        return response.json()

    def get(self, path: str) -> Any:
        return self._call("GET", path)

    def publish(self, text: str, message: str = "bridge tests") -> int:
        return int(
            self._call("POST", "/workflows", {"yaml": text, "message": message, "author": "bridge-tests"})["version"]
        )

    def label(self, workflow: str, label: str, version: int) -> None:
        self._call("PUT", f"/workflows/{workflow}/labels/{label}", {"version": version, "reason": "bridge tests"})

    def experiment(self, workflow: str, arms: list[dict[str, Any]]) -> dict[str, Any]:
        return dict(self._call("POST", "/experiments", {"workflow": workflow, "arms": arms, "label": "production",
                                                        "reason": "bridge tests"}))  # fmt: skip


POSITIONS = [{"book": "EQ", "symbol": "AAPL", "quantity": 10, "price": 2.0, "prev_close": 1.9}]
BRIEF_INPUT = {"as_of": "{{ ds }}", "positions": POSITIONS}
BRIEF_SCHEDULE = {
    "cron": "30 7 * * 1-5", "timezone": "Europe/London", "retries": 2, "retry_delay_s": 60, "sla_s": 1800,
    "emits": ["tradeflow://briefs/market"], "input": BRIEF_INPUT,
}  # fmt: skip


EMIT_ASSET = """
# A workflow whose one step emits an Airflow asset event (the operator posts it through Airflow's REST API)
id: emit_asset
description: Emits one Airflow asset event
owner: ops
input:
  uri: {type: string, description: The asset URI to emit.}
  as_of: {type: string, description: The business date.}
steps:
  - id: announce
    type: tool
    tool: emit_asset_event
    args: {uri: "{uri}", extra: {as_of: "{as_of}", step: announce}}
"""


def publish_catalog(url: str, api_key: str) -> Catalog:
    """Publish the session's specs, each problem of the factory represented once:

    * ``market_brief`` v1 and v2, a cron schedule; ``production`` -> 1, ``canary`` -> 2 (the DAG's tag is 1);
    * ``eod_reconciliation``: an asset schedule (the server lists its unset fields as null);
    * ``trade_break_triage``: no schedule, so no DAG;
    * ``broken_assets``: an asset URI the server takes but Airflow's factory refuses (a named import error);
    * ``unlabelled``: a schedule whose label points at nothing (a named import error);
    * ``ab_brief`` v1 and v2 under a running 50/50 experiment on ``production``;
    * ``emit_asset``: one step, ``emit_asset_event`` of the input's ``uri``.
    """
    client = WorkflowsClient(url, api_key)
    client.publish(spec_text("market_brief", schedule=BRIEF_SCHEDULE))
    client.publish(spec_text("market_brief", schedule=BRIEF_SCHEDULE, description="Morning market brief, v2"))
    client.label("market_brief", "production", 1)
    client.label("market_brief", "canary", 2)
    client.publish(spec_text("eod_reconciliation", schedule={"assets": ["tradeflow://eod/prices"]}))
    client.label("eod_reconciliation", "production", 1)
    client.publish(spec_text("trade_break_triage"))
    client.label("trade_break_triage", "production", 1)
    client.publish(spec_text("market_brief", "broken_assets", schedule={"assets": ["eod-prices"]}))
    client.label("broken_assets", "production", 1)
    client.publish(spec_text("market_brief", "unlabelled", schedule={"cron": "0 18 * * 1-5"}))
    client.publish(spec_text("market_brief", "ab_brief"))
    client.publish(spec_text("market_brief", "ab_brief", description="Morning market brief, treatment"))
    client.label("ab_brief", "production", 1)
    experiment = client.experiment(
        "ab_brief",
        [{"name": "control", "weight": 0.5, "version": 1}, {"name": "treatment", "weight": 0.5, "version": 2}],
    )
    client.publish(EMIT_ASSET)
    client.label("emit_asset", "production", 1)
    workflows = {item["workflow"]: item for item in client.get("/workflows")}
    return Catalog(url, api_key, workflows, experiment)
