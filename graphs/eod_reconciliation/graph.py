"""The served ``eod_reconciliation`` graph: its spec (``workflows/eod_reconciliation.yaml``) compiled."""

from __future__ import annotations

from graphs.serving import serve
from graphs.workflows import repo_workflow

workflow, version = repo_workflow("eod_reconciliation")
builder = workflow.builder

# The server runs this compiled graph; analytics sees every run through the handler in its config.
graph = serve(builder, graph_id="eod_reconciliation", name="EodReconciliation", version=version)
