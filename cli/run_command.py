"""``tradeflow run``: run a graph in-process with a durable checkpointer.

A thread that was interrupted by a crash (SIGKILL, power loss) continues from its last completed
step when run again with the same ``--thread``; a thread waiting for a human takes ``--resume``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.settings import get_settings
from graphs.errors import InvalidInputError
from graphs.registry import GRAPHS, get_entry, load_builder, validate_input, validate_resume

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig


def add_run_parser(sub: Any) -> None:
    parser = sub.add_parser("run", help="run a graph in-process with a durable checkpointer")
    parser.add_argument("graph", choices=sorted(GRAPHS), help="graph id")
    parser.add_argument("--input", type=Path, help="JSON file with the graph's input")
    parser.add_argument("--thread", help="thread id; reuse it to continue or resume a run (default: new)")
    parser.add_argument("--resume", help="JSON value answering the thread's pending interrupt")
    parser.add_argument("--context", help="JSON object of per-run knobs (the graph's context)")
    parser.set_defaults(handler=run)


def _read_json(graph_id: str, path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidInputError(graph_id, [("--input", f"file {path} does not exist")]) from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(graph_id, [("--input", f"{path} is not valid JSON: {exc}")]) from None


def _parse_json_arg(graph_id: str, flag: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(graph_id, [(flag, f"not valid JSON: {exc}")]) from None


def _context(graph_id: str, text: str | None) -> Any:
    from graphs.validation import validate_context  # loads the router: only when a graph is run

    values = _parse_json_arg(graph_id, "--context", text) if text else {}
    return validate_context(graph_id, values, prefix="--context")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # noqa: T201


async def _run(args: argparse.Namespace) -> int:
    # Loaded here, not at import: `tradeflow graphs` and the other commands start without them.
    from langgraph.types import Command

    from analytics.runtime import handler as analytics_handler
    from core.persistence import open_async_checkpointer

    graph_id = get_entry(args.graph).graph_id
    settings = get_settings()
    builder = load_builder(graph_id)
    context = _context(graph_id, args.context)
    payload = _read_json(graph_id, args.input) if args.input else None
    if payload is not None:
        payload = validate_input(graph_id, payload)
        from graphs.validation import check_input_with_context

        check_input_with_context(graph_id, payload, context)
    resume = _parse_json_arg(graph_id, "--resume", args.resume) if args.resume is not None else None
    if args.resume is not None:
        validate_resume(graph_id, resume)
    thread_id = args.thread or str(uuid.uuid4())
    config: RunnableConfig = {
        "configurable": {"thread_id": thread_id},
        "callbacks": [analytics_handler()],
        "metadata": {"graph_id": graph_id, "thread_id": thread_id},
    }
    async with open_async_checkpointer(settings) as saver:
        graph = builder.compile(checkpointer=saver)
        snapshot = await graph.aget_state(config)
        waiting = [i.value for task in snapshot.tasks for i in task.interrupts]
        run_input: Any
        if args.resume is not None:
            if not waiting:
                raise InvalidInputError(graph_id, [("--resume", f"thread {thread_id} is not waiting for input")])
            if graph_id == "versioned_workflow":  # the answer's shape is the waiting step's handler's
                from graphs.versioned_resume import check_versioned_resume

                await asyncio.to_thread(check_versioned_resume, snapshot.values, waiting, resume)
            run_input = Command(resume=resume)
        elif waiting:
            raise InvalidInputError(
                graph_id, [("--resume", f"thread {thread_id} is waiting for input: {json.dumps(waiting, default=str)}")]
            )
        elif snapshot.next:
            if payload is not None:
                _log(f"thread {thread_id} has an unfinished run; continuing it (the --input file is not used)")
            run_input = None
        elif payload is None:
            raise InvalidInputError(graph_id, [("--input", "required to start a run")])
        else:
            run_input = payload
        _log(f"thread {thread_id}: running {graph_id}")
        # durability="sync": each step's checkpoint is on disk before the next step starts, so a
        # SIGKILL loses at most the step in flight.
        async for update in graph.astream(run_input, config, context=context, stream_mode="updates", durability="sync"):
            for node in update:
                _log(f"  done: {node}")
        final = await graph.aget_state(config)
    pending = [i.value for task in final.tasks for i in task.interrupts]
    result = {
        "thread_id": thread_id,
        "graph": graph_id,
        "status": "interrupted" if pending else "done",
        "values": final.values,
        "interrupts": pending,
    }
    print(json.dumps(result, indent=2, default=str))  # noqa: T201
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))
