"""``tradeflow report``: cost and run reports from the analytics store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from analytics.reports import FORMATS, render
from core.settings import get_settings


def add_report_parser(sub: Any) -> None:
    parser = sub.add_parser("report", help="cost report by model, workflow, provider, day ...")
    parser.add_argument("--since", default="7d", help="24h, 7d, 2w or an ISO date (default: %(default)s)")
    parser.add_argument("--by", default="model,workflow", help="comma-separated: model, workflow, provider, "
                        "backend, day, hour, status (default: %(default)s)")  # fmt: skip
    parser.add_argument("--format", choices=FORMATS, default="md")
    parser.add_argument("--workflow", help="only this workflow")
    parser.add_argument("--model", help="only this model")
    parser.add_argument("--rollup", action="store_true", help="read the hourly rollup (fast; fewer dimensions)")
    parser.add_argument("--output", type=Path, help="write to a file instead of stdout")
    parser.set_defaults(handler=report)


def report(args: argparse.Namespace) -> int:
    # The analytics store and its drivers load only for this command: every other command starts without them.
    from analytics.queries import ReportRequest, cost_columns, cost_report, parse_since, trend_report
    from analytics.runtime import make_store

    store = make_store(get_settings())
    store.migrate()
    filters = {k: v for k, v in (("workflow", args.workflow), ("model", args.model)) if v}
    request = ReportRequest(since=parse_since(args.since), by=tuple(filter(None, args.by.split(","))),
                            filters=filters, from_rollup=args.rollup)  # fmt: skip
    rows = cost_report(store, request)
    trends = trend_report(store, request.since, "day") if args.format == "html" else []
    text = render(rows, args.format, trends=trends, progress_stream=sys.stderr if args.output else None,
                  columns=cost_columns(request))  # fmt: skip
    if args.output:
        args.output.write_text(text)
        print(f"{len(rows)} rows written to {args.output}", file=sys.stderr)  # noqa: T201
    else:
        sys.stdout.write(text)
    store.close()
    return 0
