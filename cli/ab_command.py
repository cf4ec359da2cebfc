"""``tradeflow ab ...``: start, status, ramp, stop and report A/B experiments."""

from __future__ import annotations

import argparse
import getpass
import json
from typing import TYPE_CHECKING, Any

from versioning.errors import ExperimentError

if TYPE_CHECKING:
    from graphs.versioning_service import VersioningService


def service() -> VersioningService:
    """The versioning service, imported when a command runs (it loads LangGraph and the workflows)."""
    from graphs.versioning_service import service as versioning_service

    return versioning_service()


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))  # noqa: T201


def parse_arm(text: str) -> dict[str, Any]:
    """``control=1@0.5`` (version 1, weight 0.5) or ``challenger=staging@0.5`` (a label)."""
    name, _, rest = text.partition("=")
    target, _, weight = rest.rpartition("@")
    if not name or not target or not weight:
        raise ExperimentError(f"--arm: expected NAME=VERSION@WEIGHT or NAME=LABEL@WEIGHT, got {text!r}", field="arms")
    try:
        share = float(weight)
    except ValueError:
        raise ExperimentError(f"--arm {text!r}: weight {weight!r} is not a number", field="arms") from None
    arm: dict[str, Any] = {"name": name, "weight": share}
    arm |= {"version": int(target)} if target.isdigit() else {"label": target}
    return arm


def _weights(pairs: list[str]) -> dict[str, float]:
    weights = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        try:
            weights[name] = float(value)
        except ValueError:
            raise ExperimentError(f"--weight: expected ARM=WEIGHT, got {pair!r}", field="weights") from None
    return weights


def start(args: argparse.Namespace) -> int:
    experiment = service().experiments.start(
        args.workflow, [parse_arm(a) for a in args.arm], actor=args.author or getpass.getuser(), name=args.name,
        label=args.label, salt=args.salt, shadow=args.shadow, reason=args.reason,
    )  # fmt: skip
    _print(experiment.as_dict())
    return 0


def status(args: argparse.Namespace) -> int:
    _print([e.as_dict() for e in service().experiments.list(args.workflow)])
    return 0


def ramp(args: argparse.Namespace) -> int:
    experiment = service().experiments.ramp(args.experiment, _weights(args.weight),
                                            actor=args.author or getpass.getuser(), reason=args.reason,
                                            expect_revision=args.revision)  # fmt: skip
    _print(experiment.as_dict())
    return 0


def stop(args: argparse.Namespace) -> int:
    experiment = service().experiments.stop(args.experiment, actor=args.author or getpass.getuser(), reason=args.reason,
                                            expect_revision=args.revision)  # fmt: skip
    _print(experiment.as_dict())
    return 0


def report(args: argparse.Namespace) -> int:
    from analytics.http import report_store

    _print(service().experiment_report(args.experiment, report_store()))
    return 0


def add_ab_parser(sub: Any) -> None:
    parser = sub.add_parser("ab", help="A/B experiments: sticky arms, ramps, per-arm results")
    commands = parser.add_subparsers(dest="ab_command", required=True)
    cmd = commands.add_parser("start", help="start an experiment on a workflow")
    cmd.add_argument("workflow")
    cmd.add_argument("--arm", action="append", required=True, help="NAME=VERSION@WEIGHT or NAME=LABEL@WEIGHT")
    cmd.add_argument("--name", help="experiment id (default: workflow-timestamp)")
    cmd.add_argument("--label", default="production", help="runs resolving this label take part")
    cmd.add_argument("--salt", help="hash salt (default: the experiment id)")
    cmd.add_argument("--shadow", type=int, help="also run this version in shadow beside every run")
    cmd.add_argument("--reason", default="")
    cmd.add_argument("--author")
    cmd.set_defaults(handler=start)
    cmd = commands.add_parser("status", help="experiments (running and stopped)")
    cmd.add_argument("workflow", nargs="?")
    cmd.set_defaults(handler=status)
    cmd = commands.add_parser("ramp", help="change weights; assigned units stay unless their arm shrinks")
    cmd.add_argument("experiment")
    cmd.add_argument("--weight", action="append", required=True, help="ARM=WEIGHT")
    cmd.add_argument("--reason", default="")
    cmd.add_argument("--revision", type=int, help="ramp only if the experiment is still at this revision")
    cmd.add_argument("--author")
    cmd.set_defaults(handler=ramp)
    cmd = commands.add_parser("stop", help="stop an experiment")
    cmd.add_argument("experiment")
    cmd.add_argument("--reason", default="")
    cmd.add_argument("--revision", type=int, help="stop only if the experiment is still at this revision")
    cmd.add_argument("--author")
    cmd.set_defaults(handler=stop)
    cmd = commands.add_parser("report", help="per-arm results, sample-ratio check, significance, shadow pairs")
    cmd.add_argument("experiment")
    cmd.set_defaults(handler=report)
