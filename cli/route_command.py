"""``tradeflow route`` and ``tradeflow backends``: the router from the command line."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from core.errors import SettingsError
from core.settings import get_settings


def add_router_parsers(sub: Any) -> None:
    route = sub.add_parser("route", help="route one prompt and print the answer and the decision record")
    route.add_argument("prompt")
    route.add_argument("--system", help="system prompt")
    route.add_argument("--strategy", choices=["cost", "performance", "balanced"])
    route.add_argument("--task-type", default="chat")
    route.add_argument("--max-tokens", type=int, default=1024)
    route.add_argument("--require", action="append", default=[], help="required capability (repeatable)")
    route.add_argument("--max-cost", type=float, help="USD ceiling for this call")
    route.add_argument("--workflow", default="adhoc")
    route.set_defaults(handler=route_prompt)
    backends = sub.add_parser("backends", help="each backend's health, breaker state and measured latency")
    backends.add_argument("--server", help="read the live figures of a running server, e.g. http://127.0.0.1:2024")
    backends.set_defaults(handler=show_backends)


async def _route(args: argparse.Namespace) -> int:
    from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

    from router.request import RouteRequest
    from router.runtime import process_router
    from router.tokens import estimate_tokens

    router = process_router()
    messages: list[BaseMessage] = [SystemMessage(args.system)] if args.system else []
    messages.append(HumanMessage(args.prompt))
    request = RouteRequest(
        prompt_tokens=estimate_tokens("\n".join(m.text for m in messages)),
        max_tokens=args.max_tokens,
        task_type=args.task_type,
        required_capabilities=frozenset(args.require),
        max_cost_usd=args.max_cost,
        strategy=args.strategy,
        workflow=args.workflow,
    )
    answer, record = await router.execute(messages, request)
    print(answer.text)  # noqa: T201
    print()  # noqa: T201
    print(record.model_dump_json(indent=2, exclude_none=True))  # noqa: T201
    return 0


def route_prompt(args: argparse.Namespace) -> int:
    return asyncio.run(_route(args))


def _print_rows(rows: list[dict[str, Any]]) -> None:
    header = f"{'backend':18} {'kind':17} {'model':28} {'health':8} {'breaker':9} {'ttft_s':>8} {'p95_s':>8}  note"
    print(header)  # noqa: T201
    for row in rows:
        health = row.get("health", "-")
        p95 = "-" if row["p95_s"] is None else f"{row['p95_s']:.3f}"
        note = row.get("disabled_reason") or row.get("probe_detail") or ""
        print(  # noqa: T201
            f"{row['backend']:18} {row['kind']:17} {row['model'][:28]:28} {health:8} {row['breaker']:9} "
            f"{row['ewma_ttft_s']:8.3f} {p95:>8}  {note}"
        )


async def _backends(args: argparse.Namespace) -> int:
    import httpx

    from router.probes import probe_all
    from router.runtime import process_router
    from router.status import backend_status

    if args.server:
        try:
            key = get_settings().api_key  # the server asks for a key when it has any (docs/security.md)
            headers = {"x-api-key": key} if key else {}
            async with httpx.AsyncClient(timeout=5, headers=headers) as client:
                response = await client.get(f"{args.server.rstrip('/')}/router/backends")
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise SettingsError("--server", f"cannot read {args.server}/router/backends: {exc}") from None
        _print_rows(response.json())
        return 0
    router = process_router()
    enabled = [b for b in router.config.backends if b.name not in router.table.disabled_reason]
    results = {r.backend: r for r in await probe_all(enabled)}
    for name, result in results.items():
        router.record_probe(name, result.ok)
    rows = backend_status(router)
    for row in rows:
        found = results.get(row["backend"])
        if found is None:
            row["health"] = "off"
        else:
            row["health"] = "up" if found.ok else "down"
            row["probe_detail"] = "" if found.ok else found.detail
    _print_rows(rows)
    return 0


def show_backends(args: argparse.Namespace) -> int:
    return asyncio.run(_backends(args))
