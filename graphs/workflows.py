"""The trading workflows as specs: the registry their names resolve against, and the committed spec files.

``workflows/<id>.yaml`` is each workflow's one definition. The served graph ids (``market_brief``,
``trade_break_triage``, ``eod_reconciliation``) compile the committed file; ``versioned_workflow`` runs the
versions published to the Git store (labels, pins, A/B arms).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from graphs import acknowledgement
from graphs.chat_models import HOW_TO_CONFIGURE
from graphs.eod_reconciliation import tools as reconciliation
from graphs.eod_reconciliation.context import ReconciliationContext
from graphs.eod_reconciliation.state import ReconciliationInput
from graphs.errors import InvalidInputError, LLMUnavailableError
from graphs.market_brief import tools as market_brief
from graphs.market_brief.context import MarketBriefContext
from graphs.market_brief.state import MarketBriefInput
from graphs.trade_break_triage import tools as triage
from graphs.trade_break_triage.approval import parse_approval
from graphs.trade_break_triage.context import TriageContext
from graphs.trade_break_triage.state import TriageInput
from router.streaming import RouterStep
from router.subgraph import graph as router_graph
from versioning.compile import CompiledWorkflow, load_workflow
from versioning.errors import ResumeError
from versioning.tools import Registry

WORKFLOWS_DIR = Path(__file__).resolve().parents[1] / "workflows"
TRADING_WORKFLOWS = ("market_brief", "trade_break_triage", "eod_reconciliation")


def _unavailable(message: str) -> Exception:
    return LLMUnavailableError(f"{message}. {HOW_TO_CONFIGURE}")


@functools.cache
def registry() -> Registry:
    """Tools, the approval handler and the input/context schemas the trading specs name."""
    reg = Registry(
        input_schemas={
            "market_brief.input": MarketBriefInput,
            "trade_break_triage.input": TriageInput,
            "eod_reconciliation.input": ReconciliationInput,
        },
        context_schemas={
            "market_brief.context": MarketBriefContext,
            "trade_break_triage.context": TriageContext,
            "eod_reconciliation.context": ReconciliationContext,
        },
        model_error=_unavailable,
        llm_step=RouterStep(router_graph),
    )
    reg.add_tool("market_brief.compute_figures", market_brief.compute_market_figures,
                 reads=("positions", "limits", "currency"), writes=("figures",))  # fmt: skip
    reg.add_tool("trade_break_triage.assess_approval", triage.assess_approval, reads=("trade_break", "fx_rates"),
                 writes=("requires_approval", "threshold_notional", "requested_by"))  # fmt: skip
    reg.add_tool("trade_break_triage.auto_approve", triage.auto_approve, reads=("trade_break", "requested_by"),
                 writes=("decision", "approver", "approval_comment"))  # fmt: skip
    reg.add_tool("trade_break_triage.record_outcome", triage.record_outcome, reads=("decision",), writes=("status",))
    reg.add_tool("eod_reconciliation.match_positions", reconciliation.match_positions,
                 reads=("book_positions", "custodian_positions"), writes=("mismatches",))  # fmt: skip
    reg.add_tool("eod_reconciliation.score_risk", reconciliation.score_mismatch,
                 reads=("mismatch", "explanation"), writes=("explained",))  # fmt: skip
    reg.add_tool("eod_reconciliation.rank_by_risk", reconciliation.rank_by_risk, reads=("explained",),
                 writes=("ranked",))  # fmt: skip
    reg.add_resume_handler("approval", triage.record_approval, writes=("decision", "approver", "approval_comment"),
                           instructions=triage.APPROVAL_INSTRUCTIONS, check=_approval_shape,
                           on_pause=triage.announce_approval)  # fmt: skip
    reg.add_resume_handler("acknowledge", acknowledgement.record_acknowledgement,
                           writes=("acknowledged_by", "acknowledgement_comment"),
                           instructions=acknowledgement.INSTRUCTIONS,
                           check=acknowledgement.parse_acknowledgement)  # fmt: skip
    return reg


def _approval_shape(value: object) -> object:
    try:
        return parse_approval(value)
    except InvalidInputError as exc:
        raise ResumeError(exc.problems) from None


def spec_file(workflow_id: str) -> Path:
    """The committed spec of a trading workflow."""
    return WORKFLOWS_DIR / f"{workflow_id}.yaml"


def file_version(text: str) -> str:
    """The version analytics records for a run of a committed spec: its Git blob id, as the store would have it."""
    data = text.encode()
    return "file-" + hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()[:10]


@functools.cache
def repo_workflow(workflow_id: str) -> tuple[CompiledWorkflow, str]:
    """The committed spec compiled, and its version string."""
    path = spec_file(workflow_id)
    text = path.read_text()
    return load_workflow(text, registry(), file=f"workflows/{path.name}"), file_version(text)
