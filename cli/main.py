"""Entry point of the ``tradeflow`` console script."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from access.errors import AccessDenied, UnknownKeyError
from analytics.errors import ReportQueryError
from cli.ab_command import add_ab_parser
from cli.keys_command import add_keys_parser
from cli.report_command import add_report_parser
from cli.route_command import add_router_parsers
from cli.run_command import add_run_parser
from cli.serve_command import add_serve_parser
from cli.workflows_command import add_workflows_parser
from core.errors import PriceTableError, SettingsError, TradeflowError
from core.logging import configure_logging
from graphs.errors import InvalidInputError, UnknownGraphError
from graphs.registry import GRAPHS
from router.errors import NoEligibleBackendError, RouterConfigError
from versioning.errors import StoreError, VersioningError

# Exit 2 for input the caller can fix (bad settings, input or graph id), 1 for a failed run.
_USAGE_ERRORS = (
    SettingsError, InvalidInputError, UnknownGraphError, RouterConfigError, NoEligibleBackendError,
    ReportQueryError, PriceTableError, AccessDenied, UnknownKeyError,
)  # fmt: skip

logger = logging.getLogger(__name__)


def _list_graphs(_: argparse.Namespace) -> int:
    for entry in GRAPHS.values():
        print(f"{entry.graph_id:22} {entry.summary}")  # noqa: T201
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradeflow", description="AI workflow orchestration for trading operations.")
    sub = parser.add_subparsers(dest="command", required=True)
    add_serve_parser(sub)
    add_run_parser(sub)
    add_router_parsers(sub)
    add_report_parser(sub)
    add_workflows_parser(sub)
    add_ab_parser(sub)
    add_keys_parser(sub)
    graphs = sub.add_parser("graphs", help="list the served graphs")
    graphs.set_defaults(handler=_list_graphs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("WARNING")
    try:
        code: int = args.handler(args)
    except TradeflowError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        usage = isinstance(exc, _USAGE_ERRORS) or (isinstance(exc, VersioningError) and not isinstance(exc, StoreError))
        return 2 if usage else 1
    return code


if __name__ == "__main__":
    sys.exit(main())
