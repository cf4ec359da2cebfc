"""``tradeflow workflows ...``: validate, publish, history, diff, label, rollback, audit, resolve, guardrails."""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from versioning.errors import LabelError, SpecError, SpecProblem
from versioning.labels import ANY, KEEP, check_label
from versioning.store import check_metadata

if TYPE_CHECKING:
    from graphs.versioning_service import VersioningService


def service() -> VersioningService:
    """The versioning service, imported when a command runs (it loads LangGraph and the workflows)."""
    from graphs.versioning_service import service as versioning_service

    return versioning_service()


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))  # noqa: T201


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise SpecError([SpecProblem(str(path), None, "(file)", "file does not exist")]) from None


def _author(args: argparse.Namespace) -> str:
    return str(args.author or getpass.getuser())


def validate(args: argparse.Namespace) -> int:
    problems: list[SpecProblem] = []
    for path in args.files:
        try:
            compiled = service().validate(_read(path), str(path))
        except SpecError as exc:
            problems.extend(exc.problems)
            continue
        print(f"{path}: ok ({compiled.spec.id}, {len(compiled.spec.steps)} steps)")  # noqa: T201
    if problems:
        raise SpecError(problems)
    return 0


def publish(args: argparse.Namespace) -> int:
    svc = service()
    check_metadata(args.message, _author(args))
    if args.label:
        check_label(args.label)
    texts = [(path, _read(path)) for path in args.files]
    for path, text in texts:  # every file checked before any is published
        svc.validate(text, str(path))
    results = []
    for path, text in texts:
        published = svc.publish(text=text, message=args.message, author=_author(args), file=str(path))
        result: dict[str, Any] = dict(published.__dict__)
        if args.label:
            move = svc.labels.move(published.workflow, args.label, published.version, actor=_author(args),
                                   reason=args.message)  # fmt: skip
            result["label"] = {args.label: move.to_version}
        results.append(result)
    _print(results if len(results) > 1 else results[0])
    return 0


def history(args: argparse.Namespace) -> int:
    _print(service().versions(args.workflow))
    return 0


def show(args: argparse.Namespace) -> int:
    found = service().version(args.workflow, args.version)
    print(found["yaml"], end="")  # noqa: T201
    return 0


def diff(args: argparse.Namespace) -> int:
    found = service().diff(args.workflow, args.old, args.new)
    if args.json:
        _print(found)
        return 0
    print(json.dumps(found["structural"], indent=2))  # noqa: T201
    print(found["unified"], end="")  # noqa: T201
    return 0


def _guardrail(text: str | None) -> object:
    if text is None:
        return KEEP
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabelError(f"--guardrail: not valid JSON: {exc}", field="guardrail") from None


def _expect(args: argparse.Namespace) -> object:
    return ANY if args.expect is None else args.expect


def label(args: argparse.Namespace) -> int:
    move = service().move_label(args.workflow, args.label, args.version, actor=_author(args), reason=args.reason or "",
                                expect=_expect(args), guardrail=_guardrail(args.guardrail))  # fmt: skip
    _print({"workflow": args.workflow, "label": args.label, "from": move.from_version, "to": move.to_version})
    return 0


def rollback(args: argparse.Namespace) -> int:
    move = service().labels.rollback(args.workflow, label=args.label, to=args.to, actor=_author(args),
                                     reason=args.reason, expect=_expect(args))  # fmt: skip
    _print({"workflow": args.workflow, "label": move.label, "from": move.from_version, "to": move.to_version})
    return 0


def audit(args: argparse.Namespace) -> int:
    service().store.versions(args.workflow)
    _print([event.__dict__ for event in service().labels.audit(args.workflow)])
    return 0


def resolve(args: argparse.Namespace) -> int:
    _print(service().resolve(args.workflow, label=args.label, version=args.version, unit_key=args.unit_key))
    return 0


def listing(args: argparse.Namespace) -> int:
    _print(service().workflows())
    return 0


def guardrails(args: argparse.Namespace) -> int:
    from analytics.http import report_store

    _print(service().check_guardrails(report_store()))
    return 0


def add_workflows_parser(sub: Any) -> None:
    parser = sub.add_parser("workflows", help="workflow specs in Git: validate, publish, history, labels, rollback")
    commands = parser.add_subparsers(dest="workflows_command", required=True)
    cmd = commands.add_parser("validate", help="check spec files (nothing is published)")
    cmd.add_argument("files", nargs="+", type=Path)
    cmd.set_defaults(handler=validate)
    cmd = commands.add_parser("publish", help="validate, commit and tag the next version")
    cmd.add_argument("files", nargs="+", type=Path)
    cmd.add_argument("-m", "--message", default="", help="why this version (required; one line)")
    cmd.add_argument("--author", help="who publishes (default: your user name)")
    cmd.add_argument("--label", help="also point this label at the published version")
    cmd.set_defaults(handler=publish)
    cmd = commands.add_parser("list", help="published workflows, latest versions and labels")
    cmd.set_defaults(handler=listing)
    cmd = commands.add_parser("history", help="versions of a workflow: author, time, message, sha")
    cmd.add_argument("workflow")
    cmd.set_defaults(handler=history)
    cmd = commands.add_parser("show", help="print the YAML of a version")
    cmd.add_argument("workflow")
    cmd.add_argument("version", type=int)
    cmd.set_defaults(handler=show)
    cmd = commands.add_parser("diff", help="structural and unified diff between two versions")
    cmd.add_argument("workflow")
    cmd.add_argument("old", type=int)
    cmd.add_argument("new", type=int)
    cmd.add_argument("--json", action="store_true", help="one JSON document")
    cmd.set_defaults(handler=diff)
    cmd = commands.add_parser("label", help="point a label at a version (audited)")
    cmd.add_argument("workflow")
    cmd.add_argument("label")
    cmd.add_argument("version", type=int)
    cmd.add_argument("--reason", default="")
    cmd.add_argument("--author")
    cmd.add_argument(
        "--guardrail", help='thresholds as JSON, e.g. {"max_error_rate": 0.2, "window_s": 3600}; null removes them'
    )
    cmd.add_argument("--expect", type=int, help="move only if the label still points at this version")
    cmd.set_defaults(handler=label)
    cmd = commands.add_parser("rollback", help="move a label back (to --to, or to its previous version)")
    cmd.add_argument("workflow")
    cmd.add_argument("--label", default="production")
    cmd.add_argument("--to", type=int)
    cmd.add_argument("--reason", required=True)
    cmd.add_argument("--expect", type=int, help="roll back only if the label still points at this version")
    cmd.add_argument("--author")
    cmd.set_defaults(handler=rollback)
    cmd = commands.add_parser("audit", help="label moves, rollbacks, experiments, guardrail events")
    cmd.add_argument("workflow")
    cmd.set_defaults(handler=audit)
    cmd = commands.add_parser("resolve", help="which version a run would get now")
    cmd.add_argument("workflow")
    cmd.add_argument("--label")
    cmd.add_argument("--version", type=int)
    cmd.add_argument("--unit-key")
    cmd.set_defaults(handler=resolve)
    cmd = commands.add_parser("guardrails", help="check every label's guardrail now (rolls back on a breach)")
    cmd.set_defaults(handler=guardrails)
