"""Errors of the tradeflow Airflow provider.

Hierarchy::

    AirflowException                      (Airflow's base: a task that raises it fails, and may retry)
    └── TradeflowAirflowError             base of this package
        ├── ConnectionConfigError         the Airflow connection is missing a field or holds a bad one
        ├── ServerRunError                the server ran the workflow and it failed: carries the server's
        │                                 error class and message, the thread and run ids
        ├── RunCancelledError             the run was cancelled on the server (on_kill, or by hand)
        ├── WorkflowEntryError            a workflow entry (server spec or workflows_config.yaml) cannot
        │                                 become a DAG; names the entry and the field
        ├── WorkflowCatalogError          the server's workflow list cannot be read and no cached copy exists
        └── AssetEventError               Airflow's REST API refused an asset event (names the URI)
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException


class TradeflowAirflowError(AirflowException):
    """Base class of every error this provider raises."""


class ConnectionConfigError(TradeflowAirflowError):
    """An Airflow connection lacks what the hook needs."""


class ServerRunError(TradeflowAirflowError):
    """A run failed on the tradeflow server; the message is the server's own."""

    def __init__(self, error_class: str, message: str, *, thread_id: str | None, run_id: str | None) -> None:
        self.error_class = error_class
        self.server_message = message
        self.thread_id = thread_id
        self.run_id = run_id
        super().__init__(f"{error_class}: {message} (thread {thread_id}, run {run_id})")


class RunCancelledError(TradeflowAirflowError):
    """The server run was cancelled before it finished."""


class WorkflowEntryError(TradeflowAirflowError):
    """A workflow entry cannot become a DAG."""


class WorkflowCatalogError(TradeflowAirflowError):
    """The server's workflow list is unreadable and there is no cached copy to fall back on."""


class AssetEventError(TradeflowAirflowError):
    """Airflow's REST API refused or could not take an asset event."""
